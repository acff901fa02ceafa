"""The figures of the reliability suite (issue #9), written by the suites themselves.

Each suite records what it tried and what survived into ``<results>/<suite>.json``;
``scripts/reliability-report`` renders ``docs/reliability.md`` from those files, so no figure in the
document is typed by hand. ``<results>`` is ``$GROUPID_RELIABILITY_RESULTS`` when set (the report
script sets it), else ``.pytest_cache/reliability`` in the checkout (what a plain ``pytest`` or
``.ci/run`` leaves behind).

Sizes: every suite has a CI size and a full size, chosen by ``GROUPID_RELIABILITY_SIZE`` (``ci``, the
default, or ``full``); the fuzzers' hypothesis profile follows it (``GROUPID_FUZZ_PROFILE`` overrides).

Tests of other files that belong to the figures (outages, kill-and-resume tests written before this
suite) are counted, not duplicated: ``COUNTED_TESTS`` names them and the recorder plugin below
records their outcome when they run in the same session. The lead adds rows as modules arrive.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS_ENV = "GROUPID_RELIABILITY_RESULTS"
SIZE_ENV = "GROUPID_RELIABILITY_SIZE"
DEFAULT_RESULTS = REPO / ".pytest_cache" / "reliability"

# node id (relative to the checkout, parameters included or not) -> (suite, what it proves)
COUNTED_TESTS: dict[str, tuple[str, str]] = {
    "tests/test_outages.py::test_r15_a_target_database_locked_by_another_process_stops_the_run_naming_it_then_resumes":
        ("outages", "target database locked by another process (TargetLocked, then resumed)"),
    "tests/test_history.py::test_r15_elasticsearch_stopped_mid_run_fails_naming_the_url_then_the_next_run_completes":
        ("outages", "Elasticsearch stopped and restarted mid-history (SearchUnreachable, then resumed)"),
    "tests/test_upgrade_run.py::test_r15_a_run_killed_at_a_point_resumes_to_the_same_target":
        ("crash-fixed", "upgrade.run killed at fixed points, resumed to the same target"),
    "tests/test_history.py::test_r15_killed_mid_history_and_resumed_gives_exact_counts_and_no_duplicate":
        ("crash-fixed", "History killed at fixed batch points, resumed, index exact"),
    "tests/test_history.py::test_r15_killed_mid_history_without_elasticsearch_keeps_the_outbox_exact":
        ("crash-fixed", "History killed without Elasticsearch, outbox exact"),
    "tests/test_groups.py::test_r15_killed_between_the_directory_and_the_target_the_next_run_completes_the_target":
        ("crash-fixed", "group.upgrade killed between the directory and the target, the next run completes it"),
    "tests/test_backup.py::test_a_backup_killed_mid_way_leaves_no_manifest_verify_accepts":
        ("crash-fixed", "backup killed at fixed points leaves no manifest verify accepts"),
    "tests/test_backup.py::test_links_out_of_the_tree_are_not_followed_and_long_paths_are_copied":
        ("hostile", "backup does not follow links out of the source tree"),
}


def size() -> str:
    value = os.environ.get(SIZE_ENV, "ci").strip().lower()
    if value not in ("ci", "full"):
        raise pytest.UsageError(f"{SIZE_ENV}={value!r}: expected 'ci' or 'full'")
    return value


_crash_seed: int | None = None


def crash_seed() -> int:
    """The crash matrix's seed: ``GROUPID_CRASH_SEED`` or drawn once per session (printed in the header)."""
    global _crash_seed
    if _crash_seed is None:
        given = os.environ.get("GROUPID_CRASH_SEED", "").strip()
        _crash_seed = int(given) if given else random.SystemRandom().randrange(2**31)
    return _crash_seed


def seed_drawn() -> bool:
    return _crash_seed is not None


CRASH_FULL_FACTOR = 5  # the full size draws this many times the CI size's crash points


def crash_factor() -> int:
    return CRASH_FULL_FACTOR if size() == "full" else 1


def record_crash_outcome(method: str, *, seed: int, points: list[str], failures: list[str], started: float,
                         modules: dict[str, dict[str, int]], **extra: Any) -> None:
    """A crash matrix's figures under ``method`` in crash.json; then the test fails when a point failed."""
    record("crash", method, {"seed": seed, "tried": len(points), "survived": len(points) - len(failures),
                             "modules": modules, "points": points, "seconds": round(time.monotonic() - started, 1),
                             "failures": failures, **extra})
    assert not failures, f"seed {seed}: {len(failures)} of {len(points)} points failed:\n" + "\n".join(failures)


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)


_lock = threading.Lock()


def record(suite: str, key: str, data: dict[str, Any]) -> None:
    """Put ``data`` under ``key`` in ``<results>/<suite>.json`` (read, merge, replace atomically)."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{suite}.json"
    with _lock:
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            current = {}
        current[key] = {**data, "size": size(), "recordedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(current, indent=2, sort_keys=True), encoding="utf-8")
        partial.replace(path)


class CountedTestsRecorder:
    """A plugin registered for the whole session: it sees the reports of every test file."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, int]] = {}

    @staticmethod
    def _match(nodeid: str) -> str | None:
        base = nodeid.split("[", 1)[0]
        for known in COUNTED_TESTS:
            if base == known or base.endswith("/" + known) or known.endswith("/" + base):
                return known
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        known = self._match(report.nodeid)
        if known is None:
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            counts = self.outcomes.setdefault(known, {"passed": 0, "failed": 0, "skipped": 0})
            counts["passed" if report.passed else "skipped" if report.skipped else "failed"] += 1
            suite, what = COUNTED_TESTS[known]
            record(suite, known, {"what": what, **counts})


def fuzz(target: str, strategy: Any, check: Callable[[Any], None], *, examples: int | None = None,
         extra: Callable[[], dict[str, Any]] | None = None) -> None:
    """Run ``check`` on hypothesis values of ``strategy`` (the loaded profile's count, or ``examples``);
    record in fuzz.json how many ran and whether they passed, with ``extra()`` added."""
    from hypothesis import given, settings

    count = 0
    status = "failed"

    @given(strategy)
    def run(value: Any) -> None:
        nonlocal count
        count += 1
        check(value)

    if examples is not None:
        run = settings(max_examples=examples)(run)
    try:
        run()
        status = "passed"
    finally:
        record("fuzz", target, {"examples": count, "status": status, **(extra() if extra else {})})
