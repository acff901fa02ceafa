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
    4 and 5 are refused as the vendor's cmdlet does) and by -IdentityStoreId. As with the vendor's
    11.1 Upgrade-Group, none of them is required: with no selector at all, every managed group of
    the identity store is upgraded (the store of -IdentityStoreId, else the answer file's only
    Active Directory store); -WhatIf lists them first.

    Identities from the pipeline go to the session's one engine in batches of -BatchSize; one
    GroupIDUpgrade.GroupResult per group is written as soon as the engine reports it (status
    Upgraded, AlreadyUpgraded or Skipped). A group that fails is reported once, as a
    non-terminating error whose TargetObject is its result (Status Failed), and the others go on.

    -WhatIf asks the engine (whatIf), since only it knows which groups a container or a type
    selects; -Confirm asks for each identity.

    .PARAMETER Identity
    Groups to upgrade: DN, objectGUID, CN, name or sAMAccountName, or objects that have one
    (Get-ADGroup's ADGroup, Get-ADObject's results, anything with a DistinguishedName, ObjectGUID
    or SamAccountName property, taken in that order). Binds from the pipeline.

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

    .EXAMPLE
    Upgrade-Group -AnswerFile .\answers.json -WhatIf

    Lists every managed group of the store that would be upgraded (no selector: the whole store).

    .INPUTS
    System.String, or any object with a DistinguishedName, ObjectGUID or SamAccountName property (Microsoft.ActiveDirectory.Management.ADGroup).

    .OUTPUTS
    GroupIDUpgrade.GroupResult
    #>
    [CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'Medium')]
    [OutputType('GroupIDUpgrade.GroupResult')]
    param(
        [Parameter(Position = 0, ValueFromPipeline)]
        [Alias('DistinguishedName', 'ObjectGUID', 'SamAccountName')]
        [ValidateNotNullOrEmpty()]
        [object[]] $Identity,

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
        $batch = New-Object System.Collections.Generic.List[string]
        $identityGiven = $false
    }

    process {
        foreach ($item in $Identity) {
            $one = ConvertTo-GroupIDGroupIdentity -Cmdlet $PSCmdlet -InputObject $item
            $identityGiven = $true
            if ($WhatIfPreference -or $PSCmdlet.ShouldProcess($one, 'Upgrade group')) { $batch.Add($one) }
            if ($batch.Count -ge $BatchSize) {
                Invoke-GroupIDGroupBatch -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Identity $batch.ToArray() -EngineWhatIf ([bool]$WhatIfPreference)
                $batch.Clear()
            }
        }
    }

    end {
        if ($batch.Count -gt 0) {
            Invoke-GroupIDGroupBatch -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Identity $batch.ToArray() -EngineWhatIf ([bool]$WhatIfPreference)
            $batch.Clear()
            return
        }
        if ($identityGiven -or $MyInvocation.ExpectingInput) { return }
        $bound = $PSBoundParameters
        $selectors = @(@('SearchContainer', 'GroupType', 'IdentityStoreId') | Where-Object { $bound.ContainsKey($_) })
        $what = 'every managed group of the identity store'
        if ($selectors.Count -gt 0) { $what = ($selectors | ForEach-Object { "-$_ $((@($bound[$_])) -join ',')" }) -join ' ' }
        if ($WhatIfPreference -or $PSCmdlet.ShouldProcess($what, 'Upgrade the groups selected by')) {
            Invoke-GroupIDGroupBatch -Cmdlet $PSCmdlet -BoundParameters $bound -Identity $null -EngineWhatIf ([bool]$WhatIfPreference)
        }
    }
}
