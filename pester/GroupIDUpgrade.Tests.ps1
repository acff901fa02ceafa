#Requires -Module @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# Pester 5 tests of the module's surface and client behaviour (issue 8). Engine calls are mocked
# here; EndToEnd.Tests.ps1 runs the real engine. Run: Invoke-Pester -Path ./pester

BeforeAll {
    $script:ModulePath = Join-Path -Path $PSScriptRoot -ChildPath '..\powershell\GroupIDUpgrade.psd1'
    Get-Module GroupIDUpgrade | Remove-Module -Force
    Import-Module $script:ModulePath -Force -WarningVariable importWarnings -WarningAction SilentlyContinue
    $script:ImportWarnings = $importWarnings
}

AfterAll {
    Get-Module GroupIDUpgrade | Remove-Module -Force
}

Describe 'Import and exported surface' {
    It 'imports without warnings (every verb approved)' {
        $script:ImportWarnings | Should -BeNullOrEmpty
    }

    It 'exports exactly the six cmdlets and the Upgrade-Group alias' {
        $module = Get-Module GroupIDUpgrade
        @($module.ExportedFunctions.Keys | Sort-Object) | Should -Be @(
            'Backup-GroupIDData', 'Get-GroupIDUpgradePlan', 'Invoke-GroupIDUpgrade',
            'Restore-GroupIDData', 'Test-GroupIDBackup', 'Update-GroupIDGroup')
        @($module.ExportedAliases.Keys) | Should -Be @('Upgrade-Group')
        (Get-Alias Upgrade-Group).Definition | Should -Be 'Update-GroupIDGroup'
    }

    It 'gives every cmdlet help with a synopsis and an example' -ForEach @(
        @{ Name = 'Invoke-GroupIDUpgrade' }, @{ Name = 'Get-GroupIDUpgradePlan' }, @{ Name = 'Update-GroupIDGroup' },
        @{ Name = 'Backup-GroupIDData' }, @{ Name = 'Test-GroupIDBackup' }, @{ Name = 'Restore-GroupIDData' }
    ) {
        $help = Get-Help $Name -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        @($help.Examples.Example).Count | Should -BeGreaterThan 0
    }

    It 'types every secret as SecureString or PSCredential' {
        (Get-Command Invoke-GroupIDUpgrade).Parameters['TargetPassphrase'].ParameterType | Should -Be ([System.Security.SecureString])
        (Get-Command Update-GroupIDGroup).Parameters['Credential'].ParameterType | Should -Be ([System.Management.Automation.PSCredential])
    }
}

