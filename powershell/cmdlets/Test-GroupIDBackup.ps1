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

    process {
        $response = Invoke-GroupIDCommand -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Target $Path -OnError Return
        $report = $response.Result
        $valid = ($null -eq $response.Error) -and (Test-GroupIDVerifyReport -Report $report)
        if ($null -ne $response.Error -and $response.Scope -ne 'Item') { $PSCmdlet.ThrowTerminatingError($response.Error) }
        if ($Quiet) {
            $PSCmdlet.WriteObject($valid)
            return
        }
        if ($null -ne $response.Error) {
            $PSCmdlet.WriteError($response.Error)
            return
        }
        $reportObject = ConvertTo-GroupIDObject -InputObject $report -TypeName $script:Decisions.ResultTypes.VerifyReport
        $PSCmdlet.WriteObject($reportObject)
        if (-not $valid) {
            $PSCmdlet.WriteError((New-GroupIDClientErrorRecord -ErrorId 'BackupSetInvalid' -Target $Path `
                        -Message "The backup set $Path is not complete and intact; the report lists each problem." `
                        -RecommendedAction 'Take a new backup; do not restore from this set.'))
        }
    }
}
