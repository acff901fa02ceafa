#Requires -Module @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# End to end with the real engine on a generated sample installation (issue 8). Needs a python
# with the groupid-upgrade package: $env:GROUPID_UPGRADE_PYTHON, or the repository's .venv.

BeforeAll {
    $repo = Split-Path -Parent $PSScriptRoot
    if (-not $env:GROUPID_UPGRADE_PYTHON) {
        foreach ($candidate in @((Join-Path $repo '.venv/bin/python'), (Join-Path $repo '.venv\Scripts\python.exe'))) {
            if (Test-Path -LiteralPath $candidate) { $env:GROUPID_UPGRADE_PYTHON = $candidate; break }
        }
    }
    $script:Python = $env:GROUPID_UPGRADE_PYTHON
    Get-Module GroupIDUpgrade | Remove-Module -Force
    Import-Module (Join-Path $repo 'powershell/GroupIDUpgrade.psd1') -Force
    $script:Sample = Join-Path $TestDrive 'sample'
    & $script:Python -m groupid_upgrade sample --out $script:Sample | Out-Null
    $script:Answers = Join-Path $script:Sample 'answers.json'
    $script:TargetDb = Join-Path $script:Sample 'target/GroupID11.db'
}

AfterAll {
    Get-Module GroupIDUpgrade | Remove-Module -Force
}

Describe 'The sample installation, end to end' {
    It 'plans with every question answered' {
        $plan = Get-GroupIDUpgradePlan -AnswerFile $script:Answers
        $plan.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.Plan'
        @($plan.items).Count | Should -BeGreaterThan 0
        $plan.items[0].PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.PlanItem'
        @($plan.questions | Where-Object { -not $_.answered }).Count | Should -Be 0
    }

    It '-WhatIf writes nothing' {
        $before = Test-Path -LiteralPath $script:TargetDb
        Invoke-GroupIDUpgrade -AnswerFile $script:Answers -WhatIf -InformationAction SilentlyContinue | Out-Null
        Test-Path -LiteralPath $script:TargetDb | Should -Be $before
    }

    It 'runs, one object per module, and a second run does nothing twice' {
        $first = @(Invoke-GroupIDUpgrade -AnswerFile $script:Answers -Confirm:$false)
        $first.Count | Should -BeGreaterThan 0
        $first | ForEach-Object { $_.PSObject.TypeNames[0] | Should -Be 'GroupIDUpgrade.ModuleResult' }
        $first | Where-Object { $_.status -eq 'Failed' } | Should -BeNullOrEmpty
        $second = @(Invoke-GroupIDUpgrade -AnswerFile $script:Answers -Confirm:$false)
        ($second | Measure-Object -Property done -Sum).Sum | Should -Be 0
    }

    It 'stops with an ErrorRecord carrying the engine errorId and category' {
        $missing = Join-Path $TestDrive 'missing.json'
        $caught = $null
        try { Get-GroupIDUpgradePlan -AnswerFile $missing -ErrorAction Stop } catch { $caught = $_ }
        $caught | Should -Not -BeNullOrEmpty
        $caught.FullyQualifiedErrorId | Should -Match '^AnswerFile(NotFound|Invalid)'
        $caught.CategoryInfo.Category | Should -BeIn @([System.Management.Automation.ErrorCategory]::ObjectNotFound, [System.Management.Automation.ErrorCategory]::InvalidArgument)
    }

    It 'backs up, and the set verifies' {
        $set = Join-Path $TestDrive 'set'
        $manifest = Backup-GroupIDData -AnswerFile $script:Answers -Destination $set -Include 'Database', 'SynchronizeJobs' -Confirm:$false |
            Where-Object { $_.PSObject.TypeNames[0] -eq 'GroupIDUpgrade.BackupManifest' }
        $manifest | Should -Not -BeNullOrEmpty
        $manifest | Test-GroupIDBackup -Quiet | Should -BeTrue
    }
}
