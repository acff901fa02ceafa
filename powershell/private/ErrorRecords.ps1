function New-GroupIDErrorRecord {
    <#
    .SYNOPSIS
    Builds an ErrorRecord from the engine's error object (code, message, data).

    .DESCRIPTION
    ErrorId is data.errorId, the category comes from data.category through the Categories table
    (or the ErrorIds table when the engine sent none), TargetObject is data.targetObject (or the
    given default) and ErrorDetails.RecommendedAction is data.recommendedAction. Invalid params
    (data.errors) are listed field by field in the message. Never carries a secret: the engine's
    messages hold none, and no request value is added here.

    .EXAMPLE
    New-GroupIDErrorRecord -ErrorObject $response.error -DefaultTarget 'answers.json'
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)]
        [object] $ErrorObject,

        [object] $DefaultTarget
    )

    $data = $null
    if ($ErrorObject.PSObject.Properties['data']) { $data = $ErrorObject.data }
    $errorId = 'EngineError'
    $categoryName = $null
    $target = $DefaultTarget
    $recommended = $null
    if ($null -ne $data) {
        if ($data.PSObject.Properties['errorId'] -and $data.errorId) { $errorId = [string]$data.errorId }
        if ($data.PSObject.Properties['category'] -and $data.category) { $categoryName = [string]$data.category }
        if ($data.PSObject.Properties['targetObject'] -and $null -ne $data.targetObject) { $target = $data.targetObject }
        if ($data.PSObject.Properties['recommendedAction']) { $recommended = [string]$data.recommendedAction }
    }
    if (-not $categoryName -and $script:Decisions.ErrorIds.ContainsKey($errorId)) {
        $categoryName = $script:Decisions.ErrorIds[$errorId].Category
    }
    $message = [string]$ErrorObject.message
    if ([string]::IsNullOrWhiteSpace($message)) { $message = "The engine reported $errorId." }
    if ($null -ne $data -and $data.PSObject.Properties['errors'] -and $data.errors) {
        $fields = foreach ($fieldError in $data.errors) { "$($fieldError.field): $($fieldError.message)" }
        $message = $message + ' ' + ($fields -join '; ')
    }
    New-GroupIDClientErrorRecord -ErrorId $errorId -Message $message -Target $target -RecommendedAction $recommended -CategoryName $categoryName
}

function New-GroupIDClientErrorRecord {
    <#
    .SYNOPSIS
    Builds an ErrorRecord with an errorId, a category from the decisions table, a target and a recommended action.

    .EXAMPLE
    New-GroupIDClientErrorRecord -ErrorId 'EngineNotFound' -Message 'The engine was not found.'
    #>
    [CmdletBinding()]
    [OutputType([System.Management.Automation.ErrorRecord])]
    param(
        [Parameter(Mandatory)]
        [string] $ErrorId,

        [Parameter(Mandatory)]
        [string] $Message,

        [object] $Target,

        [string] $RecommendedAction,

        [string] $CategoryName
    )

    if (-not $CategoryName) {
        if ($script:Decisions.ClientErrors.ContainsKey($ErrorId)) { $CategoryName = $script:Decisions.ClientErrors[$ErrorId].Category }
        elseif ($script:Decisions.ErrorIds.ContainsKey($ErrorId)) { $CategoryName = $script:Decisions.ErrorIds[$ErrorId].Category }
    }
    $mapped = 'NotSpecified'
    if ($CategoryName -and $script:Decisions.Categories.ContainsKey($CategoryName)) { $mapped = $script:Decisions.Categories[$CategoryName] }
    $category = [System.Management.Automation.ErrorCategory]$mapped

    switch ($mapped) {
        'InvalidArgument' { $exception = New-Object System.ArgumentException -ArgumentList $Message }
        'ObjectNotFound' { $exception = New-Object System.Management.Automation.ItemNotFoundException -ArgumentList $Message }
        'AuthenticationError' { $exception = New-Object System.Security.Authentication.AuthenticationException -ArgumentList $Message }
        'PermissionDenied' { $exception = New-Object System.UnauthorizedAccessException -ArgumentList $Message }
        'SecurityError' { $exception = New-Object System.Security.SecurityException -ArgumentList $Message }
        'OperationStopped' { $exception = New-Object System.OperationCanceledException -ArgumentList $Message }
        'ConnectionError' { $exception = New-Object System.IO.IOException -ArgumentList $Message }
        'ReadError' { $exception = New-Object System.IO.IOException -ArgumentList $Message }
        'WriteError' { $exception = New-Object System.IO.IOException -ArgumentList $Message }
        default { $exception = New-Object System.InvalidOperationException -ArgumentList $Message }
    }
    $exception.Data['GroupIDUpgrade.ErrorId'] = $ErrorId
    $record = New-Object System.Management.Automation.ErrorRecord -ArgumentList $exception, $ErrorId, $category, $Target
    $details = New-Object System.Management.Automation.ErrorDetails -ArgumentList $Message
    if ($RecommendedAction) { $details.RecommendedAction = $RecommendedAction }
    $record.ErrorDetails = $details
    $record
}

function Get-GroupIDErrorScope {
    <#
    .SYNOPSIS
    'Item' when an errorId concerns one input (the pipeline goes on), else 'Request' (the cmdlet stops).

    .EXAMPLE
    Get-GroupIDErrorScope -ErrorId 'GroupNotFound'
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [string] $ErrorId
    )

    if ($script:Decisions.ErrorIds.ContainsKey($ErrorId)) { return $script:Decisions.ErrorIds[$ErrorId].Scope }
    if ($script:Decisions.ClientErrors.ContainsKey($ErrorId)) { return $script:Decisions.ClientErrors[$ErrorId].Scope }
    'Request'
}
