#Requires -Module @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# Unit tests of the module's surface and client behaviour, the engine mocked
# (Get-GroupIDEngine and Invoke-GroupIDEngineRequest). The other files drive the real engine.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support.ps1')
    $script:Import = Import-GroupIDUpgradeForTest
    $script:CmdletNames = @('Backup-GroupIDData', 'Get-GroupIDUpgradePlan', 'Invoke-GroupIDUpgrade', 'Restore-GroupIDData', 'Test-GroupIDBackup', 'Update-GroupIDGroup')

    function New-MockedEngine {
        param($Cmdlet)
        @{ Cmdlet = $Cmdlet; Busy = $false; Dedicated = $false; Running = $null; RunningMethod = $null; Closed = $false
            Quiet = $false; ProcessId = 0; LastUsed = [datetime]::UtcNow; Activities = @{}; ActivityBase = 0x4700 }
    }
    function New-Answer {
        param($Result, $ErrorObject)
        if ($null -ne $ErrorObject) {
            $record = & (Get-Module GroupIDUpgrade) { param($e) New-GroupIDErrorRecord -ErrorObject $e } $ErrorObject
            $errorId = $record.FullyQualifiedErrorId.Split(',')[0]
            $scope = & (Get-Module GroupIDUpgrade) { param($id) Get-GroupIDErrorScope -ErrorId $id } $errorId
            return [pscustomobject]@{ Result = $null; Error = $record; ErrorId = $errorId; Scope = $scope }
        }
        [pscustomobject]@{ Result = $Result; Error = $null; ErrorId = $null; Scope = $null }
    }
}

AfterAll {
    Get-Module GroupIDUpgrade | Remove-Module -Force
}

Describe 'Loading the module' -Tag 'Unit' {
    It 'imports with no warning and no error (every verb approved)' {
        $script:Import.Warnings | Should -BeNullOrEmpty
        $script:Import.Errors | Should -BeNullOrEmpty
    }

    It 'has a valid manifest (Test-ModuleManifest) for Desktop and Core from 5.1' {
        $manifest = Test-ModuleManifest -Path $script:ModuleManifest -ErrorAction Stop
        $manifest.Name | Should -Be 'GroupIDUpgrade'
        $manifest.PowerShellVersion | Should -Be ([version]'5.1')
        $manifest.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
        @($manifest.ExportedFunctions.Keys | Sort-Object) | Should -Be $script:CmdletNames
    }

    It 'exports exactly the six cmdlets and the Upgrade-Group alias' {
        $module = Get-Module GroupIDUpgrade
        @($module.ExportedFunctions.Keys | Sort-Object) | Should -Be $script:CmdletNames
        @($module.ExportedAliases.Keys) | Should -Be @('Upgrade-Group')
        (Get-Alias Upgrade-Group).Definition | Should -Be 'Update-GroupIDGroup'
    }

    It 'loads its format file with Update-FormatData' {
        { Update-FormatData -PrependPath (Join-Path $script:Repo 'powershell/GroupIDUpgrade.Format.ps1xml') -ErrorAction Stop } | Should -Not -Throw
    }

    It 'uses no syntax newer than Windows PowerShell 5.1 in any file it loads' {
        $newer = @('QuestionQuestion', 'QuestionQuestionEquals', 'QuestionDot', 'QuestionLBracket', 'AndAnd', 'OrOr')
        $found = foreach ($file in Get-ChildItem (Join-Path $script:Repo 'powershell') -Recurse -Include '*.ps1', '*.psm1', '*.psd1') {
            $tokens = $null; $errors = $null
            $ast = [System.Management.Automation.Language.Parser]::ParseFile($file.FullName, [ref]$tokens, [ref]$errors)
            foreach ($token in $tokens) { if ($newer -contains [string]$token.Kind) { "$($file.Name):$($token.Extent.StartLineNumber) $($token.Kind)" } }
            foreach ($node in $ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.TernaryExpressionAst] -or ($n -is [System.Management.Automation.Language.ScriptBlockAst] -and $null -ne $n.CleanBlock) }, $true)) {
                "$($file.Name):$($node.Extent.StartLineNumber) $($node.GetType().Name)"
            }
        }
        $found | Should -BeNullOrEmpty
    }

    It 'gives <Name> help with a synopsis, every parameter and an example' -ForEach @(
        @{ Name = 'Invoke-GroupIDUpgrade' }, @{ Name = 'Get-GroupIDUpgradePlan' }, @{ Name = 'Update-GroupIDGroup' },
        @{ Name = 'Backup-GroupIDData' }, @{ Name = 'Test-GroupIDBackup' }, @{ Name = 'Restore-GroupIDData' }
    ) {
        $help = Get-Help $Name -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match "^\s*$Name\s*\["
        @($help.Examples.Example).Count | Should -BeGreaterThan 0
        @($help.Examples.Example)[0].Code | Should -Match $(if ($Name -eq 'Update-GroupIDGroup') { 'Upgrade-Group|Update-GroupIDGroup' } else { $Name })
        $common = @([System.Management.Automation.Cmdlet]::CommonParameters) + @([System.Management.Automation.Cmdlet]::OptionalCommonParameters)
        foreach ($parameter in (Get-Command $Name).Parameters.Keys | Where-Object { $common -notcontains $_ }) {
            $described = @($help.parameters.parameter | Where-Object { $_.name -eq $parameter })
            ($described.Count -eq 1 -and ($described[0].description | Out-String).Trim()) | Should -BeTrue -Because "-$parameter of $Name needs a description"
        }
    }

    It 'types every secret as SecureString or PSCredential' {
        (Get-Command Invoke-GroupIDUpgrade).Parameters['TargetPassphrase'].ParameterType | Should -Be ([System.Security.SecureString])
        (Get-Command Get-GroupIDUpgradePlan).Parameters['SourcePassphrase'].ParameterType | Should -Be ([System.Security.SecureString])
        (Get-Command Update-GroupIDGroup).Parameters['Credential'].ParameterType | Should -Be ([System.Management.Automation.PSCredential])
    }
}

