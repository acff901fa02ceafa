"""Each PowerShell defect issue 14 fixed has a Pester test that fails when the fix is undone.

For every case: a copy of ``powershell/`` with the one fix reverted (a textual edit that must apply),
then the named Pester tests run under pwsh against that copy (``GROUPID_TEST_MODULE_MANIFEST``); they
must fail there, and pass on the real module (the Pester suite in ``scripts/test`` shows that).
pwsh and Pester come from ``scripts/lib/powershell-env.sh`` (scripts/test installs them first; here
they must be there: a missing pwsh fails, it never skips).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Reverted:
    name: str
    file: str
    old: str
    new: str
    tests: str  # Pester full-name wildcard of the tests that must fail


CASES = [
    Reverted("python started without -I (a json.py in the caller's folder reaches sys.path)",
             "GroupIDUpgrade.Decisions.psd1",
             "@{ Kind = 'Env'; Name = 'GROUPID_UPGRADE_PYTHON'; Arguments = @('-I', '-X', 'utf8', '-m', 'groupid_upgrade', 'serve') }",
             "@{ Kind = 'Env'; Name = 'GROUPID_UPGRADE_PYTHON'; Arguments = @('-X', 'utf8', '-m', 'groupid_upgrade', 'serve') }",
             "*never imports a module from the caller*"),
    Reverted("stderr lines written at the caller's Debug preference (Inquire prompts on 5.1)",
             "private/EngineProcess.ps1",
             "    $DebugPreference = 'Continue'\n",
             "    $null = $show\n",
             "*Debug at Inquire never prompts*"),
    Reverted("a relative pfxFile inside -Secret sent as given (resolved later against the answer file's folder)",
             "private/Requests.ps1",
             "                if ($script:Decisions.SecretPathFields -contains [string]$field -and $fieldValue -is [string] -and $fieldValue) {",
             "                if ($false) {",
             "*relative pfxFile resolves against the current location*"),
    Reverted("information-stream objects without a sentence (they print as @{...})",
             "private/EngineClient.ps1",
             "    $InputObject.PSObject.Members.Add($method)",
             "    return; $InputObject.PSObject.Members.Add($method)",
             "*prints an information-stream object as a sentence*"),
    Reverted("a failed group also written to the output",
             "private/EngineClient.ps1",
             "            $cmdlet.WriteError($record)\n        }\n        return\n",
             "            $cmdlet.WriteError($record)\n            $cmdlet.WriteObject($object)\n        }\n        return\n",
             "*reports a failing group once*"),
    Reverted("Update-GroupIDGroup with no selector refused (the vendor's cmdlet requires none)",
             "cmdlets/Update-GroupIDGroup.ps1",
             "        $what = 'every managed group of the identity store'",
             "        if ($selectors.Count -eq 0) { $PSCmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'InvalidParams' -Message 'no selector')) }\n        $what = 'every managed group of the identity store'",
             "*with no selector at all upgrades the store*"),
    Reverted("a new engine for every cmdlet call",
             "private/EngineSession.ps1",
             "        if ($reusable) {",
             "        if ($false) {",
             "*reuses it for every later cmdlet call*"),
    Reverted("client errors thrown from a private function (its file in the error's position)",
             "private/Find-GroupIDEngine.ps1",
             "                $Cmdlet.ThrowTerminatingError((New-GroupIDClientErrorRecord -ErrorId 'EngineNotFound' -Message $message -Target $value `",
             "                throw ((New-GroupIDClientErrorRecord -ErrorId 'EngineNotFound' -Message $message -Target $value `",
             "*names every place it looked when the engine is not found, from the cmdlet*"),
]


def _powershell() -> tuple[str, str]:
    script = f"source {REPO / 'scripts/lib/powershell-env.sh'} && ensure_powershell_env >&2 && printf '%s\\n%s' \"$PWSH\" \"$PESTER_MODULE\""
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert done.returncode == 0, f"pwsh and Pester are needed for these tests: {done.stderr[-1500:]}"
    pwsh, pester = done.stdout.strip().splitlines()
    return pwsh, pester


@pytest.fixture(scope="module")
def powershell() -> tuple[str, str]:
    return _powershell()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_pester_test_fails_when_the_fix_is_reverted(case: Reverted, powershell: tuple[str, str], tmp_path: Path) -> None:
    pwsh, pester = powershell
    copy = tmp_path / "powershell"
    shutil.copytree(REPO / "powershell", copy)
    target = copy / case.file
    text = target.read_text(encoding="utf-8")
    assert case.old in text, f"the revert of '{case.name}' no longer applies to {case.file}"
    target.write_text(text.replace(case.old, case.new, 1), encoding="utf-8")
    results = tmp_path / "pester.json"
    env = {**os.environ, "GROUPID_TEST_MODULE_MANIFEST": str(copy / "GroupIDUpgrade.psd1"),
           "GROUPID_UPGRADE_PYTHON": str(REPO / ".venv" / "bin" / "python"), "PWSH": pwsh}
    done = subprocess.run([pwsh, "-NoProfile", "-NonInteractive", "-File", str(REPO / "pester" / "Invoke-PesterSuite.ps1"),
                           "-PesterModule", pester, "-ResultFile", str(results), "-FullName", case.tests],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=900)
    counts = json.loads(results.read_text(encoding="utf-8-sig"))
    assert counts["total"] - counts["notRun"] > 0, f"no Pester test matched {case.tests}: {done.stdout[-1500:]}"
    assert counts["failed"] > 0, f"'{case.name}' reverted, yet {case.tests} passed:\n{done.stdout[-3000:]}"
