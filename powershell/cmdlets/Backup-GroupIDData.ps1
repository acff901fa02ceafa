function Backup-GroupIDData {
    <#
    .SYNOPSIS
    Writes one verifiable backup set of a GroupID installation: database, Elasticsearch snapshot, group attributes (LDIF) and folders.

    .DESCRIPTION
    The vendor's backup guide as one command (engine method backup.create, rule R17). Parts:
    Database, Elasticsearch (through the snapshot API; the data-folder copy only with
    -ElasticsearchStopped), GroupAttributes (one LDIF per directory domain, the corrected filter),
    SelfServicePortals, PasswordCenterPortals, SynchronizeJobs, Reports, ReplicationAttributes and
    PasswordExceptionLists. By default every part that exists; each left out is listed with the
    reason. manifest.json, written last, lists every file with its size and SHA-256.

    Writes one object, the set's GroupIDUpgrade.BackupManifest (its Path, and the manifest), which
    Test-GroupIDBackup and Restore-GroupIDData take from the pipeline. Each part is reported as it
    completes (a GroupIDUpgrade.BackupPart on the information stream: -InformationAction Continue
    or -InformationVariable). -WhatIf asks the engine what it would back up ("What if: ..."), and
    writes nothing.

    .PARAMETER AnswerFile
    The answer file naming the installation's database, Elasticsearch, directories and folders.

    .PARAMETER Destination
    The folder the set is written into (a new folder, or an empty one).

    .PARAMETER Include
    The parts to back up (all that exist by default).

    .PARAMETER Zip
    Also packs the set into one zip file.

    .PARAMETER ElasticsearchStopped
    Copies Elasticsearch's data folder instead of taking a snapshot; only when no node answers.

    .PARAMETER SqlServerBackupFile
    SQL Server source: the backup file's path on the SQL Server's own disk (BACKUP DATABASE ...
    WITH CHECKSUM, COPY_ONLY writes it there; the manifest names it).

    .EXAMPLE
    Backup-GroupIDData -AnswerFile C:\GroupID\answers.json -Destination "D:\Backups\GroupID-$(Get-Date -Format yyyyMMdd-HHmm)"

    .EXAMPLE
    Backup-GroupIDData -AnswerFile .\answers.json -Destination .\set -Include Database, GroupAttributes | Test-GroupIDBackup

    Backs up the database and the groups' attributes, then proves the set complete and intact.

    .OUTPUTS
    GroupIDUpgrade.BackupManifest
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('GroupIDUpgrade.BackupManifest')]
    param(
        [Parameter(Mandatory, Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string] $AnswerFile,

        [Parameter(Mandatory, Position = 1)]
        [ValidateNotNullOrEmpty()]
        [string] $Destination,

        [ValidateSet('Database', 'Elasticsearch', 'GroupAttributes', 'SelfServicePortals', 'PasswordCenterPortals', 'SynchronizeJobs', 'Reports', 'ReplicationAttributes', 'PasswordExceptionLists')]
        [string[]] $Include,

        [switch] $Zip,

        [switch] $ElasticsearchStopped,

        [ValidateNotNullOrEmpty()]
        [string] $SqlServerBackupFile
    )

    process {
        $whatIf = [bool]$WhatIfPreference
        if (-not $whatIf -and -not $PSCmdlet.ShouldProcess($Destination, 'Write a GroupID backup set')) { return }
        $manifest = Invoke-GroupIDCommand -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -EngineWhatIf $whatIf -Target $Destination
        if ($null -eq $manifest -or $whatIf) { return }
        if (-not $manifest.PSObject.Properties['Path']) {
            $manifest | Add-Member -NotePropertyName 'Path' -NotePropertyValue $PSCmdlet.GetUnresolvedProviderPathFromPSPath($Destination)
        }
        $PSCmdlet.WriteObject((ConvertTo-GroupIDObject -InputObject $manifest -TypeName $script:Decisions.ResultTypes.BackupManifest))
    }
}
