"""The target serve keeps open between group requests (target/kept.py, issue 19).

Kept only while it is the same file and only as long as ``keep_seconds``; a commit by anyone else is
noticed (``unchanged`` False, what requests derived from it dropped); a request of any other method,
shutdown and idling out close it. Real SQLite targets of the sample, no mocks.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.api import MethodSpec
from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.base import Params
from groupid_upgrade.model.settings import TargetSettings
from groupid_upgrade.reporting import Reporter
from groupid_upgrade.safety.paths import WriteGuard
from groupid_upgrade.target.kept import KEPT, KeptTargets, OpenTarget
from groupid_upgrade.target.writer import TargetInstallation
from test_protocol import serve_bytes

pytest_plugins = ["helpers"]


@pytest.fixture
def target(sample_copy: helpers.Sample) -> TargetSettings:
    """The sample's target settings; the target database created once (as a first run leaves it)."""
    settings = load_answer_file(sample_copy.answer_file).target
    TargetInstallation(settings).close()
    return settings


@pytest.fixture
def kept() -> Iterator[KeptTargets]:
    pool = KeptTargets(keep_seconds=30)
    pool.enable()
    yield pool
    pool.close_all()


def is_open(opened: OpenTarget) -> bool:
    assert opened.target.db is not None
    try:
        opened.target.db.execute("SELECT 1").fetchone()
    except sqlite3.ProgrammingError:  # "Cannot operate on a closed database."
        return False
    return True


def commit_from_elsewhere(settings: TargetSettings) -> None:
    other = sqlite3.connect(settings.database.path)  # type: ignore[union-attr]
    with other:
        other.execute("CREATE TABLE IF NOT EXISTS Test_Elsewhere (n INTEGER)")
        other.execute("INSERT INTO Test_Elsewhere VALUES (1)")
    other.close()


def test_the_same_target_is_handed_back_unchanged_with_what_was_derived(kept: KeptTargets,
                                                                         target: TargetSettings) -> None:
    first = kept.open(target, read_only=False, guard=None, create_schema=False)
    assert not first.unchanged
    first.derived["stores"] = ["derived"]
    kept.release(first, healthy=True)
    second = kept.open(target, read_only=False, guard=None, create_schema=False)
    assert second is first and second.unchanged and second.derived == {"stores": ["derived"]}
    assert kept.reused == 1 and is_open(second)


def test_a_commit_by_another_connection_is_noticed_and_what_was_derived_dropped(kept: KeptTargets,
                                                                                target: TargetSettings) -> None:
    first = kept.open(target, read_only=False, guard=None, create_schema=False)
    first.derived["stores"] = ["derived"]
    kept.release(first, healthy=True)
    commit_from_elsewhere(target)
    second = kept.open(target, read_only=False, guard=None, create_schema=False)
    assert second is first and not second.unchanged and second.derived == {}


def test_its_own_commits_leave_it_unchanged(kept: KeptTargets, target: TargetSettings) -> None:
    first = kept.open(target, read_only=False, guard=None, create_schema=False)
    with first.target.ledger.transaction() as writer:
        writer.record("Groups/group:kept-test", "Groups", "kept-test", "run-kept")
    first.derived["stores"] = ["derived"]
    kept.release(first, healthy=True)
    assert kept.open(target, read_only=False, guard=None, create_schema=False).unchanged


def test_a_replaced_file_is_opened_again_and_the_old_connection_closed(kept: KeptTargets,
                                                                      target: TargetSettings, tmp_path: Path) -> None:
    first = kept.open(target, read_only=False, guard=None, create_schema=False)
    kept.release(first, healthy=True)
    path = Path(target.database.path)  # type: ignore[union-attr]
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)
    os.replace(copy, path)
    second = kept.open(target, read_only=False, guard=None, create_schema=False)
    assert second is not first and not second.unchanged and not is_open(first) and is_open(second)