Describe 'Views' -Tag 'Unit' {
    It 'renders a <Type> with its view (columns <Expect>)' -ForEach @(
        @{ Type = 'GroupIDUpgrade.ModuleResult'; Data = @{ module = 'History'; status = 'Succeeded'; done = 2; alreadyDone = 0; failed = 0 }; Expect = @('Module', 'Status', 'AlreadyDone') }
        @{ Type = 'GroupIDUpgrade.RunResult'; Data = @{ runId = 'r1'; status = 'PartiallySucceeded'; whatIf = $false; logPath = '/x.log'; modules = @([pscustomobject]@{ module = 'Reports'; status = 'PartiallySucceeded'; done = 2; alreadyDone = 0; failed = 1 }) }; Expect = @('Status', 'RunId', 'Reports: PartiallySucceeded (2 done, 0 already done, 1 failed)') }
        @{ Type = 'GroupIDUpgrade.PlanItem'; Data = @{ module = 'Configuration'; kind = 'IdentityStore'; name = 'corp'; action = 'Convert'; reason = 'r' }; Expect = @('Module', 'Action') }
        @{ Type = 'GroupIDUpgrade.PlanQuestion'; Data = @{ id = 'q1'; question = 'Which store?'; answered = $false }; Expect = @('Answered') }
        @{ Type = 'GroupIDUpgrade.PlanWarning'; Data = @{ rule = 'R12'; message = 'careful' }; Expect = @('careful') }
        @{ Type = 'GroupIDUpgrade.GroupResult'; Data = @{ distinguishedName = 'CN=G1,DC=corp'; status = 'Upgraded'; groupType = 2 }; Expect = @('Status', 'CN=G1,DC=corp') }
        @{ Type = 'GroupIDUpgrade.BackupPart'; Data = @{ part = 'Database'; status = 'BackedUp' }; Expect = @('Database') }
        @{ Type = 'GroupIDUpgrade.RestorePart'; Data = @{ part = 'Reports'; status = 'Restored' }; Expect = @('Reports') }
        @{ Type = 'GroupIDUpgrade.VerifyReport'; Data = @{ path = '/set'; ok = $true; problems = @() }; Expect = @('/set') }
        @{ Type = 'GroupIDUpgrade.Plan'; Data = @{ items = @(); questions = @(); warnings = @(); inventory = @{} }; Expect = @() }
    ) {
        $object = [pscustomobject]$Data
        $object.PSObject.TypeNames.Insert(0, $Type)
        $text = $object | Out-String -Width 200
        $text.Trim() | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match '@\{'
        foreach ($expected in $Expect) { $text | Should -Match ([regex]::Escape($expected)) }
    }

    It 'prints an information-stream object as a sentence, not as @{...}' {
        $object = & (Get-Module GroupIDUpgrade) {
            $o = [pscustomobject]@{ module = 'History'; status = 'Succeeded'; done = 2 }
            Add-GroupIDDisplayText -InputObject $o -Label 'ModuleResult'
            $o
        }
        "$object" | Should -Be 'ModuleResult: module=History, status=Succeeded, done=2'
    }
}

