"""Every benchmark under bench/ runs at its --quick size in CI, so none of them rots.

Figures are printed, never asserted here (timings are for bench/, not for tests): each run must end
with exit 0 and print its ratio line(s) with a number."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.fixtures_es import EsNode

BENCH = Path(__file__).resolve().parents[1] / "bench"

# bench file -> (the test bed it needs, the ratio lines it prints)
BENCHMARKS: dict[str, tuple[str | None, tuple[str, ...]]] = {  # needs: elasticsearch, samba, samba+pwsh
    "history.py": ("elasticsearch", ("engine/floor", "naive/engine")),
    "startup.py": (None, ("ratio",)),
    "groups.py": ("samba", ("engine/ldap3",)),
    "backup.py": (None, ("engine/baseline",)),
    "single_groups.py": ("samba", ("engine/ldap3",)),
    "powershell_groups.py": ("samba+pwsh", ("pipe/cli", "loop/piped", "startup/bare")),
}


def test_every_benchmark_has_a_ci_entry() -> None:
    found = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}  # _x.py: helpers
    assert found == set(BENCHMARKS), "add the benchmark to BENCHMARKS so CI runs its --quick size"


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.testbed] if needs else [])
                                  for name, (needs, _) in sorted(BENCHMARKS.items())])
def test_benchmark_runs_at_its_quick_size_and_prints_its_ratios(name: str, request: pytest.FixtureRequest) -> None:
    needs, lines = BENCHMARKS[name]
    needs = needs or ""
    args = [sys.executable, str(BENCH / name), "--quick"]
    if needs == "elasticsearch":
        node: EsNode = request.getfixturevalue("es_node")
        args += ["--es-url", node.url]
    elif needs.startswith("samba"):
        request.getfixturevalue("samba_corp")
    if needs.endswith("+pwsh"):
        pwsh = os.environ.get("PWSH") or shutil.which("pwsh")
        assert pwsh, "no pwsh: scripts/test installs it (PWSH is set there); run bash scripts/test-powershell once"
        args += ["--pwsh", pwsh]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    sys.stdout.write(done.stdout)  # the figures, in the CI log with -s / on failure
    for line in lines:
        assert re.search(rf"^{re.escape(line)}: \d+(\.\d+)?", done.stdout, re.M), f"no '{line}: X' line"
