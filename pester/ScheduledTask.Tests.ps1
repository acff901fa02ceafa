#Requires -Module @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# The README's scheduled-task script, run as a task runs it (pwsh -NoProfile -NonInteractive
# -File): exit 0 only on success, non-zero on every failure the engine or the module can report.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support.ps1')
    $script:Pwsh = $(if ($env:PWSH) { $env:PWSH } else { (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source })
    $readme = Get-Content -LiteralPath (Join-Path $script:Repo 'README.md') -Raw
    $match = [regex]::Match($readme, '<!-- scheduled-task-script -->\s*```powershell\r?\n(?<code>.*?)```', 'Singleline')
    if (-not $match.Success) { throw 'README.md has no script after <!-- scheduled-task-script -->' }
    $script:TaskScript = Join-Path $TestDrive 'Upgrade-GroupID.ps1'
    # Import-Module GroupIDUpgrade finds the module by name, as on an installed machine.
    [System.IO.File]::WriteAllText($script:TaskScript, $match.Groups['code'].Value)
    $script:ModulePath = Split-Path -Parent (Split-Path -Parent $script:ModuleManifest)
    $script:RealPython = $env:GROUPID_UPGRADE_PYTHON

    function Invoke-Task {
        # Runs the task script in a new pwsh with the module on PSModulePath; returns exit code and output.
        param([Parameter(Mandatory)] [string] $AnswerFile, [string] $Python = $script:RealPython)
        $modules = Join-Path $TestDrive 'modules'
        if (-not (Test-Path -LiteralPath (Join-Path $modules 'GroupIDUpgrade'))) {
            New-Item -ItemType Directory -Path $modules -Force | Out-Null
            New-Item -ItemType SymbolicLink -Path (Join-Path $modules 'GroupIDUpgrade') -Target (Join-Path $script:Repo 'powershell') | Out-Null
        }
        $saved = @{ PSModulePath = $env:PSModulePath; Python = $env:GROUPID_UPGRADE_PYTHON }
        try {
            $env:PSModulePath = $modules + [System.IO.Path]::PathSeparator + $env:PSModulePath
            $env:GROUPID_UPGRADE_PYTHON = $Python
            $backups = Join-Path $TestDrive ('backups-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
            $output = & $script:Pwsh -NoProfile -NonInteractive -File $script:TaskScript -AnswerFile $AnswerFile -BackupRoot $backups 2>&1 | Out-String
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = $output; Backups = $backups }
        }
        finally {
            $env:PSModulePath = $saved.PSModulePath
            $env:GROUPID_UPGRADE_PYTHON = $saved.Python
        }
    }
}

Describe 'The scheduled-task script in the README' -Tag 'ScheduledTask' {
    It 'exits 0 after a run that succeeded and a backup that verifies' {
        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'ok')
        $task = Invoke-Task -AnswerFile $answers
        $task.ExitCode | Should -Be 0 -Because $task.Output
        @(Get-ChildItem -LiteralPath $task.Backups -Directory).Count | Should -Be 1
    }

    It 'exits non-zero when the engine is not found' {
        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'noengine')
        $task = Invoke-Task -AnswerFile $answers -Python (Join-Path $TestDrive 'no-such-python')
        $task.ExitCode | Should -Not -Be 0
        $task.Output | Should -Match 'EngineNotFound|engine was not found'
    }

    It 'exits non-zero while questions are open' {
        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'questions')
        $data = Get-Content -LiteralPath $answers -Raw | ConvertFrom-Json
        $data.answers.PSObject.Properties.Remove(@($data.answers.PSObject.Properties)[0].Name)
        $data | ConvertTo-Json -Depth 32 | Set-Content -LiteralPath $answers
        $task = Invoke-Task -AnswerFile $answers
        $task.ExitCode | Should -Not -Be 0
        $task.Output | Should -Match 'question'
    }

    It 'exits non-zero when a module ends PartiallySucceeded (bad items in the source)' {
        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'faults') -WithFaults
        $task = Invoke-Task -AnswerFile $answers
        $task.ExitCode | Should -Not -Be 0
        $task.Output | Should -Match 'Invoke-GroupIDUpgrade'
        $task.Output | Should -Match 'PartiallySucceeded|cannot be parsed|cannot be read|Recommendation'
    }

    It 'exits non-zero when the answer file is broken' {
        $broken = Join-Path $TestDrive 'broken.json'
        Set-Content -LiteralPath $broken -Value '{ "formatVersion": 1, "source": '
        $task = Invoke-Task -AnswerFile $broken
        $task.ExitCode | Should -Not -Be 0
        $task.Output | Should -Match 'AnswerFile|answer file'
    }

    It 'exits non-zero on an internal error of the engine' {
        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'internal')
        $task = Invoke-Task -AnswerFile $answers -Python (New-FakeEngine -Folder $TestDrive -Mode 'internal-error')
        $task.ExitCode | Should -Not -Be 0
        $task.Output | Should -Match 'unexpectedly|InternalError'
    }

    It 'exits non-zero when the backup set does not verify' {
        # A backup root that is a file: the set cannot be written, and what exists cannot verify.
        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'badset')
        $modules = Join-Path $TestDrive 'modules'
        $script = Get-Content -LiteralPath $script:TaskScript -Raw
        $tampered = Join-Path $TestDrive 'Upgrade-GroupID-tampered.ps1'
        # The same script, with the set damaged right after it is written (as bad media would).
        $script = $script.Replace('if (-not ($manifest | Test-GroupIDBackup -Quiet)) {', "Get-ChildItem -LiteralPath `$set -Recurse -File -Filter '*.db' | ForEach-Object { [System.IO.File]::WriteAllText(`$_.FullName, 'damaged') }`nif (-not (`$manifest | Test-GroupIDBackup -Quiet)) {")
        [System.IO.File]::WriteAllText($tampered, $script)
        $saved = $script:TaskScript
        try {
            $script:TaskScript = $tampered
            $task = Invoke-Task -AnswerFile $answers
        }
        finally { $script:TaskScript = $saved }
        $task.ExitCode | Should -Be 4 -Because $task.Output
        $task.Output | Should -Match 'does not verify'
    }
}

Describe 'A scheduled Upgrade-Group' -Tag 'ScheduledTask' {
    It 'exits non-zero when the prerequisite (the first run) is not met' {
        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'prereq')
        $data = Get-Content -LiteralPath $answers -Raw | ConvertFrom-Json
        $data | Add-Member -NotePropertyName directories -NotePropertyValue ([pscustomobject]@{ 'corp.example.com' = [pscustomobject]@{ url = 'ldaps://127.0.0.1:1'; credential = [pscustomobject]@{ userName = 'x'; password = 'y' } } }) -Force
        $data | ConvertTo-Json -Depth 32 | Set-Content -LiteralPath $answers
        $file = Join-Path $TestDrive 'groups-task.ps1'
        [System.IO.File]::WriteAllText($file, @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:ModuleManifest'
Upgrade-Group -AnswerFile '$answers' -SearchContainer 'OU=Sales,DC=corp,DC=example,DC=com' -Confirm:`$false
exit 0
"@)
        $output = & $script:Pwsh -NoProfile -NonInteractive -File $file 2>&1 | Out-String
        $LASTEXITCODE | Should -Not -Be 0
        $output | Should -Match 'Update-GroupIDGroup'
        $output | Should -Match 'needs Configuration and History upgraded'
    }
}
