"""Outages (issue #9; R15, R16): each ends in a clear error naming the server or path, a consistent
ledger, and success on the next run. Elasticsearch stopped mid-history is in test_history.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from groupid_upgrade.sample.generator import SampleSpec, generate_sample

ENGINE = [sys.executable, "-m", "groupid_upgrade"]
SECRET = re.compile(r"enc:v1:[A-Za-z0-9+/=]+")


def run(sample: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ENGINE, "run", "--answer-file", str(sample / "answers.json"), "--json"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})


def ledger(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT UnitKey FROM Upg_Ledger ORDER BY UnitKey").fetchall()


def table_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        skip = {"Upg_Run", "Upg_RunStop", "Upg_Ledger", "Upg_Setting"}  # run ids, times and the salt differ per run
        # secrets are encrypted with a fresh nonce per write: compare that they are there, not their bytes
        return {t: [tuple(SECRET.sub("<secret>", v) if isinstance(v, str) else v for v in row)
                    for row in conn.execute(f'SELECT * FROM "{t}" ORDER BY 1')] for t in tables if t not in skip}


def test_r15_a_target_database_locked_by_another_process_stops_the_run_naming_it_then_resumes(
        tmp_path: Path) -> None:
    sample = generate_sample(SampleSpec(out=tmp_path / "sample", history=3_000))
    reference = Path(shutil.copytree(sample, tmp_path / "reference"))
    assert run(reference).returncode == 0
    killed = run(sample, env={"GROUPID_UPGRADE_KILL_AT": "unit-after-commit:5"})
    assert killed.returncode == -9
    db = sample / "target" / "GroupID11.db"
    before = ledger(db)
    assert len(before) == 5

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = run(sample)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.returncode == 1
    error = json.loads(locked.stdout)["error"]
    assert error["data"]["errorId"] == "TargetLocked" and error["data"]["category"] == "ResourceBusy"
    assert str(db) in error["message"] and "Traceback" not in locked.stderr
    assert error["data"]["recommendedAction"]
    assert ledger(db) == before  # nothing half-written

    assert run(sample).returncode == 0
    assert table_rows(db) == table_rows(reference / "target" / "GroupID11.db")