def test_a_deleted_target_is_never_written_through_the_old_connection(kept: KeptTargets,
                                                                      target: TargetSettings) -> None:
    first = kept.open(target, read_only=False, guard=None, create_schema=False)
    kept.release(first, healthy=True)
    path = Path(target.database.path)  # type: ignore[union-attr]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    second = kept.open(target, read_only=False, guard=None, create_schema=True)
    assert second is not first and not is_open(first) and path.exists()


@pytest.mark.parametrize("how", ["unhealthy", "read-only", "disabled", "expired"])
def test_it_is_not_kept(how: str, target: TargetSettings) -> None:
    pool = KeptTargets(keep_seconds=0.2 if how == "expired" else 30)
    if how != "disabled":
        pool.enable()
    opened = pool.open(target, read_only=how == "read-only", guard=None, create_schema=False)
    pool.release(opened, healthy=how != "unhealthy")
    if how == "expired":
        deadline = time.monotonic() + 10
        while pool.kept_count() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert pool.kept_count() == 0 and not is_open(opened)
    again = pool.open(target, read_only=False, guard=None, create_schema=False)
    assert again is not opened and pool.reused == 0
    pool.release(again, healthy=False)


def test_another_passphrase_is_another_target(kept: KeptTargets, target: TargetSettings) -> None:
    first = kept.open(target, read_only=False, guard=None, create_schema=False)
    kept.release(first, healthy=True)
    other = target.model_copy(update={"passphrase": type(target.passphrase)("another-passphrase-1!Aa")})
    second = kept.open(other, read_only=False, guard=None, create_schema=False)
    assert second is not first and kept.reused == 0
    second.target.close()


# --- serve: another method's request closes what was kept --------------------------------------------
class _Empty(Params):
    pass


def _keep(params: Any, reporter: Reporter) -> dict[str, Any]:
    settings = TargetSettings.model_validate(json.loads(os.environ["KEPT_TEST_TARGET"]))
    KEPT.release(KEPT.open(settings, read_only=False, guard=None, create_schema=False), healthy=True)
    return {"kept": KEPT.kept_count()}


def _count(params: Any, reporter: Reporter) -> dict[str, Any]:
    return {"kept": KEPT.kept_count()}


def test_serve_closes_the_kept_target_before_another_methods_request(target: TargetSettings,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = target.model_dump(mode="json")
    data["passphrase"] = target.passphrase.get_secret_value() if target.passphrase else None
    monkeypatch.setenv("KEPT_TEST_TARGET", json.dumps(data))
    methods = {"test.keep": MethodSpec("test.keep", _Empty, None, _keep, "keeps", keeps_target=True),
               "test.count": MethodSpec("test.count", _Empty, None, _count, "counts")}
    lines = [{"jsonrpc": "2.0", "id": n, "method": m} for n, m in
             enumerate(["test.keep", "test.keep", "test.count", "engine.shutdown"], start=1)]
    try:
        rc, messages = serve_bytes(b"".join(json.dumps(m).encode() + b"\n" for m in lines), method_table=methods)
        answers = {m["id"]: m.get("result") for m in messages if "id" in m}
        assert rc == 0 and answers[1] == {"kept": 1} and answers[2] == {"kept": 1} and answers[3] == {"kept": 0}
        assert KEPT.reused >= 1
    finally:
        KEPT.close_all()
        KEPT.enabled = False


def test_the_write_guard_is_checked_on_every_open_and_a_kept_target_opens_nothing(kept: KeptTargets,
                                                                                 target: TargetSettings) -> None:
    built: list[WriteGuard] = []

    def guard() -> WriteGuard:
        built.append(WriteGuard())
        return built[-1]

    def refusing() -> WriteGuard:
        refuse = WriteGuard()
        refuse.protect(Path(target.database.path), "the source database (a test)")  # type: ignore[union-attr]
        return refuse

    first = kept.open(target, read_only=False, guard=guard, create_schema=False)
    kept.release(first, healthy=True)
    assert kept.open(target, read_only=False, guard=refusing, create_schema=False) is first and len(built) == 1
    kept.release(first, healthy=False)
    with pytest.raises(EngineError) as refused:
        kept.open(target, read_only=False, guard=refusing, create_schema=False)
    assert "source database" in str(refused.value)
