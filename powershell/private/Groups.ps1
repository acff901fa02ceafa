function Invoke-GroupIDGroupBatch {
    <#
    .SYNOPSIS
    One group.upgrade request for a batch of identities (or for the selectors alone), results streamed.

    .DESCRIPTION
    Update-GroupIDGroup's unit of work: the cmdlet's bound parameters with -Identity replaced by
    the batch ($null: the selectors alone choose the groups). Each group's record is written as it
    comes (GroupIDUpgrade.GroupResult); the request's summary goes to the information stream. An
    error that concerns the batch's groups is written and the pipeline goes on; one that stops the
    request (PrerequisiteNotMet, an invalid answer file) is thrown.

    .EXAMPLE
    Invoke-GroupIDGroupBatch -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Identity $batch.ToArray()
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet,

        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $BoundParameters,

        [AllowNull()]
        [string[]] $Identity,

        [bool] $EngineWhatIf
    )

    $target = 'the selected groups'
    if ($null -ne $Identity) { $target = $Identity -join ', ' }
    $summary = Invoke-GroupIDCommand -Cmdlet $Cmdlet -BoundParameters $BoundParameters -Override @{ Identity = $Identity } -EngineWhatIf $EngineWhatIf -Target $target -OnError Item
    if ($null -ne $summary) {
        $summaryObject = ConvertTo-GroupIDObject -InputObject $summary -TypeName $script:Decisions.ResultTypes.GroupSummary
        Add-GroupIDDisplayText -InputObject $summaryObject -Label 'GroupSummary'
        $Cmdlet.WriteInformation($summaryObject, [string[]]@('GroupIDUpgrade', 'GroupSummary'))
    }
}

function ConvertTo-GroupIDGroupIdentity {
    <#
    .SYNOPSIS
    The identity string the engine takes for one -Identity value: a string as it is, a Guid as its text, an object by its DistinguishedName, ObjectGUID or SamAccountName.

    .EXAMPLE
    ConvertTo-GroupIDGroupIdentity -Cmdlet $PSCmdlet -InputObject (Get-ADGroup 'Sales')
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet,

        [Parameter(Mandatory)]
        [object] $InputObject
    )

    $value = $InputObject
    if ($value -is [System.Management.Automation.PSObject]) { $value = $value.PSObject.BaseObject }
    if ($value -is [string] -or $value -is [guid]) { return [string]$value }
    foreach ($property in 'DistinguishedName', 'ObjectGUID', 'SamAccountName') {
        $found = $InputObject.PSObject.Properties[$property]
        if ($null -ne $found -and $null -ne $found.Value -and [string]$found.Value) { return [string]$found.Value }
    }
    $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'InvalidParams' -Target $InputObject `
                -Message "Update-GroupIDGroup cannot tell which group '$InputObject' is: give a DN, objectGUID, CN, name or sAMAccountName, or an object with a DistinguishedName, ObjectGUID or SamAccountName property." `
                -RecommendedAction 'Pipe Get-ADGroup results or strings into Upgrade-Group.'))
}
