#Requires -Module @{ ModuleName = 'Pester'; ModuleVersion = '5.0' }
# Who owns the engine process, counted through the operating system: one engine per session,
# reused, replaced when dead, ended when idle, with the module and with the host; never orphaned
# when a pipeline fails; a stopped pipeline cancels and waits for the engine's own answer, and the
# next run resumes exactly. Also the start-up defects: isolated python, handshake timeout, the
# last stderr lines of an engine that died, -Debug at Inquire.

BeforeAll {
    . (Join-Path $PSScriptRoot 'Support.ps1')
    $script:Answers = New-SampleInstallation -Path (Join-Path $TestDrive 'sample')
    $script:RealPython = $env:GROUPID_UPGRADE_PYTHON
    $script:Pwsh = $(if ($env:PWSH) { $env:PWSH } else { (Get-Command pwsh -CommandType Application | Select-Object -First 1).Source })

    function Invoke-ChildPwsh {
        # Runs a script in a new pwsh, as a scheduled task would, and returns its exit code and output.
        param([Parameter(Mandatory)] [string] $Script, [string[]] $Arguments = @())
        $file = Join-Path $TestDrive ("child-" + [guid]::NewGuid().ToString('N') + '.ps1')
        [System.IO.File]::WriteAllText($file, $Script)
        $output = & $script:Pwsh -NoProfile -NonInteractive -File $file @Arguments 2>&1 | Out-String
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = $output }
    }
}

AfterAll {
    $env:GROUPID_UPGRADE_PYTHON = $script:RealPython
    Remove-Item -Path 'Env:GROUPID_UPGRADE_ENGINE_IDLE_SECONDS', 'Env:GROUPID_UPGRADE_HELLO_TIMEOUT_SECONDS' -ErrorAction SilentlyContinue
    Get-Module GroupIDUpgrade | Remove-Module -Force
}

