"""What-if is the run's own path (issue #15): on installations mutated from the sample, the outcome that
``run --what-if`` reports for every unit (done, already done, failed with which errorId, skipped) is the
outcome of the real run that follows, with the same module counts, or both refuse with the same error;
and the what-if writes nothing (source, target and the lock folder hashed before and after).

Mutations, one to three per installation, drawn by hypothesis: a report, replication file or password
list missing or unreadable; a job file truncated; a wrong PFX password; a store disabled; a source
secret that does not decrypt; the target passphrase missing or wrong; the target in use by another run;
a target folder that cannot be written; an earlier run that did some modules, or was killed part-way.
``GROUPID_DIFFERENTIAL_PROFILE=full`` draws 400 installations instead of 50.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import EngineError
from groupid_upgrade.faults import ENV as KILL_AT
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.target.lock import LOCK_FOLDER_ENV, target_lock
from groupid_upgrade.upgrade.run_method import run_upgrade
from support import trees

pytest_plugins = ["helpers"]

FULL = os.environ.get("GROUPID_DIFFERENTIAL_PROFILE") == "full"
EXAMPLES = 400 if FULL else 50
UNIT_EVENTS = {"unit-done": "Done", "unit-already-done": "AlreadyDone", "unit-failed": "Failed"}


@dataclass
class Installation:
    """A private copy of the sample, its answer file, and what holds the target during the test."""

    root: Path
    stack: ExitStack

    @property
    def answers_path(self) -> Path:
        return self.root / "answers.json"

    @property
    def source_data(self) -> Path:
        return self.root / "source" / "ProgramData" / "Imanami" / "GroupID 10.0"

    @property
    def source_files(self) -> Path:
        return self.root / "source" / "Program Files" / "Imanami" / "GroupID 10.0"

    @property
    def target_data(self) -> Path:
        return self.root / "target" / "ProgramData" / "Imanami" / "GroupID 11.0"

    def files(self, folder: Path, pattern: str = "*") -> list[Path]:
        return sorted(p for p in folder.rglob(pattern) if p.is_file())

    def secrets(self) -> dict[str, Any]:
        return json.loads((self.root / "secrets.json").read_text(encoding="utf-8"))

    def write_secrets(self, data: dict[str, Any]) -> None:
        (self.root / "secrets.json").write_text(json.dumps(data), encoding="utf-8")

    def source_sql(self, sql: str) -> None:
        with sqlite3.connect(self.root / "source" / "GroupID10.db") as conn:
            conn.execute(sql)

    def answers(self) -> Any:
        return load_answer_file(self.answers_path)


# --- mutations -----------------------------------------------------------------------------------------------
def _pick(items: list[Path], index: int) -> Path:
    return items[index % len(items)]


def delete_report(inst: Installation, i: int) -> None:
    _pick(inst.files(inst.source_data / "Reports"), i).unlink()


def report_unreadable(inst: Installation, i: int) -> None:
    path = _pick(inst.files(inst.source_data / "Reports"), i)
    path.unlink()
    path.mkdir()  # reading it fails (root reads any file whatever its mode)


def delete_replication_file(inst: Installation, i: int) -> None:
    _pick(inst.files(inst.source_files / "Replication" / "IdentityStoresReplicationAttributes"), i).unlink()


def replication_file_unreadable(inst: Installation, i: int) -> None:
    path = _pick(inst.files(inst.source_files / "Replication" / "IdentityStoresReplicationAttributes"), i)
    path.unlink()
    path.mkdir()


def password_list_missing(inst: Installation, i: int) -> None:
    lists = sorted(p for p in (inst.source_files / "GroupIDDataService" / "PasswordCenter" /
                                "PasswordExceptionLists").iterdir() if p.is_dir())
    folder = _pick(lists, i)
    shutil.rmtree(folder)
    folder.write_text("not a folder", encoding="utf-8")


def password_list_file_unreadable(inst: Installation, i: int) -> None:
    files = inst.files(inst.source_files / "GroupIDDataService" / "PasswordCenter" / "PasswordExceptionLists")
    path = _pick(files, i)
    path.unlink()
    path.mkdir()


def truncate_job_file(inst: Installation, i: int) -> None:
    path = _pick(inst.files(inst.source_data / "Synchronize" / "Jobs", "*.dtmconfig"), i)
    data = path.read_bytes()
    path.write_bytes(data[: max(1, len(data) // 3)])


def wrong_pfx_password(inst: Installation, i: int) -> None:
    data = inst.secrets()
    names = sorted(k for k, v in data["answers"].items() if "pfxPassword" in v)
    data["answers"][names[i % len(names)]]["pfxPassword"] = "not-the-pfx-password"
    inst.write_secrets(data)


def disable_store(inst: Installation, i: int) -> None:
    inst.source_sql(f"UPDATE Svc_IdentityStore SET IsEnabled = 0 WHERE IdentityStoreId = {1 + i % 4}")


def undecryptable_secret(inst: Installation, i: int) -> None:
    inst.source_sql("UPDATE Svc_IdentityStore SET ServiceAccountPassword = 'enc:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAA' "
                    f"WHERE IdentityStoreId = {(1, 4)[i % 2]}")


def target_passphrase_missing(inst: Installation, i: int) -> None:
    data = inst.secrets()
    del data["target"]["passphrase"]
    inst.write_secrets(data)


def target_folder_unwritable(inst: Installation, i: int) -> None:
    where = ("Reports", "Replication")[i % 2]
    blocked = (inst.target_data if where == "Reports" else
               inst.root / "target" / "Program Files" / "Imanami" / "GroupID 11.0") / where
    blocked.parent.mkdir(parents=True, exist_ok=True)
    if blocked.is_dir():  # written by an earlier run: what it copied there is gone too
        shutil.rmtree(blocked)
    blocked.write_text("a file where the target's folder goes", encoding="utf-8")


def target_in_use(inst: Installation, i: int) -> None:
    inst.stack.enter_context(target_lock(inst.answers().target).hold(f"other-run-{i}", "upgrade.run"))


def earlier_run_of_some_modules(inst: Installation, i: int) -> None:
    modules = [["Configuration"], ["Configuration", "Synchronize"], ["Configuration", "Reports"]][i % 3]
    answers = load_answer_file(inst.answers_path, overrides={"modules": modules})
    with contextlib.suppress(EngineError):  # an earlier mutation may make it refuse: the installation is as it is
        run_upgrade(answers, CollectingReporter())


def earlier_run_killed(inst: Installation, i: int) -> None:
    point = ("unit-before-write", "unit-in-transaction", "unit-after-commit", "history-in-transaction")[i % 4]
    env = {**os.environ, KILL_AT: f"{point}:{1 + i % 9}"}
    subprocess.run([*helpers.ENGINE, "run", "--answer-file", str(inst.answers_path), "--no-progress"],
                   capture_output=True, env=env, timeout=helpers.SUBPROCESS_TIMEOUT, stdin=subprocess.DEVNULL)


def wrong_target_passphrase(inst: Installation, i: int) -> None:
    earlier_run_of_some_modules(inst, 0)
    data = inst.secrets()
    if "passphrase" in data["target"]:
        data["target"]["passphrase"] = "a different passphrase"
        inst.write_secrets(data)


MUTATIONS: dict[str, Callable[[Installation, int], None]] = {
    f.__name__: f for f in (
        delete_report, report_unreadable, delete_replication_file, replication_file_unreadable,
        password_list_missing, password_list_file_unreadable, truncate_job_file, wrong_pfx_password,
        disable_store, undecryptable_secret, target_passphrase_missing, target_folder_unwritable,
        target_in_use, earlier_run_of_some_modules, earlier_run_killed, wrong_target_passphrase)
}
# what changes the target goes last, after what changes the source and the answers
LAST = ("wrong_target_passphrase", "earlier_run_of_some_modules", "earlier_run_killed", "target_folder_unwritable",
        "target_in_use")


# --- outcomes ------------------------------------------------------------------------------------------------
def outcome(answers: Any, *, what_if: bool) -> dict[str, Any]:
    """Everything a run says of itself: per-unit outcomes, module counts and statuses, or the request error."""
    reporter = CollectingReporter()
    try:
        result = run_upgrade(answers, reporter, what_if=what_if)
    except EngineError as error:
        return {"error": error.error_id}
    units = {fields["unit"]: (UNIT_EVENTS[name], fields.get("errorId"))
             for name, _level, fields in reporter.events if name in UNIT_EVENTS}
    modules = {m.module: (m.status, m.done, m.already_done, m.failed,
                          sorted((f.unit, f.error["data"]["errorId"]) for f in m.failures)) for m in result.modules}
    return {"status": result.status, "units": units, "modules": modules}


def snapshot(inst: Installation, lock_folder: Path) -> dict[str, Any]:
    """Every file but SQLite's shared-memory WAL index (``-shm``): any reader of a WAL database rebuilds it
    after a crash, a read-only one included; it holds no data (docs/decisions.md, "What-if")."""
    tree = {k: v for k, v in trees.snapshot(inst.root).items() if not k.endswith("-shm")}
    return {"tree": tree, "locks": sorted(p.name for p in lock_folder.iterdir())}


@pytest.fixture(scope="module")
def lock_folder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("locks")
    saved = os.environ.get(LOCK_FOLDER_ENV)
    os.environ[LOCK_FOLDER_ENV] = str(folder)
    yield folder
    if saved is None:
        os.environ.pop(LOCK_FOLDER_ENV, None)
    else:
        os.environ[LOCK_FOLDER_ENV] = saved


mutation_lists = st.lists(st.tuples(st.sampled_from(sorted(MUTATIONS)), st.integers(0, 50)), min_size=1, max_size=3,
                          unique_by=lambda m: m[0])


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not FULL, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations=mutation_lists)
def test_r15_what_if_reports_the_outcome_of_every_unit_the_run_then_has(
        mutations: list[tuple[str, int]], sample_root: Path, tmp_path_factory: pytest.TempPathFactory,
        lock_folder: Path) -> None:
    mutations = sorted(mutations, key=lambda m: (m[0] in LAST, LAST.index(m[0]) if m[0] in LAST else 0))
    root = helpers.copy_sample(sample_root, tmp_path_factory.mktemp("differential") / "sample")
    with ExitStack() as stack:
        inst = Installation(root, stack)
        for name, index in mutations:
            MUTATIONS[name](inst, index)
        before = snapshot(inst, lock_folder)
        predicted = outcome(inst.answers(), what_if=True)
        after = snapshot(inst, lock_folder)
        assert after == before, f"the what-if wrote ({mutations}): {trees.changes(before['tree'], after['tree'])}"
        actual = outcome(inst.answers(), what_if=False)
        assert predicted == actual, f"mutations {mutations}"
        if "target_in_use" in dict(mutations):
            assert actual == {"error": "TargetInUse"}


def test_the_report_file_deleted_in_the_issue_is_predicted(sample_copy: helpers.Sample, lock_folder: Path) -> None:
    """The measured case of issue #15: one report file gone; the what-if said Reports Succeeded."""
    report = next(p for p in (sample_copy.program_data / "Reports").rglob("*") if p.is_file())
    report.unlink()
    predicted = outcome(load_answer_file(sample_copy.answer_file), what_if=True)
    assert predicted["modules"]["Reports"][0] == "PartiallySucceeded"
    failed = [u for u, (what, error) in predicted["units"].items() if what == "Failed"]
    assert len(failed) == 1 and predicted["units"][failed[0]][1] == "SourceFolderNotFound"
    assert outcome(load_answer_file(sample_copy.answer_file), what_if=False) == predicted


def test_a_killed_earlier_run_is_predicted_and_its_row_ended(sample_copy: helpers.Sample, lock_folder: Path) -> None:
    env = {**os.environ, KILL_AT: "unit-in-transaction:7"}
    killed = subprocess.run([*helpers.ENGINE, "run", "--answer-file", str(sample_copy.answer_file)],
                            capture_output=True, env=env, timeout=helpers.SUBPROCESS_TIMEOUT, stdin=subprocess.DEVNULL)
    assert killed.returncode == -signal.SIGKILL
    predicted = outcome(load_answer_file(sample_copy.answer_file), what_if=True)
    assert sum(1 for what, _ in predicted["units"].values() if what == "AlreadyDone") == 6
    assert outcome(load_answer_file(sample_copy.answer_file), what_if=False) == predicted
    with sqlite3.connect(sample_copy.root / "target" / "GroupID11.db") as conn:
        statuses = [row[0] for row in conn.execute("SELECT Status FROM Upg_Run ORDER BY StartedOn")]
    assert statuses == ["Interrupted", "Succeeded"]
