"""The reliability suite (issue #9): fuzzing, the crash matrix, the secrets canary, and its figures.

Sizes: ``GROUPID_RELIABILITY_SIZE=ci`` (default; what ``.ci/run`` runs) or ``full`` (manual runs:
``scripts/reliability-report --size full``). The hypothesis profiles ``ci`` and ``full`` follow it;
``GROUPID_FUZZ_PROFILE`` picks one explicitly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # helpers.py and testbed/ live one level up
    sys.path.insert(0, str(TESTS))

import reliability_figures  # noqa: E402

FUZZ_EXAMPLES = {"ci": 200, "full": 10_000}
_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                              HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=FUZZ_EXAMPLES["ci"], **_COMMON)
settings.register_profile("full", max_examples=FUZZ_EXAMPLES["full"], **_COMMON)
PROFILE = os.environ.get("GROUPID_FUZZ_PROFILE") or reliability_figures.size()
settings.load_profile(PROFILE)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("groupid-reliability-recorder"):
        config.pluginmanager.register(reliability_figures.CountedTestsRecorder(), "groupid-reliability-recorder")


def pytest_report_header(config: pytest.Config) -> str:
    return (f"reliability: size {reliability_figures.size()}, hypothesis profile {PROFILE}, "
            f"figures in {reliability_figures.results_dir()}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Printed even with -q (the header is not): the seed of a crash matrix that ran, to replay it.
    if reliability_figures.seed_drawn():
        terminalreporter.write_line(
            f"reliability: crash matrix seed {reliability_figures.crash_seed()} (GROUPID_CRASH_SEED replays it); "
            f"figures in {reliability_figures.results_dir()}")
