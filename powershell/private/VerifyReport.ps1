function Test-GroupIDVerifyReport {
    <#
    .SYNOPSIS
    $true when a backup.verify report says the set is complete and intact.

    .DESCRIPTION
    Reads, in order: an ok / valid / intact flag, else an empty problems list, else a passing
    status (Valid, Ok, Succeeded, Passed). Anything else is $false: a set is never called good by
    default.

    .EXAMPLE
    Test-GroupIDVerifyReport -Report $response.Result
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param(
        [AllowNull()]
        [object] $Report
    )

    if ($null -eq $Report) { return $false }
    foreach ($flag in 'ok', 'valid', 'intact') {
        if ($Report.PSObject.Properties[$flag]) { return [bool]$Report.$flag }
    }
    if ($Report.PSObject.Properties['problems']) { return (@($Report.problems).Count -eq 0) }
    if ($Report.PSObject.Properties['status']) { return (@('Valid', 'Ok', 'Succeeded', 'Passed') -contains [string]$Report.status) }
    $false
}
