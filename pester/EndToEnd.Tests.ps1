#Requires -Module @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# End to end with the real engine on generated sample installations (SQLite, no servers): every
# cmdlet, -WhatIf, re-runs, backup / verify / restore, errors, and secrets.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support.ps1')
    Import-GroupIDUpgradeForTest | Out-Null
    $script:Sample = Join-Path $TestDrive 'sample'
    $script:Answers = New-SampleInstallation -Path $script:Sample
    $script:TargetDb = Join-Path $script:Sample 'target/GroupID11.db'
    $script:SourceHash = Get-TreeHash -Path (Join-Path $script:Sample 'source')
}

AfterAll {
    Get-Module GroupIDUpgrade | Remove-Module -Force
}

Describe 'The sample installation, end to end' -Tag 'EndToEnd' {
    It 'plans with every question answered' {
        $plan = Get-GroupIDUpgradePlan -AnswerFile $script:Answers
        $plan.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.Plan'
        @($plan.items).Count | Should -BeGreaterThan 0
        $plan.items[0].PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.PlanItem'
        @($plan.questions | Where-Object { -not $_.answered }).Count | Should -Be 0
        ($plan.items | Format-Table | Out-String) | Should -Match 'Action'
    }

    It '-WhatIf writes nothing: the target and the source are unchanged' {
        $targetBefore = Get-TreeHash -Path (Join-Path $script:Sample 'target')
        $result = Invoke-GroupIDUpgrade -AnswerFile $script:Answers -WhatIf
        $result.whatIf | Should -BeTrue
        Get-TreeHash -Path (Join-Path $script:Sample 'target') | Should -Be $targetBefore
        Get-TreeHash -Path (Join-Path $script:Sample 'source') | Should -Be $script:SourceHash
    }

    It 'runs: one RunResult, Status Succeeded, a ModuleResult per module; modules streamed on the information stream as they finish' {
        $result = Invoke-GroupIDUpgrade -AnswerFile $script:Answers -Confirm:$false -InformationVariable info
        @($result).Count | Should -Be 1
        $result.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.RunResult'
        $result.Status | Should -Be 'Succeeded'
        @($result.modules | ForEach-Object { $_.PSObject.TypeNames[0] } | Select-Object -Unique) | Should -Be @('GroupIDUpgrade.ModuleResult')
        ($result | Out-String) | Should -Match 'Configuration: Succeeded'
        $streamed = @($info | Where-Object { $_.Tags -contains 'ModuleResult' })
        $streamed.Count | Should -Be @($result.modules).Count
        "$($streamed[0].MessageData)" | Should -Match '^ModuleResult: module=Configuration'
        Get-TreeHash -Path (Join-Path $script:Sample 'source') | Should -Be $script:SourceHash
    }

    It 're-runs without doing anything twice' {
        $before = Get-TargetTableCount -Database $script:TargetDb
        $second = Invoke-GroupIDUpgrade -AnswerFile $script:Answers -Confirm:$false
        $second.Status | Should -Be 'Succeeded'
        ($second.modules | Measure-Object -Property done -Sum).Sum | Should -Be 0
        ($second.modules | Measure-Object -Property alreadyDone -Sum).Sum | Should -BeGreaterThan 0
        Get-TargetTableCount -Database $script:TargetDb | Should -Be $before
    }

    It 'runs one module at a time with -Module' {
        $sample = Join-Path $TestDrive 'modules'
        $answers = New-SampleInstallation -Path $sample
        $result = Invoke-GroupIDUpgrade -AnswerFile $answers -Module Configuration -Confirm:$false
        @($result.modules | Where-Object { $_.status -ne 'Skipped' } | ForEach-Object { $_.module }) | Should -Be @('Configuration')
    }

    It 'stops with an ErrorRecord carrying the engine errorId and category, from the cmdlet' {
        $missing = Join-Path $TestDrive 'missing.json'
        $caught = $null
        try { Get-GroupIDUpgradePlan -AnswerFile $missing -ErrorAction Stop } catch { $caught = $_ }
        $caught | Should -Not -BeNullOrEmpty
        $caught.FullyQualifiedErrorId | Should -Match '^AnswerFile(NotFound|Invalid),Get-GroupIDUpgradePlan$'
        $caught.CategoryInfo.Category | Should -BeIn @([System.Management.Automation.ErrorCategory]::ObjectNotFound, [System.Management.Automation.ErrorCategory]::InvalidArgument)
        $caught.InvocationInfo.MyCommand.Name | Should -Be 'Get-GroupIDUpgradePlan'
        $caught.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }

    It 'refuses to run while questions are open (QuestionsOpen), naming them' {
        $sample = Join-Path $TestDrive 'open'
        $answers = New-SampleInstallation -Path $sample
        $data = Get-Content -LiteralPath $answers -Raw | ConvertFrom-Json
        $first = @($data.answers.PSObject.Properties)[0].Name
        $data.answers.PSObject.Properties.Remove($first)
        $data | ConvertTo-Json -Depth 32 | Set-Content -LiteralPath $answers
        $plan = Get-GroupIDUpgradePlan -AnswerFile $answers
        @($plan.questions | Where-Object { -not $_.answered } | ForEach-Object { $_.id }) | Should -Contain $first
        { Invoke-GroupIDUpgrade -AnswerFile $answers -Confirm:$false } | Should -Throw -ErrorId 'QuestionsOpen,Invoke-GroupIDUpgrade'
        Test-Path -LiteralPath (Join-Path $sample 'target/GroupID11.db') | Should -BeFalse
    }

    It 'backs up; Test-GroupIDBackup -Quiet says $true; a flipped byte makes it $false and the report names the file' {
        $set = Join-Path $TestDrive 'set'
        $manifest = Backup-GroupIDData -AnswerFile $script:Answers -Destination $set -Include 'Database', 'SynchronizeJobs', 'Reports' -Confirm:$false -InformationVariable parts
        $manifest.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.BackupManifest'
        $manifest.Path | Should -Be $set
        @($parts | Where-Object { $_.Tags -contains 'backupPart' }).Count | Should -Be 3
        $manifest | Test-GroupIDBackup -Quiet | Should -BeTrue
        $report = Test-GroupIDBackup -Path $set
        $report.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.VerifyReport'
        $file = Get-ChildItem -LiteralPath $set -Recurse -File | Where-Object { $_.Name -ne 'manifest.json' } | Select-Object -First 1
        $bytes = [System.IO.File]::ReadAllBytes($file.FullName)
        $bytes[0] = $bytes[0] -bxor 0xFF
        [System.IO.File]::WriteAllBytes($file.FullName, $bytes)
        Test-GroupIDBackup -Path $set -Quiet | Should -BeFalse
        $bad = Test-GroupIDBackup -Path $set -ErrorVariable problems -ErrorAction SilentlyContinue
        $problems[0].FullyQualifiedErrorId | Should -BeLike 'BackupSetInvalid*'
        ($bad | ConvertTo-Json -Depth 8) | Should -Match ([regex]::Escape($file.Name))
        Get-TreeHash -Path (Join-Path $script:Sample 'source') | Should -Be $script:SourceHash
    }

    It 'restores -To another root: every part back, byte for byte; -WhatIf first writes nothing' {
        $set = Join-Path $TestDrive 'set2'
        Backup-GroupIDData -AnswerFile $script:Answers -Destination $set -Include 'Database', 'SynchronizeJobs' -Confirm:$false | Out-Null
        $root = Join-Path $TestDrive 'restored'
        Restore-GroupIDData -Path $set -AnswerFile $script:Answers -Include All -To $root -WhatIf
        Test-Path -LiteralPath $root | Should -BeFalse
        $parts = @(Restore-GroupIDData -Path $set -AnswerFile $script:Answers -Include All -To $root -Confirm:$false)
        $parts.Count | Should -BeGreaterThan 0
        $parts[0].PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.RestorePart'
        $restoredDb = Get-ChildItem -LiteralPath $root -Recurse -File -Filter 'GroupID10.db' | Select-Object -First 1
        $restoredDb | Should -Not -BeNullOrEmpty
        $inSet = Get-ChildItem -LiteralPath $set -Recurse -File | Where-Object { $_.Extension -eq '.db' } | Select-Object -First 1
        (Get-FileHash $restoredDb.FullName).Hash | Should -Be (Get-FileHash $inSet.FullName).Hash
        $jobs = @(Get-ChildItem -LiteralPath $set -Recurse -File | Where-Object { $_.Extension -eq '.dtmconfig' })
        $jobs.Count | Should -BeGreaterThan 0
        foreach ($job in $jobs) {
            $back = @(Get-ChildItem -LiteralPath $root -Recurse -File -Filter $job.Name)
            $back.Count | Should -BeGreaterThan 0 -Because "$($job.Name) is in the set"
            (Get-FileHash $back[0].FullName).Hash | Should -Be (Get-FileHash $job.FullName).Hash
        }
    }

    It 'Upgrade-Group before the first run stops with PrerequisiteNotMet, naming what to run' {
        $sample = Join-Path $TestDrive 'prereq'
        $answers = New-SampleInstallation -Path $sample
        $data = Get-Content -LiteralPath $answers -Raw | ConvertFrom-Json
        $data | Add-Member -NotePropertyName directories -NotePropertyValue ([pscustomobject]@{ 'corp.example.com' = [pscustomobject]@{ url = 'ldaps://127.0.0.1:1'; credential = [pscustomobject]@{ userName = 'x'; password = 'y' } } }) -Force
        $data | ConvertTo-Json -Depth 32 | Set-Content -LiteralPath $answers
        $caught = $null
        try { Upgrade-Group -AnswerFile $answers -Identity 'CN=G1,DC=corp,DC=example,DC=com' -Confirm:$false } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -Be 'PrerequisiteNotMet,Update-GroupIDGroup'
        $caught.ErrorDetails.RecommendedAction | Should -Not -BeNullOrEmpty
    }
}