Describe 'One engine per session' -Tag 'Session' {
    BeforeEach {
        $env:GROUPID_UPGRADE_PYTHON = $script:RealPython
        Remove-Item Env:GROUPID_UPGRADE_ENGINE_IDLE_SECONDS -ErrorAction SilentlyContinue
        Import-GroupIDUpgradeForTest | Out-Null
    }
    AfterEach {
        Get-Module GroupIDUpgrade | Remove-Module -Force
    }

    It 'starts one engine on first use and reuses it for every later cmdlet call' {
        @(Get-EngineProcess).Count | Should -Be 0
        Get-GroupIDUpgradePlan -AnswerFile $script:Answers | Out-Null
        $first = (Get-GroupIDModuleState).SessionProcessId
        $first | Should -Not -BeNullOrEmpty
        Get-GroupIDUpgradePlan -AnswerFile $script:Answers | Out-Null
        Invoke-GroupIDUpgrade -AnswerFile $script:Answers -WhatIf | Out-Null
        1..5 | ForEach-Object { Get-GroupIDUpgradePlan -AnswerFile $script:Answers } | Out-Null
        $state = Get-GroupIDModuleState
        $state.EnginesStarted | Should -Be @($first)
        @(Get-EngineProcess | ForEach-Object { $_.Id }) | Should -Be @($first)
    }

    It 'replaces a dead engine transparently' {
        Get-GroupIDUpgradePlan -AnswerFile $script:Answers | Out-Null
        $first = (Get-GroupIDModuleState).SessionProcessId
        Stop-Process -Id $first -Force
        Wait-ProcessGone -Id $first | Should -BeTrue
        $plan = Get-GroupIDUpgradePlan -AnswerFile $script:Answers
        $plan | Should -Not -BeNullOrEmpty
        $second = (Get-GroupIDModuleState).SessionProcessId
        $second | Should -Not -Be $first
        @(Get-EngineProcess | ForEach-Object { $_.Id }) | Should -Be @($second)
    }

    It 'ends an idle engine by itself, and starts a new one on the next call' {
        $env:GROUPID_UPGRADE_ENGINE_IDLE_SECONDS = '2'
        Get-GroupIDUpgradePlan -AnswerFile $script:Answers | Out-Null
        $first = (Get-GroupIDModuleState).SessionProcessId
        Wait-ProcessGone -Id $first -Seconds 15 | Should -BeTrue
        Get-GroupIDUpgradePlan -AnswerFile $script:Answers | Out-Null
        (Get-GroupIDModuleState).SessionProcessId | Should -Not -Be $first
        @(Get-EngineProcess).Count | Should -Be 1
    }

    It 'ends the engine when the module is removed' {
        Get-GroupIDUpgradePlan -AnswerFile $script:Answers | Out-Null
        $engine = (Get-GroupIDModuleState).SessionProcessId
        Remove-Module GroupIDUpgrade -Force
        Wait-ProcessGone -Id $engine -Seconds 15 | Should -BeTrue
        @(Get-EngineProcess).Count | Should -Be 0
    }

    It 'leaves no engine behind when the upstream command throws before or after the first input' {
        { & { throw 'upstream failed before any input' } | Upgrade-Group -AnswerFile $script:Answers -Confirm:$false } | Should -Throw '*before any input*'
        { & { 'CN=G1,DC=corp,DC=example,DC=com'; throw 'upstream failed after one input' } | Upgrade-Group -AnswerFile $script:Answers -Confirm:$false } | Should -Throw '*after one input*'
        { & { 'CN=G1,DC=corp,DC=example,DC=com'; throw 'upstream failed after a sent batch' } | Upgrade-Group -AnswerFile $script:Answers -BatchSize 1 -Confirm:$false } | Should -Throw
        $state = Get-GroupIDModuleState
        $alive = @(Get-EngineProcess | ForEach-Object { $_.Id })
        $alive.Count | Should -BeLessOrEqual 1
        if ($alive.Count -eq 1) { $alive[0] | Should -Be $state.SessionProcessId }
        foreach ($id in $state.EnginesStarted) { if ($id -ne $state.SessionProcessId) { Test-ProcessAlive -Id $id | Should -BeFalse } }
    }

    It 'gives a cmdlet downstream of another in one pipeline an engine of its own for that request, ended with it' {
        $set = Join-Path $TestDrive 'pipe-set'
        Backup-GroupIDData -AnswerFile $script:Answers -Destination $set -Include 'Database' -Confirm:$false | Test-GroupIDBackup -Quiet | Should -BeTrue
        $state = Get-GroupIDModuleState
        @(Get-EngineProcess | ForEach-Object { $_.Id }) | Should -Be @($state.SessionProcessId)
    }
}

