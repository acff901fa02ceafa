function Invoke-GroupIDUpgrade {
    <#
    .SYNOPSIS
    Upgrades a GroupID 9 or 10 installation to GroupID / Directory Manager 11, module by module.

    .DESCRIPTION
    Runs the upgrade the answer file describes (engine method upgrade.run): Everything, or a Custom
    set of modules. The run is re-runnable and resumable; the source is never written to. It
    refuses to start while the Plan has open questions (QuestionsOpen), listing every one.

    Writes one GroupIDUpgrade.RunResult object when the run ends: its Status (Succeeded,
    PartiallySucceeded, Failed), RunId, LogPath and Modules (one GroupIDUpgrade.ModuleResult per
    module), so a script can test `$result.Status -ne 'Succeeded'`. While it runs: progress, each
    module's result on the information stream as soon as the module finishes (tag ModuleResult),
    warnings for what an admin should know, and one non-terminating error for each unit that failed.
    Errors that stop the run (open questions, an unreadable answer file, the engine not found)
    are terminating.

    -WhatIf asks the engine to do everything but write: it shows each unit that would be created,
    moved or skipped ("What if: ..."), and the result the run would have.

    ConfirmImpact is High: an interactive session asks before the run. A scheduled task (no one to
    answer) passes -Confirm:$false.

    Secrets are given as SecureString or PSCredential only; they travel to the engine inside the
    request on its stdin, never on a command line, in an environment variable or in Verbose output.

    .PARAMETER AnswerFile
    The answer file (JSON) describing the source, the target, the modules and the answers.

    .PARAMETER Module
    Overrides the answer file's modules: Everything, or a Custom set.

    .PARAMETER SourcePassphrase
    The GroupID passphrase of the source (overrides the answer file's and secrets file's).

    .PARAMETER TargetPassphrase
    The passphrase that encrypts the secrets written to the target (R19).

    .PARAMETER Secret
    Answers holding secrets, by question id: a PSCredential ({userName, password}), a SecureString
    ({password}) or a hashtable of fields whose secret fields are SecureStrings.

    .EXAMPLE
    Invoke-GroupIDUpgrade -AnswerFile C:\GroupID\answers.json

    Runs the upgrade after asking for confirmation.

    .EXAMPLE
    $result = Invoke-GroupIDUpgrade -AnswerFile C:\GroupID\answers.json -Confirm:$false -ErrorAction Stop
    if ($result.Status -ne 'Succeeded') { exit 1 }

    In a scheduled task: stops on any error, and fails the task unless every module succeeded.

    .EXAMPLE
    Invoke-GroupIDUpgrade -AnswerFile C:\GroupID\answers.json -Module Configuration, Synchronize -WhatIf

    Shows what the Configuration and Synchronize modules would do, and writes nothing.

    .EXAMPLE
    Invoke-GroupIDUpgrade -AnswerFile C:\GroupID\answers.json -TargetPassphrase (Read-Host -AsSecureString 'Target passphrase') -Secret @{ 'forest:corp.example.com:serviceAccount' = (Get-Credential 'CORP\svc-groupid11') } -Confirm:$false

    Gives the passphrase and a service account's password at run time instead of a secrets file.

    .INPUTS
    System.String. An answer file path, also by the property name FullName (Get-Item).

    .OUTPUTS
    GroupIDUpgrade.RunResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]
    [OutputType('GroupIDUpgrade.RunResult')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string] $AnswerFile,

        [ValidateSet('Everything', 'Configuration', 'Synchronize', 'Schedules', 'Reports', 'History', 'Groups')]
        [string[]] $Module,

        [System.Security.SecureString] $SourcePassphrase,

        [System.Security.SecureString] $TargetPassphrase,

        [hashtable] $Secret
    )

    process {
        $whatIf = [bool]$WhatIfPreference
        if (-not $whatIf -and -not $PSCmdlet.ShouldProcess($AnswerFile, 'Upgrade the GroupID installation')) { return }
        $result = Invoke-GroupIDCommand -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -EngineWhatIf $whatIf -Target $AnswerFile
        if ($null -eq $result) { return }
        foreach ($moduleResult in @($result.modules)) { [void](ConvertTo-GroupIDObject -InputObject $moduleResult -TypeName $script:Decisions.RecordTypes['ModuleResult'].TypeName) }
        Write-Verbose "GroupIDUpgrade: run $($result.runId) ended $($result.status); the run log is $($result.logPath)."
        $PSCmdlet.WriteObject((ConvertTo-GroupIDObject -InputObject $result -TypeName $script:Decisions.ResultTypes.RunResult))
    }
}
