function Get-GroupIDUpgradePlan {
    <#
    .SYNOPSIS
    Computes the upgrade Plan as objects: what each module will create, move, convert or skip and why, the open questions and the warnings.

    .DESCRIPTION
    The wizard's Summary page, computed before anything is written (engine method upgrade.plan).
    Returns one GroupIDUpgrade.Plan object whose Items (GroupIDUpgrade.PlanItem), Questions
    (GroupIDUpgrade.PlanQuestion) and Warnings (GroupIDUpgrade.PlanWarning) are objects with
    their own table views, and whose Inventory counts what the source holds. Writes nothing.

    .PARAMETER AnswerFile
    The answer file (JSON) describing the source, the target, the modules and the answers.

    .PARAMETER Module
    Overrides the answer file's modules: Everything, or a Custom set.

    .PARAMETER ValidateOnline
    Also checks the answered credentials against the servers (a token for each PFX triple, the
    forest-wide read of each service account).

    .PARAMETER SourcePassphrase
    The GroupID passphrase of the source (overrides the answer file's and secrets file's).

    .PARAMETER TargetPassphrase
    The passphrase that will encrypt the secrets written to the target.

    .PARAMETER Secret
    Answers holding secrets, by question id: a PSCredential, a SecureString or a hashtable of fields.

    .EXAMPLE
    $plan = Get-GroupIDUpgradePlan -AnswerFile C:\GroupID\answers.json
    $plan.Items | Where-Object Action -eq 'Skip'

    Lists what the upgrade will skip, and why.

    .EXAMPLE
    (Get-GroupIDUpgradePlan -AnswerFile .\answers.json).Questions | Where-Object { -not $_.answered }

    Lists the questions the answer file still has to answer before Invoke-GroupIDUpgrade can run.

    .INPUTS
    System.String. An answer file path, also by the property name FullName (Get-Item).

    .OUTPUTS
    GroupIDUpgrade.Plan
    #>
    [CmdletBinding()]
    [OutputType('GroupIDUpgrade.Plan')]
    param(
        [Parameter(Mandatory, Position = 0, ValueFromPipelineByPropertyName)]
        [Alias('FullName')]
        [ValidateNotNullOrEmpty()]
        [string] $AnswerFile,

        [ValidateSet('Everything', 'Configuration', 'Synchronize', 'Schedules', 'Reports', 'History', 'Groups')]
        [string[]] $Module,

        [switch] $ValidateOnline,

        [System.Security.SecureString] $SourcePassphrase,

        [System.Security.SecureString] $TargetPassphrase,

        [hashtable] $Secret
    )

    process {
        $plan = Invoke-GroupIDCommand -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Target $AnswerFile
        $types = $script:Decisions.ResultTypes
        foreach ($item in $plan.items) { [void](ConvertTo-GroupIDObject -InputObject $item -TypeName $types.PlanItem) }
        foreach ($question in $plan.questions) { [void](ConvertTo-GroupIDObject -InputObject $question -TypeName $types.PlanQuestion) }
        foreach ($warning in $plan.warnings) { [void](ConvertTo-GroupIDObject -InputObject $warning -TypeName $types.PlanWarning) }
        $PSCmdlet.WriteObject((ConvertTo-GroupIDObject -InputObject $plan -TypeName $types.Plan))
    }
}
