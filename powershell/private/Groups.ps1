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
    Invoke-GroupIDGroupBatch -Engine $engine -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -Identity $batch.ToArray()
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [hashtable] $Engine,

        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet,

        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $BoundParameters,

        [AllowNull()]
        [string[]] $Identity,

        [bool] $EngineWhatIf
    )

    $request = New-GroupIDEngineRequest -Cmdlet $Cmdlet -BoundParameters $BoundParameters -Override @{ Identity = $Identity } -EngineWhatIf $EngineWhatIf
    $target = 'the selected groups'
    if ($null -ne $Identity) { $target = $Identity -join ', ' }
    $response = Invoke-GroupIDEngineRequest -Engine $Engine -Method $request.Method -Params $request.Params -Target $target
    $summary = Complete-GroupIDEngineResponse -Engine $Engine -Response $response
    if ($null -ne $summary) {
        $summaryObject = ConvertTo-GroupIDObject -InputObject $summary -TypeName $script:Decisions.ResultTypes.GroupSummary
        $Cmdlet.WriteInformation($summaryObject, [string[]]@('GroupIDUpgrade', 'GroupSummary'))
    }
}
