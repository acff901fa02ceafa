function Test-GroupIDBackup {
    <#
    .SYNOPSIS
    Proves a GroupID backup set complete and intact without restoring it.

    .DESCRIPTION
    Engine method backup.verify (rule R18): every file present with its size and SHA-256, no
    extra file, the database opens and passes an integrity check, each LDIF parses and has the
    counted entries, the snapshot exists and succeeded. Writes a GroupIDUpgrade.VerifyReport per
    set and a non-terminating error naming the problems of a set that fails. With -Quiet, writes
    only $true or $false per set.

    .PARAMETER Path
    The backup set: its folder or its .zip. From the pipeline too (the
    manifest Backup-GroupIDData writes, or Get-Item).

    .PARAMETER Quiet
    Writes only $true (the set is complete and intact) or $false, and no error.

    .EXAMPLE
    Test-GroupIDBackup -Path D:\Backups\GroupID-20260101-0200

    .EXAMPLE
    if (-not (Test-GroupIDBackup -Path $set -Quiet)) { throw "The backup $set is not usable." }

    .EXAMPLE
    Get-ChildItem D:\Backups -Directory | Test-GroupIDBackup -Quiet

    .INPUTS
    System.String, or an object with a Path, FullName or Destination property.

    .OUTPUTS
    GroupIDUpgrade.VerifyReport, System.Boolean
    #>
    [CmdletBinding()]
    [OutputType('GroupIDUpgrade.VerifyReport', 'System.Boolean')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('FullName', 'Destination')]
        [ValidateNotNullOrEmpty()]
        [string] $Path,

        [switch] $Quiet
    )

    begin {
        $engine = $null
        $completed = $false
        try {
            $engine = Start-GroupIDEngine -Cmdlet $PSCmdlet
            $completed = $true
        }
        finally {
            if (-not $completed) { Stop-GroupIDEngine -Engine $engine -Cancel }
        }
    }

    process {
        $completed = $false
        try {
            foreach ($one in $Path) {
                $request = New-GroupIDEngineRequest -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Override @{ Path = $one }
                $response = Invoke-GroupIDEngineRequest -Engine $engine -Method $request.Method -Params $request.Params -Target $one
                $report = $response.Result
                $valid = ($null -eq $response.Error) -and (Test-GroupIDVerifyReport -Report $report)
                if ($Quiet) {
                    if ($null -ne $response.Error -and $response.Scope -ne 'Item') { Complete-GroupIDEngineResponse -Engine $engine -Response $response }
                    $PSCmdlet.WriteObject($valid)
                    continue
                }
                if ($null -ne $response.Error) {
                    Complete-GroupIDEngineResponse -Engine $engine -Response $response
                    continue
                }
                $reportObject = ConvertTo-GroupIDObject -InputObject $report -TypeName $script:Decisions.ResultTypes.VerifyReport
                $PSCmdlet.WriteObject($reportObject)
                if (-not $valid) {
                    $PSCmdlet.WriteError((New-GroupIDClientErrorRecord -ErrorId 'BackupSetInvalid' -Target $one `
                                -Message "The backup set $one is not complete and intact; the report lists each problem." `
                                -RecommendedAction 'Take a new backup; do not restore from this set.'))
                }
            }
            $completed = $true
        }
        finally {
            if (-not $completed) { Stop-GroupIDEngine -Engine $engine -Cancel }
        }
    }

    end {
        Stop-GroupIDEngine -Engine $engine
    }
}