Describe 'Secrets given as SecureString and PSCredential' -Tag 'EndToEnd' {
    It 'never appear in -Verbose, -Debug, the information stream, a transcript or the engine''s command line' {
        $canary = 'Canary-Pass-' + [guid]::NewGuid().ToString('N').Substring(0, 12)
        $secure = ConvertTo-SecureString $canary -AsPlainText -Force
        $credential = New-Object System.Management.Automation.PSCredential -ArgumentList 'CORP\svc-canary', $secure
        $transcript = Join-Path $TestDrive 'transcript.txt'
        $sample = Join-Path $TestDrive 'secrets'
        $answers = New-SampleInstallation -Path $sample
        Start-Transcript -LiteralPath $transcript | Out-Null
        try {
            $streams = & {
                Get-GroupIDUpgradePlan -AnswerFile $answers -TargetPassphrase $secure -Secret @{ 'forest:corp.example.com:serviceAccount' = $credential } -Verbose -Debug
                Invoke-GroupIDUpgrade -AnswerFile $answers -TargetPassphrase $secure -Secret @{ 'forest:corp.example.com:serviceAccount' = $credential } -Confirm:$false -Verbose -Debug -InformationAction Continue
            } *>&1 | Out-String -Width 400
            $engine = (Get-GroupIDModuleState).SessionProcessId
            $commandLine = Get-ProcessCommandLine -Id $engine
        }
        finally {
            Stop-Transcript | Out-Null
        }
        $streams | Should -Match 'upgrade.run sent to the engine'
        $streams | Should -Not -Match $canary
        Get-Content -LiteralPath $transcript -Raw | Should -Not -Match $canary
        $commandLine | Should -Match 'groupid_upgrade serve'
        $commandLine | Should -Not -Match $canary
        foreach ($file in Get-ChildItem -LiteralPath (Join-Path $sample 'target') -Recurse -File) {
            [System.IO.File]::ReadAllText($file.FullName) | Should -Not -Match $canary -Because "$($file.Name) is written by the engine"
        }
    }
}
