function New-GroupIDEngineRequest {
    <#
    .SYNOPSIS
    Turns a cmdlet's bound parameters into the engine method and its params.

    .DESCRIPTION
    The method and the parameter rules come from the Cmdlets table of GroupIDUpgrade.Decisions.psd1:
    every declared parameter is sent as its camelCase name (the engine matches names
    case-insensitively), PowerShell-only parameters are left out, Settings parameters go inside
    "settings" at their dotted path, and paths are resolved against PowerShell's current location.
    SecureString and PSCredential values stay secure here; ConvertTo-GroupIDEngineJson turns them
    into text only while the request is written to the engine's stdin.

    .EXAMPLE
    $request = New-GroupIDEngineRequest -Cmdlet $PSCmdlet -BoundParameters $PSBoundParameters -EngineWhatIf ([bool]$WhatIfPreference)
    #>
    [CmdletBinding()]
    [OutputType([pscustomobject])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet,

        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $BoundParameters,

        [System.Collections.IDictionary] $Override,

        [bool] $EngineWhatIf
    )

    $name = $Cmdlet.MyInvocation.MyCommand.Name
    $decision = $script:Decisions.Cmdlets[$name]
    $skip = @([System.Management.Automation.Cmdlet]::CommonParameters) + @([System.Management.Automation.Cmdlet]::OptionalCommonParameters)
    $params = [ordered]@{}
    $settings = [ordered]@{}
    $values = @{}
    foreach ($key in $BoundParameters.Keys) { $values[$key] = $BoundParameters[$key] }
    if ($null -ne $Override) { foreach ($key in $Override.Keys) { $values[$key] = $Override[$key] } }
    foreach ($key in @($values.Keys | Sort-Object)) {
        if ($skip -contains $key -or $decision.PowerShellOnly -contains $key) { continue }
        $value = $values[$key]
        if ($null -eq $value) { continue }
        if ($value -is [System.Management.Automation.SwitchParameter]) { $value = $value.IsPresent }
        if ($script:Decisions.PathParameters -contains $key) {
            $value = $Cmdlet.GetUnresolvedProviderPathFromPSPath([string]$value)
        }
        if ($decision.Settings.ContainsKey($key)) {
            if ($key -eq 'Secret') { $value = ConvertTo-GroupIDSecretAnswer -Cmdlet $Cmdlet -Secret $value }
            Set-GroupIDDottedValue -Target $settings -Path $decision.Settings[$key] -Value $value
            continue
        }
        $params[$key.Substring(0, 1).ToLowerInvariant() + $key.Substring(1)] = $value
    }
    if ($settings.Count -gt 0) { $params['settings'] = $settings }
    if ($EngineWhatIf -and $decision.WhatIf -eq 'Engine') { $params['whatIf'] = $true }
    [pscustomobject]@{ Method = $decision.Method; Params = $params }
}

function Set-GroupIDDottedValue {
    <#
    .SYNOPSIS
    Sets a value at a dotted path (source.passphrase) in nested ordered dictionaries.

    .EXAMPLE
    Set-GroupIDDottedValue -Target $settings -Path 'source.passphrase' -Value $secure
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $Target,

        [Parameter(Mandatory)]
        [string] $Path,

        [AllowNull()]
        [object] $Value
    )

    $parts = $Path.Split('.')
    $node = $Target
    for ($i = 0; $i -lt $parts.Length - 1; $i++) {
        if (-not $node.Contains($parts[$i])) { $node[$parts[$i]] = [ordered]@{} }
        $node = $node[$parts[$i]]
    }
    $node[$parts[$parts.Length - 1]] = $Value
}