Describe 'The engine ends with its host' -Tag 'Session' {
    It 'when the host exits normally' {
        $pidFile = Join-Path $TestDrive 'engine-pid-exit.txt'
        $child = Invoke-ChildPwsh -Script @"
Import-Module '$script:ModuleManifest'
Get-GroupIDUpgradePlan -AnswerFile '$script:Answers' | Out-Null
`$id = & (Get-Module GroupIDUpgrade) { `$script:SessionEngine.ProcessId }
Set-Content -LiteralPath '$pidFile' -Value `$id
exit 0
"@
        $child.ExitCode | Should -Be 0 -Because $child.Output
        $engine = [int](Get-Content -LiteralPath $pidFile)
        Wait-ProcessGone -Id $engine -Seconds 15 | Should -BeTrue
    }

    It 'when the host is killed (the engine sees its stdin close)' {
        $pidFile = Join-Path $TestDrive 'engine-pid-kill.txt'
        $file = Join-Path $TestDrive 'child-killed.ps1'
        [System.IO.File]::WriteAllText($file, @"
Import-Module '$script:ModuleManifest'
Get-GroupIDUpgradePlan -AnswerFile '$script:Answers' | Out-Null
`$id = & (Get-Module GroupIDUpgrade) { `$script:SessionEngine.ProcessId }
Set-Content -LiteralPath '$pidFile' -Value "`$PID `$id"
Start-Sleep -Seconds 300
"@)
        $host_ = Start-Process -FilePath $script:Pwsh -ArgumentList @('-NoProfile', '-NonInteractive', '-File', $file) -PassThru
        $deadline = [datetime]::UtcNow.AddSeconds(60)
        while (-not (Test-Path -LiteralPath $pidFile) -and [datetime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
        Start-Sleep -Milliseconds 300
        # The host as the script saw it ($PID): a pwsh started through a launcher is that launcher's child.
        $hostId, $engine = @((Get-Content -LiteralPath $pidFile) -split ' ' | ForEach-Object { [int]$_ })
        Test-ProcessAlive -Id $engine | Should -BeTrue
        Stop-Process -Id $hostId -Force
        Stop-Process -Id $host_.Id -Force -ErrorAction SilentlyContinue
        Wait-ProcessGone -Id $engine -Seconds 15 | Should -BeTrue
    }
}

Describe 'Starting the engine' -Tag 'Session' {
    BeforeEach {
        Import-GroupIDUpgradeForTest | Out-Null
    }
    AfterEach {
        $env:GROUPID_UPGRADE_PYTHON = $script:RealPython
        Remove-Item Env:GROUPID_UPGRADE_HELLO_TIMEOUT_SECONDS -ErrorAction SilentlyContinue
        Get-Module GroupIDUpgrade | Remove-Module -Force
    }

    It 'never imports a module from the caller''s current folder (a json.py there)' {
        $folder = Join-Path $TestDrive 'hostile-cwd'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $marker = Join-Path $TestDrive 'json-imported.txt'
        Set-Content -LiteralPath (Join-Path $folder 'json.py') -Value "open(r'$marker', 'w').write('imported')`nraise SystemExit(9)"
        Push-Location $folder
        try {
            $plan = Get-GroupIDUpgradePlan -AnswerFile $script:Answers
        }
        finally { Pop-Location }
        $plan | Should -Not -BeNullOrEmpty
        Test-Path -LiteralPath $marker | Should -BeFalse
        $engine = (Get-GroupIDModuleState).SessionProcessId
        (Get-ProcessCommandLine -Id $engine) | Should -Match '-I -X utf8 -m groupid_upgrade serve'
        if (Test-Path -LiteralPath "/proc/$engine/cwd") {
            (Get-Item -LiteralPath "/proc/$engine/cwd").Target | Should -Not -Be $folder -Because 'the engine never runs in the caller''s folder'
        }
    }

    It 'names the last stderr lines of an engine that exits before answering' {
        $env:GROUPID_UPGRADE_PYTHON = New-FakeEngine -Folder $TestDrive -Mode 'stderr-exit'
        $caught = $null
        try { Get-GroupIDUpgradePlan -AnswerFile $script:Answers } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -Be 'EngineExited,Get-GroupIDUpgradePlan'
        "$caught" | Should -Match 'the last words before exit 3'
        "$caught" | Should -Match 'exit code 3'
        @(Get-EngineProcess).Count | Should -Be 0
    }

    It 'gives up on an engine that does not answer engine.hello in time, and ends it' {
        $env:GROUPID_UPGRADE_PYTHON = New-FakeEngine -Folder $TestDrive -Mode 'silent'
        $env:GROUPID_UPGRADE_HELLO_TIMEOUT_SECONDS = '2'
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        { Get-GroupIDUpgradePlan -AnswerFile $script:Answers } | Should -Throw -ErrorId 'EngineStartFailed,Get-GroupIDUpgradePlan'
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 20
        $started = (Get-GroupIDModuleState).EnginesStarted
        @(Get-EngineProcess).Count | Should -Be 0
    }

    It 'throws an engine''s InternalError from the cmdlet, and -Debug at Inquire never prompts for its stderr lines' {
        $fake = New-FakeEngine -Folder $TestDrive -Mode 'internal-error'
        $child = Invoke-ChildPwsh -Script @"
`$env:GROUPID_UPGRADE_PYTHON = '$fake'
`$DebugPreference = 'Inquire'
Import-Module '$script:ModuleManifest'
try { Get-GroupIDUpgradePlan -AnswerFile '$script:Answers' -ErrorAction Stop }
catch { 'caught ' + `$_.FullyQualifiedErrorId; exit 7 }
exit 0
"@
        $child.Output | Should -Match 'caught InternalError,Get-GroupIDUpgradePlan'
        $child.Output | Should -Not -Match 'PromptingForInput|NonInteractive|prompt'
        $child.ExitCode | Should -Be 7
    }

    It 'refuses an engine that writes something other than protocol on stdout' {
        $env:GROUPID_UPGRADE_PYTHON = New-FakeEngine -Folder $TestDrive -Mode 'not-json'
        { Get-GroupIDUpgradePlan -AnswerFile $script:Answers } | Should -Throw -ErrorId 'EngineOutputInvalid,Get-GroupIDUpgradePlan'
    }
}

Describe 'Stopping a pipeline mid-run (Ctrl+C, a runspace''s Stop())' -Tag 'Session' {
    It 'cancels mid-history, waits for the engine''s own answer, says how it stopped, and the next run resumes exactly' {
        $history = 80000
        $reference = New-SampleInstallation -Path (Join-Path $TestDrive 'reference') -History $history
        Import-GroupIDUpgradeForTest | Out-Null
        (Invoke-GroupIDUpgrade -AnswerFile $reference -Confirm:$false).Status | Should -Be 'Succeeded'
        Get-Module GroupIDUpgrade | Remove-Module -Force
        $expected = Get-TargetTableCount -Database (Join-Path $TestDrive 'reference/target/GroupID11.db')

        $answers = New-SampleInstallation -Path (Join-Path $TestDrive 'cancelled') -History $history
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        try {
            $run = [powershell]::Create()
            $run.Runspace = $runspace
            [void]$run.AddScript("Import-Module '$script:ModuleManifest'; Invoke-GroupIDUpgrade -AnswerFile '$answers' -Confirm:`$false")
            $async = $run.BeginInvoke()
            $deadline = [datetime]::UtcNow.AddSeconds(120)
            $inHistory = $false
            while (-not $inHistory -and -not $async.IsCompleted -and [datetime]::UtcNow -lt $deadline) {
                $inHistory = @($run.Streams.Progress | Where-Object { $_.Activity -like 'Upgrading the history*' -and $_.PercentComplete -ge 5 }).Count -gt 0
                Start-Sleep -Milliseconds 100
            }
            $inHistory | Should -BeTrue -Because 'the run reached the History module before it was stopped'
            $run.Stop()
            $async.IsCompleted | Should -BeTrue
            $run.InvocationStateInfo.State | Should -Be 'Stopped'

            $ask = [powershell]::Create()
            $ask.Runspace = $runspace
            [void]$ask.AddScript('& (Get-Module GroupIDUpgrade) { [pscustomobject]@{ LastStop = $script:LastStop; Session = $script:SessionEngine.ProcessId } }')
            $state = $ask.Invoke()[0]
            $state.LastStop.Outcome | Should -Be 'Cancelled'
            $state.LastStop.ErrorId | Should -Be 'RequestCancelled'
            $state.LastStop.Method | Should -Be 'upgrade.run'
            $state.LastStop.Message | Should -Match 'run the command again to resume'
            Test-ProcessAlive -Id $state.LastStop.ProcessId | Should -BeTrue -Because 'an engine that answered its cancel is kept for the next call'

            $partial = Get-TargetTableCount -Database (Join-Path $TestDrive 'cancelled/target/GroupID11.db')
            $partial | Should -Not -Be $expected

            $resume = [powershell]::Create()
            $resume.Runspace = $runspace
            [void]$resume.AddScript("(Invoke-GroupIDUpgrade -AnswerFile '$answers' -Confirm:`$false).Status; Remove-Module GroupIDUpgrade")
            @($resume.Invoke()) | Should -Be @('Succeeded')
            Get-TargetTableCount -Database (Join-Path $TestDrive 'cancelled/target/GroupID11.db') | Should -Be $expected
            Wait-ProcessGone -Id $state.LastStop.ProcessId -Seconds 15 | Should -BeTrue
        }
        finally {
            $runspace.Dispose()
        }
    }
}
