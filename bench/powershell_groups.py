"""Upgrade-Group from PowerShell vs the CLI, and separate calls vs one pipeline (issues 14 and 19).

    python bench/powershell_groups.py [--groups N] [--loop N] [--quick] [--pwsh PATH] [--write-doc docs/performance.md]

Against the test bed's corp.example.com Samba DC (started when it is not up, stopped again then):
four OUs of N Smart Groups each (default 1,000; --quick: 100), then, in the same run:
  (a) pipe: N Get-ADGroup-shaped objects piped into ``Upgrade-Group`` in one pwsh call (the module's
      session engine, batches of 100), timed inside pwsh from the first object to the last result;
  (b) cli: ``groupid-upgrade group --search-container OU`` on the second OU, timed as a process;
  (c) loop: ``foreach ($g in $list) { Upgrade-Group -Identity $g }`` for the first L groups of the
      third OU (default 200; --quick: 50), one cmdlet call each, on the session's one engine;
  (d) piped: the same L groups of the fourth OU piped into one ``Upgrade-Group`` call.
Prints each figure and the lines ``pipe/cli: X`` (target <= 1.3) and ``loop/piped: X`` (target
<= 2), plus the engine's start-up seen from pwsh (process start to engine.hello answered) against
``python -c pass`` started from the same pwsh. pwsh: --pwsh, $PWSH, or pwsh on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.testbed import pester_groups  # noqa: E402

from bench._performance_doc import write_if_asked  # noqa: E402

MANIFEST = REPO / "powershell" / "GroupIDUpgrade.psd1"
PIPE_CLI_TARGET = 1.3  # issue #14: piping into Upgrade-Group costs at most 1.3x the CLI on the same groups
LOOP_PIPED_TARGET = 2.0  # issue #19: 200 separate calls from a pwsh loop <= 2x the same groups piped in one

PWSH_SCRIPT = r"""
param([string] $StateFile, [int] $Loop)
$ErrorActionPreference = 'Stop'
Import-Module '__MANIFEST__'
$state = Get-Content -LiteralPath $StateFile -Raw | ConvertFrom-Json
$answers = $state.answerFile
function ConvertTo-ADGroupShape {
    param([Parameter(ValueFromPipeline)] $Group)
    process {
        $o = [pscustomobject]@{ DistinguishedName = [string]$Group.distinguishedName; ObjectGUID = [guid]$Group.objectGuid; SamAccountName = [string]$Group.samAccountName }
        $o.PSObject.TypeNames.Insert(0, 'Microsoft.ActiveDirectory.Management.ADGroup')
        $o
    }
}
# Start-up seen from pwsh: a new engine to its engine.hello answer, against python -c pass.
$startup = & (Get-Module GroupIDUpgrade) {
    function Measure-GroupIDEngineStart {
        [CmdletBinding()] param()
        $found = Find-GroupIDEngine -Cmdlet $PSCmdlet
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        $engine = Start-GroupIDEngine -Cmdlet $PSCmdlet -Found $found
        $watch.Stop()
        Stop-GroupIDEngine -Engine $engine
        $watch.Elapsed.TotalMilliseconds
    }
    @(1..5 | ForEach-Object { Measure-GroupIDEngineStart }) | Sort-Object | Select-Object -Index 2
}
$bare = @(1..5 | ForEach-Object { (Measure-Command { & $env:GROUPID_UPGRADE_PYTHON -I -c pass }).TotalMilliseconds }) | Sort-Object | Select-Object -Index 2

$groups = @($state.ous[0].groups | ConvertTo-ADGroupShape)
$watch = [System.Diagnostics.Stopwatch]::StartNew()
$results = @($groups | Upgrade-Group -AnswerFile $answers -Confirm:$false)
$watch.Stop()
$pipeSeconds = $watch.Elapsed.TotalSeconds
if (@($results | Where-Object { $_.status -ne 'Upgraded' }).Count -ne 0 -or $results.Count -ne $groups.Count) { throw "pipe: $($results.Count) results for $($groups.Count) groups" }

$list = @($state.ous[2].groups | Select-Object -First $Loop | ForEach-Object { [string]$_.distinguishedName })
$watch = [System.Diagnostics.Stopwatch]::StartNew()
foreach ($g in $list) {
    $r = Upgrade-Group -Identity $g -AnswerFile $answers -Confirm:$false
    if ($r.status -ne 'Upgraded') { throw "loop: $g ended $($r.status)" }
}
$watch.Stop()
$loopSeconds = $watch.Elapsed.TotalSeconds

