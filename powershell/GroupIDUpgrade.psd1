@{
    RootModule           = 'GroupIDUpgrade.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f1c2a57-3d0e-4b8a-9c4e-2b7d5a1e8f30'
    Author               = 'GroupIDUpgrade contributors'
    CompanyName          = 'GroupIDUpgrade'
    Copyright            = '(c) GroupIDUpgrade contributors.'
    Description          = 'Upgrade an Imanami GroupID 9 or 10 installation to GroupID / Directory Manager 11, upgrade chosen groups afterwards, and back the installation up into verifiable sets. Thin cmdlets over the groupid-upgrade engine.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    FormatsToProcess     = @('GroupIDUpgrade.Format.ps1xml')
    FunctionsToExport    = @(
        'Backup-GroupIDData'
        'Get-GroupIDUpgradePlan'
        'Invoke-GroupIDUpgrade'
        'Restore-GroupIDData'
        'Test-GroupIDBackup'
        'Update-GroupIDGroup'
    )
    AliasesToExport      = @('Upgrade-Group')
    CmdletsToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('GroupID', 'DirectoryManager', 'Imanami', 'Netwrix', 'Upgrade', 'Backup', 'ActiveDirectory')
            ReleaseNotes = '0.1.0: the first release: upgrade GroupID 9/10 to 11 module by module, Upgrade-Group, verifiable backup sets; the engine CLI adds status, doctor and --json-lines. The full list is CHANGELOG.md in the source repository.'
        }
    }
}
