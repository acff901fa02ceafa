"""The crash matrix (issue #9, R4, R15): ``upgrade.run`` SIGKILLed at seeded random points across the
modules, resumed, and compared with an uninterrupted run: the database (every table, secrets decrypted),
the target's files, the Elasticsearch index of each store (count and ids), and the source's checksums.

The kill is the engine's own (faults.py: ``GROUPID_UPGRADE_KILL_AT=<point>:<n>``, SIGKILL at the n-th
pass). Points are drawn per module from the units that module really writes (the uninterrupted run's
ledger, in commit order), so every draw is reached. The seed is in the pytest header and in every failure;
``GROUPID_CRASH_SEED=N`` replays a matrix. Size: ``CRASH_TARGETS`` (30 points at CI size, 5x at full size).

Groups and backup join by adding a ``CrashTarget`` (and, for a method other than ``upgrade.run``, a
scenario beside ``run_scenario``) when their modules exist.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import reliability_figures

from groupid_upgrade.history.conversion import index_name
from groupid_upgrade.sample.generator import SampleSpec, generate_sample
from groupid_upgrade.storage.search import SearchClient
from support import trees
from test_history import UPGRADED_STORES, index_ids  # the same index comparison as the History tests
from test_upgrade_run import engine, logical_dump, run_json  # the same dump as R15's tests
from testbed.fixtures_es import EsNode

HISTORY_ROWS = 3_000
HISTORY_BATCH = 250
UNIT_POINTS = ("unit-before-write", "unit-in-transaction", "unit-after-commit")
HISTORY_POINTS = ("history-in-transaction", "history-after-commit")


@dataclass(frozen=True)
class CrashTarget:
    """A module of the matrix: how many points it gets at CI size, and which fault points it has."""

    module: str
    ci_points: int
    unit_points: tuple[str, ...] = UNIT_POINTS
    batch_points: tuple[str, ...] = ()


CRASH_TARGETS = (
    CrashTarget("Configuration", 6),
    CrashTarget("Synchronize", 6),
    CrashTarget("Schedules", 6),
    CrashTarget("Reports", 4),
    CrashTarget("History", 8, batch_points=HISTORY_POINTS),
)


@dataclass(frozen=True)
class CrashPoint:
    module: str
    point: str
    n: int

    @property
    def spec(self) -> str:
        return f"{self.point}:{self.n}"


@dataclass
class Reference:
    pristine: Path
    dump: dict[str, list[Any]]
    index: dict[int, list[str]]
    unit_ranges: dict[str, tuple[int, int]]  # module -> first and last pass of the unit-* points
    batches: int


def set_search(sample: Path, url: str, prefix: str) -> None:
    answers = json.loads((sample / "answers.json").read_text())
    answers["target"]["elasticsearch"] = {"url": url, "indexPrefix": prefix}
    answers["target"]["historyBatchSize"] = HISTORY_BATCH
    (sample / "answers.json").write_text(json.dumps(answers))


def index_of(search: SearchClient, prefix: str) -> dict[int, list[str]]:
    return {store: sorted(index_ids(search, index_name(prefix, store))) for store in UPGRADED_STORES}


def drop_indices(search: SearchClient, prefix: str) -> None:
    for store in UPGRADED_STORES:
        search.delete_index(index_name(prefix, store))


@pytest.fixture(scope="module")
def search(es_node: EsNode) -> Iterator[SearchClient]:
    with SearchClient(es_node.url, request_timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, es_node: EsNode, search: SearchClient) -> Iterator[Reference]:
    root = tmp_path_factory.mktemp("crash-matrix")
    pristine = generate_sample(SampleSpec(out=root / "pristine", history=HISTORY_ROWS))
    sample = Path(shutil.copytree(pristine, root / "reference"))
    prefix = f"relcrash-ref-{uuid.uuid4().hex[:8]}"
    set_search(sample, es_node.url, prefix)
    result = run_json(sample)
    assert result["status"] == "Succeeded", result
    with sqlite3.connect(sample / "target" / "GroupID11.db") as conn:
        ledger = conn.execute("SELECT UnitKey, Module FROM Upg_Ledger ORDER BY rowid").fetchall()
    units = [module for key, module in ledger if "/batch:" not in key]
    ranges = {m: (units.index(m) + 1, len(units) - units[::-1].index(m)) for m in set(units)}
    try:
        yield Reference(pristine, logical_dump(sample), index_of(search, prefix), ranges,
                        sum(1 for key, _ in ledger if "/batch:" in key))
    finally:
        drop_indices(search, prefix)


def draw_points(reference: Reference, seed: int, factor: int) -> list[CrashPoint]:
    rng = random.Random(seed)
    points: list[CrashPoint] = []
    for target in CRASH_TARGETS:
        lo, hi = reference.unit_ranges[target.module]
        candidates = [CrashPoint(target.module, point, n) for point in target.unit_points for n in range(lo, hi + 1)]
        candidates += [CrashPoint(target.module, point, n) for point in target.batch_points
                       for n in range(1, reference.batches + 1)]
        # distinct points; a module with fewer points than asked for gets all of them
        points += rng.sample(candidates, min(len(candidates), target.ci_points * factor))
    return points


def run_scenario(point: CrashPoint, reference: Reference, workdir: Path, es_url: str,
                 search: SearchClient) -> str | None:
    """Kill at ``point``, resume, compare; None when the target equals the reference, else what differs."""
    sample = Path(shutil.copytree(reference.pristine, workdir / "sample"))
    prefix = f"relcrash-{uuid.uuid4().hex[:10]}"
    set_search(sample, es_url, prefix)
    source_before = trees.snapshot(sample / "source")
    try:
        killed = engine("run", "--answer-file", str(sample / "answers.json"), "--json",
                        env={"GROUPID_UPGRADE_KILL_AT": point.spec})
        if killed.returncode != -signal.SIGKILL:
            return f"not killed (exit {killed.returncode}): the point was not reached"
        resumed = run_json(sample, check=None)
        if resumed.get("status") != "Succeeded":
            return f"the resumed run ended {resumed.get('status')}: {json.dumps(resumed)[:1500]}"
        if changed := trees.changes(source_before, trees.snapshot(sample / "source")):
            return f"the source changed (R4): {changed[:5]}"
        dump = logical_dump(sample)
        if dump != reference.dump:
            differing = sorted(k for k in set(dump) | set(reference.dump) if dump.get(k) != reference.dump.get(k))
            return f"the target differs from the uninterrupted run in {differing}"
        index = index_of(search, prefix)
        if index != reference.index:
            counts = {s: (len(index[s]), len(reference.index[s])) for s in index}
            return f"the index differs from the uninterrupted run (resumed, reference counts: {counts})"
        return None
    finally:
        drop_indices(search, prefix)
        shutil.rmtree(workdir / "sample", ignore_errors=True)


@pytest.mark.timeout(3600)
def test_r15_crash_matrix_every_seeded_kill_resumes_to_the_uninterrupted_target(
        reference: Reference, es_node: EsNode, search: SearchClient, tmp_path: Path) -> None:
    seed = reliability_figures.crash_seed()
    factor = reliability_figures.crash_factor()
    points = draw_points(reference, seed, factor)
    assert len(points) >= 30
    print(f"crash matrix: seed {seed} (GROUPID_CRASH_SEED={seed} replays it), {len(points)} points")
    started = time.monotonic()
    failures: list[str] = []
    per_module: dict[str, dict[str, int]] = {}
    for i, point in enumerate(points):
        problem = run_scenario(point, reference, tmp_path / f"p{i}", es_node.url, search)
        tally = per_module.setdefault(point.module, {"tried": 0, "survived": 0})
        tally["tried"] += 1
        if problem is None:
            tally["survived"] += 1
        else:
            failures.append(f"{point.module} {point.spec}: {problem}")
    reliability_figures.record_crash_outcome(
        "upgrade.run", seed=seed, points=[f"{p.module} {p.spec}" for p in points], failures=failures,
        started=started, modules=per_module, elasticsearch=True, historyRows=HISTORY_ROWS,
        historyBatch=HISTORY_BATCH)
