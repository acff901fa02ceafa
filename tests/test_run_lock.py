"""One command at a time writes a target (issue #15): a second ``run``, ``group``, ``restore`` or ``backup``
that would write what another holds refuses at once with TargetInUse naming the holder, never an
"unexpected" error; races of 2 and 4 commands leave one consistent target with every run row ended; a
holder killed with SIGKILL leaves a lock the next command takes over safely."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import EngineError
from groupid_upgrade.faults import ENV as KILL_AT
from groupid_upgrade.target.lock import LOCK_FOLDER_ENV, folder_lock, lock_path, source_lock, target_lock

pytest_plugins = ["helpers"]


@pytest.fixture
def locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "locks"
    monkeypatch.setenv(LOCK_FOLDER_ENV, str(folder))
    return folder


def start(*args: str | Path, log_dir: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*helpers.ENGINE, *(str(a) for a in args), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8",
                            env={**helpers.engine_env(log_dir), **(env or {})}, stdin=subprocess.DEVNULL)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=helpers.SUBPROCESS_TIMEOUT * 3)
    assert "unexpected" not in (out + err).lower(), out + err
    assert "Traceback" not in out + err, out + err
    return proc.returncode, out, err


def refusal(out: str) -> dict[str, Any]:
    data = json.loads(out)
    assert data["error"]["data"]["errorId"] == "TargetInUse", data
    return data["error"]["data"]


def runs(sample: helpers.Sample) -> list[tuple[str, str | None]]:
    with sqlite3.connect(sample.root / "target" / "GroupID11.db") as conn:
        return list(conn.execute("SELECT RunId, Status FROM Upg_Run ORDER BY StartedOn"))


def ledger(sample: helpers.Sample) -> list[str]:
    with sqlite3.connect(sample.root / "target" / "GroupID11.db") as conn:
        return [row[0] for row in conn.execute("SELECT UnitKey FROM Upg_Ledger ORDER BY UnitKey")]


def history_rows(sample: helpers.Sample) -> int:
    with sqlite3.connect(sample.root / "target" / "GroupID11.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM Gid_History").fetchone()[0])


@pytest.fixture(scope="module")
def reference(sample_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], int]:
    """The ledger and history count of one uninterrupted run of the sample."""
    sample = helpers.Sample(helpers.copy_sample(sample_root, tmp_path_factory.mktemp("reference") / "sample"))
    done = helpers.run_cli("run", "--answer-file", sample.answer_file, log_dir=tmp_path_factory.mktemp("logs"))
    assert done.returncode == 0, done.stderr
    return ledger(sample), history_rows(sample)


@pytest.fixture
def held_target(sample_copy: helpers.Sample, locks: Path) -> Iterator[helpers.Sample]:
    """The sample's target held by this test process, as another run would hold it."""
    with target_lock(load_answer_file(sample_copy.answer_file).target).hold("the-test-run", "upgrade.run"):
        yield sample_copy


# --- a second command refuses, naming the holder -------------------------------------------------------------
@pytest.mark.parametrize("command", ["run", "run --what-if", "group", "group --what-if"])
def test_r15_a_command_on_a_target_in_use_refuses_at_once_naming_the_holder(
        held_target: helpers.Sample, engine_log_dir: Path, command: str) -> None:
    started = time.monotonic()
    proc = start(*command.split(), "--answer-file", held_target.answer_file, "--json", log_dir=engine_log_dir)
    code, out, err = finish(proc)
    assert code == 1
    data = refusal(out)
    assert data["holder"]["runId"] == "the-test-run" and data["holder"]["pid"] == os.getpid()
    assert "the-test-run" in err and "upgrade.run" in err  # the sentence names which run holds it, and since when
    assert data["holder"]["since"] in err
    assert time.monotonic() - started < 20  # at once: not after planning, not after waiting for the holder
    assert not (held_target.root / "target" / "GroupID11.db").exists()  # nothing was written


def test_r15_a_restore_into_a_source_being_restored_refuses(made_backup: tuple[helpers.Sample, Path], locks: Path,
                                                            engine_log_dir: Path) -> None:
    sample, set_dir = made_backup
    with source_lock(load_answer_file(sample.answer_file).source).hold("a-restore", "backup.restore"):
        proc = start("restore", set_dir, "--answer-file", sample.answer_file, "--include", "All", "--json",
                     log_dir=engine_log_dir)
        code, out, _err = finish(proc)
    assert code == 1 and refusal(out)["holder"]["operation"] == "backup.restore"


def test_r15_a_backup_into_a_destination_being_written_refuses(sample_copy: helpers.Sample, locks: Path,
                                                               tmp_path: Path, engine_log_dir: Path) -> None:
    dest = tmp_path / "set"
    with folder_lock(dest, "backup destination").hold("a-backup", "backup.create"):
        proc = start("backup", "--answer-file", sample_copy.answer_file, "--destination", dest, "--json",
                     log_dir=engine_log_dir)
        code, out, _err = finish(proc)
    assert code == 1 and refusal(out)["holder"]["operation"] == "backup.create"
    assert not dest.exists()