function ConvertTo-GroupIDSecretAnswer {
    <#
    .SYNOPSIS
    Checks -Secret (question id -> PSCredential, SecureString or hashtable) and shapes the answers.

    .DESCRIPTION
    A PSCredential answers {userName, password}; a SecureString answers {password}; a hashtable
    gives the fields itself (clientSecret, pfxPassword, pfxFile...), where every secret field must
    be a SecureString or a PSCredential, never plain text. Anything else is SecretTypeInvalid,
    naming the question, not the value.

    Fields that name a file (SecretPathFields: pfxFile...) are resolved against PowerShell's
    current location, as every path parameter is.

    .EXAMPLE
    ConvertTo-GroupIDSecretAnswer -Cmdlet $PSCmdlet -Secret @{ 'forest:corp.example.com:serviceAccount' = $credential }
    #>
    [CmdletBinding()]
    [OutputType([System.Collections.Specialized.OrderedDictionary])]
    param(
        [Parameter(Mandatory)]
        [System.Management.Automation.PSCmdlet] $Cmdlet,

        [Parameter(Mandatory)]
        [System.Collections.IDictionary] $Secret
    )

    $secretNames = @('password', 'passphrase', 'clientSecret', 'pfxPassword')
    $answers = [ordered]@{}
    foreach ($question in $Secret.Keys) {
        $value = $Secret[$question]
        if ($value -is [System.Management.Automation.PSCredential]) {
            $answers[[string]$question] = [ordered]@{ userName = $value.UserName; password = $value.Password }
        }
        elseif ($value -is [System.Security.SecureString]) {
            $answers[[string]$question] = [ordered]@{ password = $value }
        }
        elseif ($value -is [System.Collections.IDictionary]) {
            $answer = [ordered]@{}
            foreach ($field in $value.Keys) {
                $fieldValue = $value[$field]
                if ($secretNames -contains [string]$field -and -not ($fieldValue -is [System.Security.SecureString] -or $fieldValue -is [System.Management.Automation.PSCredential])) {
                    $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'SecretTypeInvalid' -Target ([string]$question) `
                                -Message "-Secret '$question': the field '$field' must be a SecureString or a PSCredential, not plain text." `
                                -RecommendedAction 'Use Read-Host -AsSecureString or Get-Credential for secret fields.'))
                }
                if ($fieldValue -is [System.Management.Automation.PSCredential]) { $fieldValue = $fieldValue.Password }
                if ($script:Decisions.SecretPathFields -contains [string]$field -and $fieldValue -is [string] -and $fieldValue) {
                    $fieldValue = $Cmdlet.GetUnresolvedProviderPathFromPSPath($fieldValue)
                }
                $answer[[string]$field] = $fieldValue
            }
            $answers[[string]$question] = $answer
        }
        else {
            $kind = 'null'
            if ($null -ne $value) { $kind = $value.GetType().Name }
            $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'SecretTypeInvalid' -Target ([string]$question) `
                        -Message "-Secret '$question': the answer must be a PSCredential, a SecureString or a hashtable of fields, not $kind." `
                        -RecommendedAction 'Use Get-Credential, Read-Host -AsSecureString, or @{ clientSecret = <SecureString>; pfxPassword = <SecureString> }.'))
        }
    }
    $answers
}

function ConvertTo-GroupIDEngineJson {
    <#
    .SYNOPSIS
    One line of JSON for a request. The only place a SecureString becomes text, and only inside
    the string written to the engine's stdin.

    .EXAMPLE
    ConvertTo-GroupIDEngineJson -InputObject ([ordered]@{ jsonrpc = '2.0'; id = 1; method = 'engine.hello' })
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)]
        [AllowNull()]
        [object] $InputObject
    )

    $builder = New-Object System.Text.StringBuilder
    Add-GroupIDJsonValue -Builder $builder -Value $InputObject -Depth 0
    $builder.ToString()
}

