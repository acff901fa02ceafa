function Restore-GroupIDData {
    <#
    .SYNOPSIS
    Restores chosen parts of a GroupID backup set, to the installation's own locations or under another root.

    .DESCRIPTION
    Engine method backup.restore (rule R18). Verifies the set first, then puts back the chosen
    parts to the answer file's source locations, or under -To. Refuses, without -Force, to
    overwrite a destination that differs from the set and was changed after the set was made.
    Restoring the database loses every change made with 11 since (the engine warns). Group
    attributes are restored from the LDIF, only the five GroupID attributes, per group by objectGUID.
    Writes one GroupIDUpgrade.RestorePart per part.

    ConfirmImpact is High: an interactive session asks first; a scheduled task passes
    -Confirm:$false. -WhatIf asks the engine what it would restore and writes nothing.

    .PARAMETER Path
    The backup set: its folder or its .zip. From the pipeline by property name.

    .PARAMETER AnswerFile
    The answer file naming the installation's locations (not needed with -To for folder parts).

    .PARAMETER Include
    The parts to restore, or All.

    .PARAMETER To
    A root folder to restore under instead of the installation's own locations.

    .PARAMETER Force
    Overwrites destinations that differ from the set and were changed after it was made.

    .EXAMPLE
    Restore-GroupIDData -Path D:\Backups\GroupID-20260101-0200 -Include All -To D:\RestoreCheck -Confirm:$false

    Restores the whole set under D:\RestoreCheck to compare it with the installation.

    .EXAMPLE
    Restore-GroupIDData -Path D:\Backups\GroupID-20260101-0200 -AnswerFile C:\GroupID\answers.json -Include GroupAttributes -WhatIf

    .INPUTS
    An object with a Path or FullName property (the manifest Backup-GroupIDData writes, Get-Item).

    .OUTPUTS
    GroupIDUpgrade.RestorePart
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType('GroupIDUpgrade.RestorePart')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string] $Path,

        [ValidateNotNullOrEmpty()]
        [string] $AnswerFile,

        [Parameter(Mandatory)]
        [ValidateSet('All', 'Database', 'Elasticsearch', 'GroupAttributes', 'SelfServicePortals', 'PasswordCenterPortals', 'SynchronizeJobs', 'Reports', 'ReplicationAttributes', 'PasswordExceptionLists')]
        [string[]] $Include,

        [ValidateNotNullOrEmpty()]
        [string] $To,

        [switch] $Force
    )

    process {
        $whatIf = [bool]$WhatIfPreference
        $where = 'the installation'
        if ($To) { $where = $To }
        if (-not $whatIf -and -not $PSCmdlet.ShouldProcess($where, "Restore the backup set $Path")) { return }
        $report = Invoke-GroupIDCommand -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -EngineWhatIf $whatIf -Target $Path
        if ($null -eq $report) { return }
        $reportObject = ConvertTo-GroupIDObject -InputObject $report -TypeName $script:Decisions.ResultTypes.RestoreReport
        Add-GroupIDDisplayText -InputObject $reportObject -Label 'RestoreReport'
        $PSCmdlet.WriteInformation($reportObject, [string[]]@('GroupIDUpgrade', 'RestoreReport'))
    }
}