Describe 'Update-GroupIDGroup pipeline binding' {
    BeforeAll {
        Mock -ModuleName GroupIDUpgrade Start-GroupIDEngine { @{ Closed = $false; RecordsWritten = 0 } }
        Mock -ModuleName GroupIDUpgrade Stop-GroupIDEngine { $null }
        Mock -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest {
            [pscustomobject]@{ Result = [pscustomobject]@{ status = 'Succeeded' }; Error = $null; ErrorId = $null; Scope = $null }
        }
    }

    It 'binds ADGroup-like objects by DistinguishedName and sends them in one batch to one engine' {
        $groups = 1..3 | ForEach-Object {
            [pscustomobject]@{ DistinguishedName = "CN=G$_,OU=Sales,DC=corp,DC=example,DC=com"; ObjectGUID = [guid]::NewGuid(); SamAccountName = "G$_" }
        }
        $groups | Upgrade-Group -AnswerFile 'answers.json' -Confirm:$false
        Should -Invoke -ModuleName GroupIDUpgrade Start-GroupIDEngine -Times 1 -Exactly
        Should -Invoke -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest -Times 1 -Exactly -ParameterFilter {
            $Method -eq 'group.upgrade' -and
            (@($Params['identity']) -join ';') -eq 'CN=G1,OU=Sales,DC=corp,DC=example,DC=com;CN=G2,OU=Sales,DC=corp,DC=example,DC=com;CN=G3,OU=Sales,DC=corp,DC=example,DC=com'
        }
    }

    It 'binds strings by value and splits them into batches of -BatchSize' {
        'a', 'b', 'c', 'd', 'e' | Update-GroupIDGroup -AnswerFile 'answers.json' -BatchSize 2 -Confirm:$false
        Should -Invoke -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest -Times 3 -Exactly
        Should -Invoke -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest -Times 1 -Exactly -ParameterFilter { (@($Params['identity']) -join ';') -eq 'e' }
    }

    It 'sends the vendor parameters in camelCase and -WhatIf as whatIf' {
        Update-GroupIDGroup -AnswerFile 'answers.json' -SearchContainer 'OU=Jobs,DC=corp,DC=example,DC=com' -SearchContainersScopeList 1 -GroupType 2 -KeepUserHistory -WhatIf
        Should -Invoke -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest -Times 1 -Exactly -ParameterFilter {
            $Params['whatIf'] -eq $true -and $Params['keepUserHistory'] -eq $true -and
            @($Params['searchContainerScopeList'])[0] -eq 1 -and @($Params['groupType'])[0] -eq 2 -and -not $Params.Contains('identity') -and
            -not $Params.Contains('batchSize')
        }
    }

    It 'refuses to run with no selector at all' {
        { Update-GroupIDGroup -AnswerFile 'answers.json' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidParams*'
    }

    It 'sends nothing when the pipeline is empty' {
        @() | Update-GroupIDGroup -AnswerFile 'answers.json'
        Should -Invoke -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest -Times 0 -Exactly
    }
}

Describe 'Requests and errors' {
    It 'keeps secrets secure until the request JSON, and writes them there as text' {
        InModuleScope GroupIDUpgrade {
            $secure = ConvertTo-SecureString 'canary-9f3a' -AsPlainText -Force
            $answers = ConvertTo-GroupIDSecretAnswer -Secret @{ 'forest:corp.example.com:serviceAccount' = (New-Object System.Management.Automation.PSCredential -ArgumentList 'CORP\svc', $secure) }
            $answers['forest:corp.example.com:serviceAccount']['password'] | Should -BeOfType ([System.Security.SecureString])
            ConvertTo-GroupIDEngineJson -InputObject $answers | Should -Be '{"forest:corp.example.com:serviceAccount":{"userName":"CORP\\svc","password":"canary-9f3a"}}'
        }
    }

    It 'refuses a plain-text secret field in -Secret' {
        InModuleScope GroupIDUpgrade {
            { ConvertTo-GroupIDSecretAnswer -Secret @{ 'entra:2:credentials' = @{ clientSecret = 'plain' } } } | Should -Throw -ErrorId 'SecretTypeInvalid'
        }
    }

    It 'turns an engine error object into an ErrorRecord with ErrorId, category, target and action' {
        InModuleScope GroupIDUpgrade {
            $errorObject = [pscustomobject]@{
                code    = -32000
                message = 'The PFX of store corp.example.com does not open with its password.'
                data    = [pscustomobject]@{ errorId = 'PfxPasswordInvalid'; category = 'AuthenticationError'; targetObject = 'Entra ID store 2'; recommendedAction = 'Give the right PFX password.' }
            }
            $record = New-GroupIDErrorRecord -ErrorObject $errorObject
            $record.FullyQualifiedErrorId | Should -Be 'PfxPasswordInvalid'
            $record.CategoryInfo.Category | Should -Be ([System.Management.Automation.ErrorCategory]::AuthenticationError)
            $record.TargetObject | Should -Be 'Entra ID store 2'
            $record.ErrorDetails.RecommendedAction | Should -Be 'Give the right PFX password.'
        }
    }

    It 'names every place it looked when the engine is not found' {
        $saved = $env:GROUPID_UPGRADE_PYTHON
        try {
            $env:GROUPID_UPGRADE_PYTHON = Join-Path $TestDrive 'no-python.exe'
            { Get-GroupIDUpgradePlan -AnswerFile 'answers.json' -ErrorAction Stop } | Should -Throw -ErrorId 'EngineNotFound*'
        }
        finally {
            $env:GROUPID_UPGRADE_PYTHON = $saved
        }
    }
}
