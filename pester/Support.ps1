# Shared by the Pester tests (dot-sourced in BeforeAll): the repository, the engine's python, a
# generated sample installation, the engine processes this session started, hashes of a tree.

$script:Repo = Split-Path -Parent $PSScriptRoot
if (-not $env:GROUPID_UPGRADE_PYTHON) {
    foreach ($candidate in @((Join-Path $script:Repo '.venv/bin/python'), (Join-Path $script:Repo '.venv\Scripts\python.exe'))) {
        if (Test-Path -LiteralPath $candidate) { $env:GROUPID_UPGRADE_PYTHON = $candidate; break }
    }
}
$script:Python = $env:GROUPID_UPGRADE_PYTHON
# GROUPID_TEST_MODULE_MANIFEST: a deliberately broken copy of the module, to show a test fails on it.
$script:ModuleManifest = $(if ($env:GROUPID_TEST_MODULE_MANIFEST) { $env:GROUPID_TEST_MODULE_MANIFEST } else { Join-Path $script:Repo 'powershell/GroupIDUpgrade.psd1' })
$script:Fixtures = Join-Path $PSScriptRoot 'fixtures'

function Import-GroupIDUpgradeForTest {
    Get-Module GroupIDUpgrade | Remove-Module -Force
    Import-Module $script:ModuleManifest -Force -WarningVariable importWarnings -WarningAction SilentlyContinue -ErrorVariable importErrors
    [pscustomobject]@{ Warnings = @($importWarnings); Errors = @($importErrors) }
}

function New-SampleInstallation {
    param(
        [Parameter(Mandatory)] [string] $Path,
        [int] $History = 500,
        [switch] $WithFaults,
        [string] $Version = '10.0'
    )
    $arguments = @('-m', 'groupid_upgrade', 'sample', '--out', $Path, '--history', $History, '--version', $Version)
    if ($WithFaults) { $arguments += '--with-faults' }
    $output = & $script:Python @arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "sample generation failed: $output" }
    Join-Path $Path 'answers.json'
}

function Invoke-Python {
    param([Parameter(Mandatory)] [string] $Code, [string[]] $Arguments = @())
    $output = & $script:Python -c $Code @Arguments 2>&1
    if ($LASTEXITCODE -ne 0) { throw "python failed: $output" }
    $output
}

function Get-TreeHash {
    # Every file's path, size, mode bits and SHA-256 under a folder, as one string: equal strings
    # mean nothing under it changed.
    param([Parameter(Mandatory)] [string] $Path)
    if (-not (Test-Path -LiteralPath $Path)) { return '(absent)' }
    $lines = foreach ($file in Get-ChildItem -LiteralPath $Path -Recurse -File -Force | Sort-Object FullName) {
        $hash = (Get-FileHash -LiteralPath $file.FullName -Algorithm SHA256).Hash
        '{0} {1} {2} {3}' -f $file.FullName.Substring($Path.Length), $file.Length, $file.LastWriteTimeUtc.Ticks, $hash
    }
    $lines -join "`n"
}

function Get-GroupIDModuleState {
    # The module's own view: the session's engine and every engine it started.
    $module = Get-Module GroupIDUpgrade
    & $module {
        $session = $script:SessionEngine
        [pscustomobject]@{
            SessionProcessId = $(if ($null -ne $session -and -not $session.Closed) { $session.ProcessId } else { $null })
            EnginesStarted   = @($script:EnginesStarted)
            LastStop         = $script:LastStop
        }
    }
}

function Get-EngineProcess {
    # The engine processes running as children of this PowerShell process (what the OS says).
    @(Get-Process | Where-Object {
            try { $_.Parent -and $_.Parent.Id -eq $PID -and $_.CommandLine -match 'groupid_upgrade|fake_engine' } catch { $false }
        })
}

function Test-ProcessAlive {
    param([Parameter(Mandatory)] [int] $Id)
    $process = Get-Process -Id $Id -ErrorAction SilentlyContinue
    $null -ne $process -and -not $process.HasExited
}

function Wait-ProcessGone {
    param([Parameter(Mandatory)] [int] $Id, [int] $Seconds = 15)
    $deadline = [datetime]::UtcNow.AddSeconds($Seconds)
    while ([datetime]::UtcNow -lt $deadline) {
        if (-not (Test-ProcessAlive -Id $Id)) { return $true }
        Start-Sleep -Milliseconds 100
    }
    -not (Test-ProcessAlive -Id $Id)
}

function Get-ProcessCommandLine {
    param([Parameter(Mandatory)] [int] $Id)
    $file = "/proc/$Id/cmdline"
    if (Test-Path -LiteralPath $file) { return ([System.IO.File]::ReadAllText($file) -replace "`0", ' ') }
    (Get-Process -Id $Id).CommandLine
}

function Get-TargetTableCount {
    # Rows of every Gid_* table of a SQLite target, as "table=count;..." (equal strings: the same target content counts).
    param([Parameter(Mandatory)] [string] $Database)
    $output = & $script:Python (Join-Path $script:Fixtures 'target_counts.py') $Database 2>&1
    if ($LASTEXITCODE -ne 0) { throw "target_counts.py failed: $output" }
    [string]$output
}

function New-FakeEngine {
    # A stand-in for the engine (pester/fixtures/fake_engine.py in one -Mode) that
    # $env:GROUPID_UPGRADE_PYTHON can point at: a shell script that ignores the module's arguments.
    param([Parameter(Mandatory)] [string] $Folder, [Parameter(Mandatory)] [string] $Mode)
    $script = Join-Path $Folder "fake-engine-$Mode"
    $body = "#!/bin/sh`nexec '$script:Python' '$(Join-Path $script:Fixtures 'fake_engine.py')' '$Mode'`n"
    [System.IO.File]::WriteAllText($script, $body)
    & chmod 755 $script
    $script
}
