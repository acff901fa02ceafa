function Update-GroupIDGroup {
    <#
    .SYNOPSIS
    Upgrades chosen GroupID 9 or 10 groups (Smart Groups, Dynasties, password-expiry and non-managed groups) to the 11 definition. Alias: Upgrade-Group.

    .DESCRIPTION
    The vendor's Upgrade-Group, over the engine (method group.upgrade, rule R13). Needs the first
    run to have upgraded Configuration and History (PrerequisiteNotMet otherwise).

    Groups are chosen by -Identity (DN, GUID, CN, name or sAMAccountName; from the pipeline too, so
    Get-ADGroup ... | Upgrade-Group works), by -SearchContainer with -SearchContainerScopeList
    (1 = this container only, 2 = subtree, the default; paired by position, one value for all),
    by -GroupType (1 non-managed, 2 Smart Group, 3 parent Dynasty, 6 password-expiry Smart Group;
    4 and 5 are refused as the vendor's cmdlet does) and by -IdentityStoreId. At least one is
    needed: the cmdlet never upgrades a whole store by omission.

    Identities from the pipeline go to one engine in batches of -BatchSize; one
    GroupIDUpgrade.GroupResult per group is written as soon as the engine reports it (status
    Upgraded, AlreadyUpgraded, Skipped or Failed). A group that fails is also a non-terminating
    error, and the others go on.

    -WhatIf asks the engine (whatIf), since only it knows which groups a container or a type
    selects; -Confirm asks for each identity.

    .PARAMETER Identity
    Groups to upgrade: DN, objectGUID, CN, name or sAMAccountName. Binds from the pipeline by value
    and by the property names DistinguishedName, ObjectGUID and SamAccountName (ADGroup objects).

    .PARAMETER SearchContainer
    Containers (DNs) whose groups are upgraded.

    .PARAMETER SearchContainerScopeList
    Scope per container, by position: 1 = this container only, 2 = subtree (the default). One value applies to all containers. Also spelled SearchContainersScopeList.

    .PARAMETER GroupType
    Group types to upgrade: 1 non-managed, 2 Smart Group, 3 parent Dynasty (with its middle and leaf groups), 6 password-expiry Smart Group.

    .PARAMETER IdentityStoreId
    The identity store whose groups are upgraded.

    .PARAMETER KeepUserHistory
    Also converts each upgraded group's history.

    .PARAMETER ExtensionDataAttributes
    The attribute(s) holding the 9/10 definition when it is not extensionData.

    .PARAMETER GroupIDVersion
    The version the groups come from: 9, 10, 9.0 or 10.0 (the answer file's source version by default).

    .PARAMETER Credential
    The account used to read and write the groups in the directory (the answer file's by default).

    .PARAMETER AnswerFile
    The answer file naming the target and the directories.

    .PARAMETER BatchSize
    Identities sent to the engine per request (PowerShell only; default 100).

    .EXAMPLE
    Get-ADGroup -SearchBase 'OU=Sales,DC=corp,DC=example,DC=com' -Filter * | Upgrade-Group -AnswerFile C:\GroupID\answers.json

    Upgrades every group the AD cmdlet finds, streaming one result per group.

    .EXAMPLE
    Update-GroupIDGroup -AnswerFile .\answers.json -SearchContainer 'OU=Jobs,DC=corp,DC=example,DC=com' -SearchContainerScopeList 1 -GroupType 2 -KeepUserHistory -WhatIf

    Lists the Smart Groups directly in OU=Jobs that would be upgraded, with their history; writes nothing.

    .EXAMPLE
    Upgrade-Group -AnswerFile .\answers.json -Identity 'GIDsmart1' -GroupIDVersion 10.0 -Credential (Get-Credential 'CORP\groupid-admin')

    .INPUTS
    System.String, or any object with a DistinguishedName, ObjectGUID or SamAccountName property (Microsoft.ActiveDirectory.Management.ADGroup).

    .OUTPUTS
    GroupIDUpgrade.GroupResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('GroupIDUpgrade.GroupResult')]
    param(
        [Parameter(Position = 0, ValueFromPipeline, ValueFromPipelineByPropertyName)]
        [Alias('DistinguishedName', 'ObjectGUID', 'SamAccountName')]
        [ValidateNotNullOrEmpty()]
        [string[]] $Identity,

        [ValidateNotNullOrEmpty()]
        [string[]] $SearchContainer,

        [Alias('SearchContainersScopeList')]
        [ValidateSet(1, 2)]
        [int[]] $SearchContainerScopeList,

        [ValidateRange(1, 6)]
        [int[]] $GroupType,

        [ValidateRange(1, 2147483647)]
        [int] $IdentityStoreId,

        [switch] $KeepUserHistory,

        [ValidateNotNullOrEmpty()]
        [string[]] $ExtensionDataAttributes,

        [ValidateSet('9', '10', '9.0', '10.0')]
        [string] $GroupIDVersion,

        [System.Management.Automation.PSCredential]
        [System.Management.Automation.Credential()]
        $Credential,

        [Parameter(Mandatory)]
        [ValidateNotNullOrEmpty()]
        [string] $AnswerFile,

        [ValidateRange(1, 10000)]
        [int] $BatchSize = 100
    )

    begin {
        $engine = $null
        $batch = New-Object System.Collections.Generic.List[string]
        $identityGiven = $false
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
            foreach ($one in $Identity) {
                $identityGiven = $true
                if ($WhatIfPreference -or $PSCmdlet.ShouldProcess($one, 'Upgrade group')) { $batch.Add($one) }
                if ($batch.Count -ge $BatchSize) {
                    Invoke-GroupIDGroupBatch -Engine $engine -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Identity $batch.ToArray() -EngineWhatIf ([bool]$WhatIfPreference)
                    $batch.Clear()
                }
            }
            $completed = $true
        }
        finally {
            if (-not $completed) { Stop-GroupIDEngine -Engine $engine -Cancel }
        }
    }

    end {
        $completed = $false
        try {
            $bound = $PSBoundParameters
            if ($batch.Count -gt 0) {
                Invoke-GroupIDGroupBatch -Engine $engine -Cmdlet $PSCmdlet -BoundParameters $bound -Identity $batch.ToArray() -EngineWhatIf ([bool]$WhatIfPreference)
                $batch.Clear()
            }
            elseif (-not $identityGiven -and -not $MyInvocation.ExpectingInput) {
                $selectors = @(@('SearchContainer', 'GroupType', 'IdentityStoreId') | Where-Object { $bound.ContainsKey($_) })
                if ($selectors.Count -eq 0) {
                    $record = New-GroupIDClientErrorRecord -ErrorId 'InvalidParams' -Target 'Update-GroupIDGroup' `
                        -Message 'Update-GroupIDGroup needs groups to upgrade: -Identity (or groups from the pipeline), -SearchContainer, -GroupType or -IdentityStoreId.' `
                        -RecommendedAction 'Name the groups, a container, a group type or an identity store.'
                    $PSCmdlet.ThrowTerminatingError($record)
                }
                $what = ($selectors | ForEach-Object { "-$_ $((@($bound[$_])) -join ',')" }) -join ' '
                if ($WhatIfPreference -or $PSCmdlet.ShouldProcess($what, 'Upgrade the groups selected by')) {
                    Invoke-GroupIDGroupBatch -Engine $engine -Cmdlet $PSCmdlet -BoundParameters $bound -Identity $null -EngineWhatIf ([bool]$WhatIfPreference)
                }
            }
            Stop-GroupIDEngine -Engine $engine
            $completed = $true
        }
        finally {
            if (-not $completed) { Stop-GroupIDEngine -Engine $engine -Cancel }
        }
    }
}
