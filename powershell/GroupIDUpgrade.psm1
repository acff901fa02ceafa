# GroupIDUpgrade: thin cmdlets over the groupid-upgrade engine (JSON-RPC over stdio).
# Public functions live in cmdlets\ (one per file, named after it); the engine client in private\.
# The client's decisions (notification -> stream, category -> ErrorCategory, record type ->
# PSTypeName, cmdlet -> engine method) are data in GroupIDUpgrade.Decisions.psd1.

$script:ModuleRoot = $PSScriptRoot
$script:Decisions = Import-PowerShellDataFile -Path (Join-Path -Path $PSScriptRoot -ChildPath 'GroupIDUpgrade.Decisions.psd1')

$publicFunctions = New-Object System.Collections.Generic.List[string]
foreach ($folder in @('private', 'cmdlets')) {
    foreach ($file in Get-ChildItem -Path (Join-Path -Path $PSScriptRoot -ChildPath $folder) -Filter '*.ps1' -File) {
        . $file.FullName
        if ($folder -eq 'cmdlets') { $publicFunctions.Add($file.BaseName) }
    }
}

# Upgrade is not an approved verb: the function has the approved name and the vendor's name is an
# alias (the dbatools pattern), so Import-Module prints no warning and both names work.
Set-Alias -Name 'Upgrade-Group' -Value 'Update-GroupIDGroup'

# The manifest's FunctionsToExport lists the same names (a test keeps them equal to the files).
Export-ModuleMember -Function $publicFunctions.ToArray() -Alias @('Upgrade-Group')
