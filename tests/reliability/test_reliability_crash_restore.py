"""The crash matrix's restore row (issue 16; R15, R18): ``backup.restore`` SIGKILLed inside a part
while its files are staged (``restore-file-staged:<n>``), once a part is staged (``restore-part-staged:<k>``)
and between the moves of staged files into place (``restore-before-move:<n>``); the next restore
completes it exactly: the restored tree equals an uninterrupted restore's (paths, content, mtimes) and
holds no staged file. Points are drawn with the crash matrix's seed (``GROUPID_CRASH_SEED``).

At full size the set gets 150 more report files, so the row has the distinct points its draws need.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import reliability_figures

import helpers
from support import trees

pytest_plugins = ["helpers"]

CI_POINTS = 10
FULL_POINTS = 320  # with the 150 extra files: over 300 distinct points
EXTRA_FILES_FULL = 150


@dataclass
class RestoreBed:
    sample: helpers.Sample
    set_path: Path
    reference: dict[str, str]
    files: int
    parts: int
    logs: Path


def restore(bed_set: Path, answer_file: Path, root: Path, logs: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*helpers.ENGINE, "restore", str(bed_set), "--answer-file", str(answer_file), "--include",
                           "All", "--to", str(root), "--json"], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, env={**helpers.engine_env(logs), **(env or {})})


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> RestoreBed:
    work = tmp_path_factory.mktemp("crash-restore")
    sample = helpers.Sample(helpers.make_sample(work / "sample", history=200))
    if reliability_figures.size() == "full":
        extra = sample.program_data / "Reports" / "extra"
        extra.mkdir()
        for i in range(EXTRA_FILES_FULL):
            (extra / f"report-{i:03d}.rdl").write_bytes(os.urandom(64) * (i % 7 + 1))
    logs = work / "logs"
    done = subprocess.run([*helpers.ENGINE, "backup", "--answer-file", str(sample.answer_file), "--destination",
                           str(work / "set"), "--include", "Database,Reports,SynchronizeJobs", "--json"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env=helpers.engine_env(logs))
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((work / "set" / "manifest.json").read_text())
    reference_root = work / "reference"
    first = restore(work / "set", sample.answer_file, reference_root, logs)
    assert first.returncode == 0, first.stderr[-2000:]
    return RestoreBed(sample, work / "set", trees.contents(reference_root, mtimes=True), len(manifest["files"]), len(manifest["parts"]),
                      logs)


def draw(bed: RestoreBed, seed: int) -> list[str]:
    candidates = ([f"restore-file-staged:{n}" for n in range(1, bed.files + 1)]
                  + [f"restore-before-move:{n}" for n in range(1, bed.files + 1)]
                  + [f"restore-part-staged:{k}" for k in range(1, bed.parts + 1)])
    wanted = FULL_POINTS if reliability_figures.size() == "full" else CI_POINTS
    fixed = ["restore-part-staged:1", f"restore-before-move:{bed.files}"]  # one per kind always
    rest = random.Random(f"{seed}/restore").sample([c for c in candidates if c not in fixed],
                                                   min(len(candidates) - len(fixed), wanted - len(fixed)))
    return fixed + rest


@pytest.mark.timeout(3600)
def test_r15_restore_killed_inside_a_part_is_completed_exactly_by_the_next_restore(
        bed: RestoreBed, tmp_path: Path) -> None:
    seed = reliability_figures.crash_seed()
    started = time.monotonic()
    points = draw(bed, seed)
    print(f"restore crash points: seed {seed}: {points}")
    failures: list[str] = []
    for i, point in enumerate(points):
        root = tmp_path / f"root-{i}"
        killed = restore(bed.set_path, bed.sample.answer_file, root, bed.logs, {"GROUPID_UPGRADE_KILL_AT": point})
        if killed.returncode != -signal.SIGKILL:
            failures.append(f"{point}: not killed (exit {killed.returncode}) {killed.stderr[-400:]}")
            continue
        again = restore(bed.set_path, bed.sample.answer_file, root, bed.logs)
        if again.returncode != 0:
            failures.append(f"{point}: the next restore ended {again.returncode}: {again.stderr[-600:]}")
            continue
        state = trees.contents(root, mtimes=True)  # every path, SHA-256 and file mtime
        if state != bed.reference:
            differ = sorted(k for k in set(state) | set(bed.reference) if state.get(k) != bed.reference.get(k))
            failures.append(f"{point}: the restored tree differs from the uninterrupted one in {differ[:5]}")
    reliability_figures.record_crash_outcome(
        "backup.restore", seed=seed, points=points, failures=failures, started=started,
        modules={"restore": {"tried": len(points), "survived": len(points) - len(failures)}},
        note=f"a set of {bed.files} files in {bed.parts} parts (Database, Reports, SynchronizeJobs) restored with "
             "--to; compared: every path, SHA-256 and mtime of the restored tree, no staged file left")