Describe 'Requests each cmdlet sends' -Tag 'Unit' {
    BeforeEach {
        $script:Sent = New-Object System.Collections.Generic.List[object]
        Mock -ModuleName GroupIDUpgrade Get-GroupIDEngine { New-MockedEngine -Cmdlet $Cmdlet }
        Mock -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest {
            $script:Sent.Add([pscustomobject]@{ Method = $Method; Params = $Params })
            switch ($Method) {
                'upgrade.run' { New-Answer -Result ([pscustomobject]@{ runId = 'r1'; status = 'Succeeded'; whatIf = [bool]$Params['whatIf']; logPath = '/l'; modules = @([pscustomobject]@{ module = 'Configuration'; status = 'Succeeded'; done = 1; alreadyDone = 0; failed = 0 }) }) }
                'upgrade.plan' { New-Answer -Result ([pscustomobject]@{ items = @([pscustomobject]@{ module = 'Configuration'; action = 'Convert' }); questions = @(); warnings = @() }) }
                'backup.create' { New-Answer -Result ([pscustomobject]@{ parts = @() }) }
                'backup.verify' { New-Answer -Result ([pscustomobject]@{ ok = $true; problems = @() }) }
                'backup.restore' { New-Answer -Result ([pscustomobject]@{ parts = @() }) }
                default { New-Answer -Result ([pscustomobject]@{ status = 'Succeeded'; upgraded = 0 }) }
            }
        }
    }

    It 'Get-GroupIDUpgradePlan: the answer file resolved against the current location, modules, validateOnline and passphrases inside settings' {
        Push-Location $TestDrive
        try {
            $secure = ConvertTo-SecureString 'canary-plan-7d1' -AsPlainText -Force
            $plan = Get-GroupIDUpgradePlan -AnswerFile 'answers.json' -Module 'Configuration', 'Reports' -ValidateOnline -SourcePassphrase $secure
        }
        finally { Pop-Location }
        $plan.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.Plan'
        $plan.items[0].PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.PlanItem'
        $sent = $script:Sent[0]
        $sent.Method | Should -Be 'upgrade.plan'
        $sent.Params['answerFile'] | Should -Be (Join-Path $TestDrive 'answers.json')
        @($sent.Params['module']) | Should -Be @('Configuration', 'Reports')
        $sent.Params['validateOnline'] | Should -BeTrue
        $sent.Params['settings']['source']['passphrase'] | Should -BeOfType ([System.Security.SecureString])
        $sent.Params.Contains('sourcePassphrase') | Should -BeFalse
    }

    It 'Invoke-GroupIDUpgrade: one RunResult with the status on it, and -WhatIf sent as whatIf' {
        $result = @(Invoke-GroupIDUpgrade -AnswerFile (Join-Path $TestDrive 'a.json') -Confirm:$false)
        $result.Count | Should -Be 1
        $result[0].PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.RunResult'
        $result[0].Status | Should -Be 'Succeeded'
        $result[0].modules[0].PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.ModuleResult'
        Invoke-GroupIDUpgrade -AnswerFile (Join-Path $TestDrive 'a.json') -WhatIf | Out-Null
        $script:Sent[1].Params['whatIf'] | Should -BeTrue
        $script:Sent[0].Params.Contains('whatIf') | Should -BeFalse
    }

    It 'Backup-GroupIDData: destination, parts, zip and the manifest with its Path' {
        $manifest = Backup-GroupIDData -AnswerFile 'a.json' -Destination 'set1' -Include 'Database', 'Reports' -Zip -Confirm:$false
        $sent = $script:Sent[0]
        $sent.Method | Should -Be 'backup.create'
        $sent.Params['destination'] | Should -Be (Join-Path (Get-Location).ProviderPath 'set1')
        @($sent.Params['include']) | Should -Be @('Database', 'Reports')
        $sent.Params['zip'] | Should -BeTrue
        $manifest.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.BackupManifest'
        $manifest.Path | Should -Be (Join-Path (Get-Location).ProviderPath 'set1')
        Backup-GroupIDData -AnswerFile 'a.json' -Destination 'set2' -WhatIf | Should -BeNullOrEmpty
        $script:Sent[1].Params['whatIf'] | Should -BeTrue
    }

    It 'Test-GroupIDBackup: takes sets from the pipeline by FullName and Destination; -Quiet writes only booleans' {
        $sets = @([pscustomobject]@{ FullName = '/b/one' }, [pscustomobject]@{ Destination = '/b/two' })
        $answers = @($sets | Test-GroupIDBackup -Quiet)
        $answers | Should -Be @($true, $true)
        @($script:Sent | ForEach-Object { $_.Params['path'] }) | Should -Be @('/b/one', '/b/two')
        (Test-GroupIDBackup -Path '/b/one').PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.VerifyReport'
    }

    It 'Restore-GroupIDData: parts, -To and -Force, and -WhatIf sent to the engine' {
        Restore-GroupIDData -Path '/b/set' -AnswerFile 'a.json' -Include 'Database', 'GroupAttributes' -To 'restored' -Force -Confirm:$false
        $sent = $script:Sent[0]
        $sent.Method | Should -Be 'backup.restore'
        @($sent.Params['include']) | Should -Be @('Database', 'GroupAttributes')
        $sent.Params['to'] | Should -Be (Join-Path (Get-Location).ProviderPath 'restored')
        $sent.Params['force'] | Should -BeTrue
        Restore-GroupIDData -Path '/b/set' -Include All -To 'r2' -WhatIf
        $script:Sent[1].Params['whatIf'] | Should -BeTrue
    }

    It '-Secret: a PSCredential, a SecureString and a hashtable become answers; a relative pfxFile resolves against the current location' {
        Push-Location $TestDrive
        try {
            $secure = ConvertTo-SecureString 'canary-secret-51c' -AsPlainText -Force
            $credential = New-Object System.Management.Automation.PSCredential -ArgumentList 'CORP\svc', $secure
            Get-GroupIDUpgradePlan -AnswerFile 'a.json' -Secret @{
                'forest:corp.example.com:serviceAccount' = $credential
                'target:passphrase'                     = $secure
                'entra:2:credentials'                   = @{ pfxFile = 'certs/entra.pfx'; pfxPassword = $secure; applicationId = 'app' }
            } | Out-Null
        }
        finally { Pop-Location }
        $answers = $script:Sent[0].Params['settings']['answers']
        $answers['forest:corp.example.com:serviceAccount']['userName'] | Should -Be 'CORP\svc'
        $answers['forest:corp.example.com:serviceAccount']['password'] | Should -BeOfType ([System.Security.SecureString])
        $answers['target:passphrase']['password'] | Should -BeOfType ([System.Security.SecureString])
        $answers['entra:2:credentials']['pfxFile'] | Should -Be (Join-Path $TestDrive 'certs/entra.pfx')
        $answers['entra:2:credentials']['applicationId'] | Should -Be 'app'
    }

    It '-Secret refuses a plain-text secret field, naming the question and not the value' {
        $caught = $null
        try { Get-GroupIDUpgradePlan -AnswerFile 'a.json' -Secret @{ 'entra:2:credentials' = @{ clientSecret = 'plain-canary-3e' } } } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -BeLike 'SecretTypeInvalid*'
        $caught.TargetObject | Should -Be 'entra:2:credentials'
        "$caught" | Should -Not -Match 'plain-canary-3e'
        $script:Sent.Count | Should -Be 0
    }
}