@pytest.fixture
def made_backup(sample_copy: helpers.Sample, tmp_path: Path, engine_log_dir: Path, locks: Path
                ) -> tuple[helpers.Sample, Path]:
    dest = tmp_path / "set"
    done = helpers.run_cli("backup", "--answer-file", sample_copy.answer_file, "--destination", dest,
                           log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr
    return sample_copy, dest


def test_r15_the_lock_is_one_per_resource_whatever_its_spelling(sample_copy: helpers.Sample, locks: Path) -> None:
    answers = load_answer_file(sample_copy.answer_file)
    other = load_answer_file(sample_copy.answer_file, overrides={"target": {"database": {
        "kind": "sqlite", "path": str(sample_copy.root / "target" / "." / ".." / "target" / "GroupID11.db")}}})
    assert target_lock(answers.target).path == target_lock(other.target).path
    with target_lock(answers.target).hold("first", "upgrade.run"), pytest.raises(EngineError) as refused, \
            target_lock(other.target).hold("second", "upgrade.run"):
        pass
    assert refused.value.error_id == "TargetInUse" and "first" in refused.value.message


# --- races -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ways", [2, 4])
def test_r15_racing_runs_leave_one_consistent_target(sample_copy: helpers.Sample, locks: Path, engine_log_dir: Path,
                                                     reference: tuple[list[str], int], ways: int) -> None:
    procs = [start("run", "--answer-file", sample_copy.answer_file, "--json", log_dir=engine_log_dir)
             for _ in range(ways)]
    results = [finish(p) for p in procs]
    succeeded = [out for code, out, _ in results if code == 0]
    refused = [refusal(out) for code, out, _ in results if code != 0]
    assert len(succeeded) + len(refused) == ways and succeeded
    for data in refused:  # every refusal names a run that really ran
        assert data["holder"] is None or data["holder"]["runId"] in {json.loads(o)["runId"] for o in succeeded}
    rows = runs(sample_copy)
    assert len(rows) == len(succeeded) and all(status == "Succeeded" for _, status in rows)  # every row ended
    assert (ledger(sample_copy), history_rows(sample_copy)) == reference  # each unit done once, nothing twice


def test_r15_while_one_run_holds_the_target_three_others_refuse(sample_copy: helpers.Sample, locks: Path,
                                                                 engine_log_dir: Path,
                                                                 reference: tuple[list[str], int]) -> None:
    answers = load_answer_file(sample_copy.answer_file)
    with target_lock(answers.target).hold("holding-run", "upgrade.run"):
        others = [start("run", "--answer-file", sample_copy.answer_file, "--json", log_dir=engine_log_dir)
                  for _ in range(3)]
        results = [finish(p) for p in others]
    assert all(code == 1 and refusal(out)["holder"]["runId"] == "holding-run" for code, out, _ in results)
    done = helpers.run_cli("run", "--answer-file", sample_copy.answer_file, log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr
    assert (ledger(sample_copy), history_rows(sample_copy)) == reference


# --- a killed holder ---------------------------------------------------------------------------------------------
def _wait_described(path: Path, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        time.sleep(0.02)
    raise AssertionError(f"no holder described in {path}")


@pytest.mark.parametrize("how", ["kill -9 from outside", "SIGKILL inside a unit's transaction"])
def test_r15_a_lock_left_by_a_killed_run_is_taken_over_and_its_run_row_ended(
        sample_copy: helpers.Sample, locks: Path, engine_log_dir: Path, reference: tuple[list[str], int],
        how: str) -> None:
    path = lock_path(target_lock(load_answer_file(sample_copy.answer_file).target).identity)
    env = {} if how.startswith("kill") else {KILL_AT: "unit-in-transaction:20"}
    holder = start("run", "--answer-file", sample_copy.answer_file, log_dir=engine_log_dir, env=env)
    described = _wait_described(path)
    if how.startswith("kill"):
        holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=helpers.SUBPROCESS_TIMEOUT)
    assert holder.returncode == -signal.SIGKILL
    assert json.loads(path.read_text(encoding="utf-8"))["run_id"] == described["run_id"]  # left described
    taking = start("run", "--answer-file", sample_copy.answer_file, "--json", log_dir=engine_log_dir)
    code, out, _err = finish(taking)
    assert code == 0, out
    rows = dict(runs(sample_copy))
    if described["run_id"] in rows:  # killed after its run row was opened: ended as Interrupted now
        assert rows.pop(described["run_id"]) == "Interrupted"
    assert list(rows.values()) == ["Succeeded"]
    assert path.stat().st_size == 0  # released cleanly: nobody left to name
    log = (sample_copy.root / "target" / "ProgramData" / "Imanami" / "GroupID 11.0" / "Upgrade Tool" /
           "directorymanager11_Upgrade.log").read_text(encoding="utf-8")
    taken = [json.loads(line) for line in log.splitlines() if '"lock-taken-over"' in line]
    assert len(taken) == 1 and described["run_id"] in taken[0]["holder"]
    assert (ledger(sample_copy), history_rows(sample_copy)) == reference
