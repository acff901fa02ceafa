# GroupIDUpgrade: thin cmdlets over the groupid-upgrade engine (JSON-RPC over stdio).
# Public functions live in cmdlets\ (one per file, named after it); the engine client in private\.
# The client's decisions (notification -> stream, category -> ErrorCategory, record type ->
# PSTypeName, cmdlet -> engine method) are data in GroupIDUpgrade.Decisions.psd1.

$script:ModuleRoot = $PSScriptRoot
$script:Decisions = Import-PowerShellDataFile -Path (Join-Path -Path $PSScriptRoot -ChildPath 'GroupIDUpgrade.Decisions.psd1')
# The session's engine (EngineSession.ps1), the process ids of every engine this module started,
# and how the last stopped request ended.
$script:SessionEngine = $null
$script:FoundEngine = $null  # Find-GroupIDEngine's memo
$script:DisplayTextMethods = @{}  # Add-GroupIDDisplayText: label -> ToString method
$script:JsonEscapeNeeded = New-Object System.Text.RegularExpressions.Regex -ArgumentList '[\x00-\x1f"\\\u2028\u2029]'
$script:EnginesStarted = New-Object System.Collections.Generic.List[int]
$script:LastStop = $null

$publicFunctions = New-Object System.Collections.Generic.List[string]
foreach ($folder in @('private', 'cmdlets')) {
    foreach ($file in Get-ChildItem -Path (Join-Path -Path $PSScriptRoot -ChildPath $folder) -Filter '*.ps1' -File) {
        . $file.FullName
        if ($folder -eq 'cmdlets') { $publicFunctions.Add($file.BaseName) }
    }
}

# The session's engine ends with the module and with the host. (Should the host die without
# running either, the engine sees its stdin close and ends by itself.)
$script:ExitingAction = Register-EngineEvent -SourceIdentifier ([System.Management.Automation.PsEngineEvent]::Exiting) `
    -MessageData $ExecutionContext.SessionState.Module -Action {
    & $Event.MessageData { Stop-GroupIDSessionEngine }
}
$ExecutionContext.SessionState.Module.OnRemove = {
    Stop-GroupIDSessionEngine
    foreach ($subscriber in @(Get-EventSubscriber -Force | Where-Object { $_.Action -eq $script:ExitingAction })) {
        Unregister-Event -SubscriptionId $subscriber.SubscriptionId -Force
    }
    Remove-Job -Job $script:ExitingAction -Force -ErrorAction SilentlyContinue
}

# Upgrade is not an approved verb: the function has the approved name and the vendor's name is an
# alias (the dbatools pattern), so Import-Module prints no warning and both names work.
Set-Alias -Name 'Upgrade-Group' -Value 'Update-GroupIDGroup'

# The manifest's FunctionsToExport lists the same names (a test keeps them equal to the files).
Export-ModuleMember -Function $publicFunctions.ToArray() -Alias @('Upgrade-Group')