$piped = @($state.ous[3].groups | Select-Object -First $Loop | ForEach-Object { [string]$_.distinguishedName })
$watch = [System.Diagnostics.Stopwatch]::StartNew()
$r = @($piped | Upgrade-Group -AnswerFile $answers -Confirm:$false)
$watch.Stop()
$pipedSeconds = $watch.Elapsed.TotalSeconds
if ($r.Count -ne $piped.Count) { throw "piped: $($r.Count) results for $($piped.Count) groups" }
$engines = @(& (Get-Module GroupIDUpgrade) { $script:EnginesStarted }).Count
[pscustomobject]@{ pipeSeconds = $pipeSeconds; loopSeconds = $loopSeconds; pipedSeconds = $pipedSeconds
    startupMs = $startup; bareMs = $bare; engines = $engines } | ConvertTo-Json -Compress
"""


def find_pwsh(given: str | None) -> str:
    for candidate in (given, os.environ.get("PWSH"), shutil.which("pwsh")):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("no pwsh: give --pwsh, set $PWSH, or run bash scripts/test-powershell once to install it")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--loop", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pwsh")
    parser.add_argument("--write-doc", type=Path, metavar="PATH",
                        help="write the figures into this run's section of PATH (docs/performance.md)")
    args = parser.parse_args()
    groups, loop = (100, 50) if args.quick else (args.groups, args.loop)
    pwsh = find_pwsh(args.pwsh)
    work = Path(tempfile.mkdtemp(prefix="bench-pwsh-"))
    state_file = work / "state.json"
    started = time.perf_counter()
    state = pester_groups.up(max(groups, loop), 4, state_file)
    print(f"setup: 4 x {max(groups, loop)} groups in {time.perf_counter() - started:.1f} s")
    try:
        script = work / "bench.ps1"
        script.write_text(PWSH_SCRIPT.replace("__MANIFEST__", str(MANIFEST)), encoding="utf-8")
        env = {**os.environ, "GROUPID_UPGRADE_PYTHON": sys.executable}
        done = subprocess.run([pwsh, "-NoProfile", "-NonInteractive", "-File", str(script), "-StateFile", str(state_file),
                               "-Loop", str(loop)], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                              timeout=3600)
        if done.returncode != 0:
            raise SystemExit(f"pwsh failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if len(state["ous"][1]["groups"]) != max(groups, loop):  # type: ignore[index]
            raise SystemExit("the second OU is not the size of the first")
        t0 = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "groupid_upgrade", "group", "--answer-file", str(state["answerFile"]),
                              "--search-container", str(state["ous"][1]["ou"]), "--json"],  # type: ignore[index]
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=3600)
        cli_seconds = time.perf_counter() - t0
        if cli.returncode != 0:
            raise SystemExit(f"cli failed ({cli.returncode}): {cli.stderr[-2000:]}")
    finally:
        pester_groups.down(state_file)
        shutil.rmtree(work, ignore_errors=True)
    n = max(groups, loop)
    pipe_cli = figures["pipeSeconds"] / cli_seconds
    loop_piped = figures["loopSeconds"] / figures["pipedSeconds"]
    lines = [
        f"pipe: {n} groups piped into Upgrade-Group in {figures['pipeSeconds']:.2f} s ({n / figures['pipeSeconds']:.0f} groups/s)",
        f"cli: groupid-upgrade group on {n} groups in {cli_seconds:.2f} s ({n / cli_seconds:.0f} groups/s)",
        f"loop: {loop} separate Upgrade-Group -Identity calls in {figures['loopSeconds']:.2f} s "
        f"({figures['loopSeconds'] * 1000 / loop:.1f} ms per call)",
        f"piped: the same {loop} groups piped into one call in {figures['pipedSeconds']:.2f} s",
        f"engines started by the module in the whole run: {figures['engines']} (5 of them by the start-up measure)",
        f"engine start-up seen from pwsh: {figures['startupMs']:.1f} ms; python -I -c pass from pwsh: {figures['bareMs']:.1f} ms",
        f"startup/bare: {figures['startupMs'] / figures['bareMs']:.2f}",
        f"pipe/cli: {pipe_cli:.2f}",
        f"loop/piped: {loop_piped:.2f}",
        f"target met: pipe/cli {'yes' if pipe_cli <= PIPE_CLI_TARGET else 'no'} (<= {PIPE_CLI_TARGET}), "
        f"loop/piped {'yes' if loop_piped <= LOOP_PIPED_TARGET else 'no'} (<= {LOOP_PIPED_TARGET})",
    ]
    print("\n".join(lines))
    write_if_asked(args.write_doc, "powershell_groups", "Upgrade-Group through pwsh "
                   f"(`python bench/powershell_groups.py --groups {groups} --loop {loop}`)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