function Add-GroupIDJsonValue {
    <#
    .SYNOPSIS
    Appends one JSON value to a StringBuilder (see ConvertTo-GroupIDEngineJson).

    .EXAMPLE
    Add-GroupIDJsonValue -Builder $builder -Value @(1, 2) -Depth 0
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [System.Text.StringBuilder] $Builder,

        [AllowNull()]
        [object] $Value,

        [int] $Depth
    )

    if ($Depth -gt 32) {
        throw (New-GroupIDClientErrorRecord -ErrorId 'EngineOutputInvalid' -Message 'A request nests deeper than 32 levels.')
    }
    if ($null -eq $Value) { [void]$Builder.Append('null'); return }
    if ($Value -is [System.Management.Automation.SwitchParameter]) { $Value = $Value.IsPresent }
    if ($Value -is [bool]) {
        if ($Value) { [void]$Builder.Append('true') } else { [void]$Builder.Append('false') }
        return
    }
    if ($Value -is [System.Security.SecureString]) {
        $bstr = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($Value)
        try {
            Add-GroupIDJsonString -Builder $Builder -Text ([System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($bstr))
        }
        finally {
            [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($bstr)
        }
        return
    }
    if ($Value -is [System.Management.Automation.PSCredential]) {
        Add-GroupIDJsonValue -Builder $Builder -Value ([ordered]@{ userName = $Value.UserName; password = $Value.Password }) -Depth ($Depth + 1)
        return
    }
    if ($Value -is [string] -or $Value -is [char] -or $Value -is [guid] -or $Value -is [enum] -or $Value -is [System.IO.FileSystemInfo] -or $Value -is [uri]) {
        Add-GroupIDJsonString -Builder $Builder -Text ([string]$Value)
        return
    }
    if ($Value -is [datetime]) { Add-GroupIDJsonString -Builder $Builder -Text $Value.ToString('o'); return }
    if ($Value -is [double] -or $Value -is [single]) {
        if ([double]::IsNaN($Value) -or [double]::IsInfinity($Value)) { [void]$Builder.Append('null'); return }
        [void]$Builder.Append($Value.ToString('R', [System.Globalization.CultureInfo]::InvariantCulture))
        return
    }
    if ($Value -is [System.ValueType]) {
        [void]$Builder.Append([System.Convert]::ToString($Value, [System.Globalization.CultureInfo]::InvariantCulture))
        return
    }
    if ($Value -is [System.Collections.IDictionary]) {
        [void]$Builder.Append('{')
        $first = $true
        foreach ($key in $Value.Keys) {
            if (-not $first) { [void]$Builder.Append(',') }
            $first = $false
            Add-GroupIDJsonString -Builder $Builder -Text ([string]$key)
            [void]$Builder.Append(':')
            Add-GroupIDJsonValue -Builder $Builder -Value $Value[$key] -Depth ($Depth + 1)
        }
        [void]$Builder.Append('}')
        return
    }
    # -is sees through the PSObject wrapper; only a real custom object is written by its properties.
    if ($Value -is [System.Management.Automation.PSCustomObject]) {
        $map = [ordered]@{}
        foreach ($property in $Value.PSObject.Properties) { $map[$property.Name] = $property.Value }
        Add-GroupIDJsonValue -Builder $Builder -Value $map -Depth $Depth
        return
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        [void]$Builder.Append('[')
        $first = $true
        foreach ($item in $Value) {
            if (-not $first) { [void]$Builder.Append(',') }
            $first = $false
            Add-GroupIDJsonValue -Builder $Builder -Value $item -Depth ($Depth + 1)
        }
        [void]$Builder.Append(']')
        return
    }
    Add-GroupIDJsonString -Builder $Builder -Text ([string]$Value)
}

function Add-GroupIDJsonString {
    <#
    .SYNOPSIS
    Appends a JSON string literal, escaping quotes, backslashes and control characters.

    .EXAMPLE
    Add-GroupIDJsonString -Builder $builder -Text 'C:\GroupID\answers.json'
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)]
        [System.Text.StringBuilder] $Builder,

        [Parameter(Mandatory)]
        [AllowEmptyString()]
        [string] $Text
    )

    [void]$Builder.Append('"')
    # Most strings (names, DNs, paths without backslashes) need no escape: appended whole, since the loop
    # below costs PowerShell a statement per character and a request is sent per Upgrade-Group call.
    if (-not $script:JsonEscapeNeeded.IsMatch($Text)) {
        [void]$Builder.Append($Text).Append('"')
        return
    }
    foreach ($ch in $Text.ToCharArray()) {
        $code = [int]$ch
        if ($code -eq 34) { [void]$Builder.Append('\"') }
        elseif ($code -eq 92) { [void]$Builder.Append('\\') }
        elseif ($code -eq 10) { [void]$Builder.Append('\n') }
        elseif ($code -eq 13) { [void]$Builder.Append('\r') }
        elseif ($code -eq 9) { [void]$Builder.Append('\t') }
        elseif ($code -lt 32 -or $code -eq 0x2028 -or $code -eq 0x2029) { [void]$Builder.Append(('\u{0:x4}' -f $code)) }
        else { [void]$Builder.Append($ch) }
    }
    [void]$Builder.Append('"')
}