Describe 'Update-GroupIDGroup (Upgrade-Group) pipeline binding' -Tag 'Unit' {
    BeforeEach {
        $script:Sent = New-Object System.Collections.Generic.List[object]
        Mock -ModuleName GroupIDUpgrade Get-GroupIDEngine { New-MockedEngine -Cmdlet $Cmdlet }
        Mock -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest {
            $script:Sent.Add([pscustomobject]@{ Method = $Method; Params = $Params })
            foreach ($identity in @($Params['identity'])) {
                if (-not $identity) { continue }
                $data = [pscustomobject]@{ identity = $identity; distinguishedName = $identity; status = 'Upgraded'; changes = @() }
                if ($identity -like '*Broken*') {
                    $data = [pscustomobject]@{ identity = $identity; distinguishedName = $identity; status = 'Failed'; changes = @()
                        error = [pscustomobject]@{ code = -32000; message = "The group $identity has a definition that cannot be read."; data = [pscustomobject]@{ errorId = 'GroupDefinitionInvalid'; category = 'InvalidData'; targetObject = $identity; recommendedAction = 'Fix the definition.' } } }
                }
                & (Get-Module GroupIDUpgrade) { param($e, $d) Invoke-GroupIDRecord -Engine $e -Type 'GroupUpgrade' -Data $d } $Engine $data
            }
            New-Answer -Result ([pscustomobject]@{ status = 'Succeeded'; upgraded = @($Params['identity']).Count })
        }
    }

    It 'binds Get-ADGroup objects (Microsoft.ActiveDirectory.Management.ADGroup) by DistinguishedName, one batch, one engine' {
        $groups = 1..3 | ForEach-Object {
            $group = [pscustomobject]@{ DistinguishedName = "CN=G$_,OU=Sales,DC=corp,DC=example,DC=com"; ObjectGUID = [guid]::NewGuid(); SamAccountName = "G$_"; Name = "G$_" }
            $group.PSObject.TypeNames.Insert(0, 'Microsoft.ActiveDirectory.Management.ADGroup')
            $group
        }
        $results = @($groups | Upgrade-Group -AnswerFile 'answers.json' -Confirm:$false)
        $results.Count | Should -Be 3
        $results[0].PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.GroupResult'
        Should -Invoke -ModuleName GroupIDUpgrade Get-GroupIDEngine -Times 1 -Exactly
        $script:Sent.Count | Should -Be 1
        (@($script:Sent[0].Params['identity']) -join ';') | Should -Be 'CN=G1,OU=Sales,DC=corp,DC=example,DC=com;CN=G2,OU=Sales,DC=corp,DC=example,DC=com;CN=G3,OU=Sales,DC=corp,DC=example,DC=com'
    }

    It 'binds an object with only an ObjectGUID (a Guid) by that property' {
        $guid = [guid]::NewGuid()
        [pscustomobject]@{ ObjectGUID = $guid } | Upgrade-Group -AnswerFile 'answers.json' -Confirm:$false | Out-Null
        @($script:Sent[0].Params['identity']) | Should -Be @($guid.ToString())
    }

    It 'binds strings by value and splits them into batches of -BatchSize' {
        'a', 'b', 'c', 'd', 'e' | Update-GroupIDGroup -AnswerFile 'answers.json' -BatchSize 2 -Confirm:$false | Out-Null
        $script:Sent.Count | Should -Be 3
        (@($script:Sent[2].Params['identity']) -join ';') | Should -Be 'e'
        $script:Sent[0].Params.Contains('batchSize') | Should -BeFalse
    }

    It 'reports a failing group once, as a non-terminating error whose target is its result, and goes on' {
        $results = @('CN=G1,DC=x', 'CN=Broken,DC=x', 'CN=G3,DC=x' | Upgrade-Group -AnswerFile 'answers.json' -Confirm:$false -ErrorVariable failures -ErrorAction SilentlyContinue -WarningVariable warned 3>$null)
        @($results | ForEach-Object { $_.distinguishedName }) | Should -Be @('CN=G1,DC=x', 'CN=G3,DC=x')
        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'GroupDefinitionInvalid*'
        $failures[0].TargetObject.status | Should -Be 'Failed'
        $failures[0].TargetObject.distinguishedName | Should -Be 'CN=Broken,DC=x'
        $failures[0].ErrorDetails.RecommendedAction | Should -Be 'Fix the definition.'
        $warned | Should -BeNullOrEmpty
    }

    It 'stops at a failing group with -ErrorAction Stop' {
        { 'CN=Broken,DC=x', 'CN=G2,DC=x' | Upgrade-Group -AnswerFile 'answers.json' -Confirm:$false -BatchSize 1 -ErrorAction Stop } | Should -Throw -ErrorId 'GroupDefinitionInvalid*'
        $script:Sent.Count | Should -Be 1
    }

    It 'sends the vendor parameters in camelCase and -WhatIf as whatIf' {
        Update-GroupIDGroup -AnswerFile 'answers.json' -SearchContainer 'OU=Jobs,DC=corp,DC=example,DC=com' -SearchContainersScopeList 1 -GroupType 2 -KeepUserHistory -WhatIf
        $params = $script:Sent[0].Params
        $params['whatIf'] | Should -BeTrue
        $params['keepUserHistory'] | Should -BeTrue
        @($params['searchContainerScopeList'])[0] | Should -Be 1
        @($params['groupType'])[0] | Should -Be 2
        $params.Contains('identity') | Should -BeFalse
    }

    It 'with no selector at all upgrades the store, as the vendor''s Upgrade-Group does (one request, no identity)' {
        Update-GroupIDGroup -AnswerFile 'answers.json' -Confirm:$false | Out-Null
        $script:Sent.Count | Should -Be 1
        $script:Sent[0].Method | Should -Be 'group.upgrade'
        $script:Sent[0].Params.Contains('identity') | Should -BeFalse
        $script:Sent[0].Params.Contains('searchContainer') | Should -BeFalse
    }

    It 'sends nothing when the pipeline is empty' {
        @() | Update-GroupIDGroup -AnswerFile 'answers.json'
        $script:Sent.Count | Should -Be 0
    }
}

Describe 'Requests and errors' -Tag 'Unit' {
    It 'keeps secrets secure until the request JSON, and writes them there as text' {
        InModuleScope GroupIDUpgrade {
            $secure = ConvertTo-SecureString 'canary-9f3a' -AsPlainText -Force
            $credential = New-Object System.Management.Automation.PSCredential -ArgumentList 'CORP\svc', $secure
            ConvertTo-GroupIDEngineJson -InputObject ([ordered]@{ a = [ordered]@{ userName = 'CORP\svc'; password = $secure }; b = $credential; n = 3; t = $true; q = "x`"y`n" }) |
                Should -Be '{"a":{"userName":"CORP\\svc","password":"canary-9f3a"},"b":{"userName":"CORP\\svc","password":"canary-9f3a"},"n":3,"t":true,"q":"x\"y\n"}'
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

    It 'throws a request-level engine error from the cmdlet itself (its name in the position, not a private file), whatever -ErrorAction says' {
        Mock -ModuleName GroupIDUpgrade Get-GroupIDEngine { New-MockedEngine -Cmdlet $Cmdlet }
        Mock -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest {
            New-Answer -ErrorObject ([pscustomobject]@{ code = -32000; message = '3 questions are open.'; data = [pscustomobject]@{ errorId = 'QuestionsOpen'; category = 'InvalidOperation' } })
        }
        $caught = $null
        try { Invoke-GroupIDUpgrade -AnswerFile 'a.json' -Confirm:$false -ErrorAction SilentlyContinue } catch { $caught = $_ }
        $caught | Should -Not -BeNullOrEmpty
        $caught.FullyQualifiedErrorId | Should -BeLike 'QuestionsOpen,Invoke-GroupIDUpgrade'
        $caught.InvocationInfo.MyCommand.Name | Should -Be 'Invoke-GroupIDUpgrade'
        $caught.InvocationInfo.ScriptName | Should -Not -Match 'private'
        $caught.CategoryInfo.Category | Should -Be ([System.Management.Automation.ErrorCategory]::InvalidOperation)
    }

    It 'names every place it looked when the engine is not found, from the cmdlet' {
        $saved = $env:GROUPID_UPGRADE_PYTHON
        try {
            $env:GROUPID_UPGRADE_PYTHON = Join-Path $TestDrive 'no-python.exe'
            $caught = $null
            try { Get-GroupIDUpgradePlan -AnswerFile 'answers.json' } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -BeLike 'EngineNotFound,Get-GroupIDUpgradePlan'
            $caught.InvocationInfo.MyCommand.Name | Should -Be 'Get-GroupIDUpgradePlan'
            "$caught" | Should -Match 'no-python.exe'
            $caught.ErrorDetails.RecommendedAction | Should -Match 'GROUPID_UPGRADE_PYTHON'
        }
        finally {
            $env:GROUPID_UPGRADE_PYTHON = $saved
        }
    }

    It 'never writes a secret to Verbose or Debug' {
        Mock -ModuleName GroupIDUpgrade Get-GroupIDEngine { New-MockedEngine -Cmdlet $Cmdlet }
        Mock -ModuleName GroupIDUpgrade Invoke-GroupIDEngineRequest { New-Answer -Result ([pscustomobject]@{ items = @(); questions = @(); warnings = @() }) }
        $secure = ConvertTo-SecureString 'canary-verbose-88a' -AsPlainText -Force
        $streams = Get-GroupIDUpgradePlan -AnswerFile 'a.json' -TargetPassphrase $secure -Verbose -Debug 4>&1 5>&1 6>&1 | Out-String
        $streams | Should -Not -Match 'canary-verbose-88a'
    }
}
