"""serve's cache of loaded answer files (settings_cache.py): an unchanged file is not loaded again, a changed
answer file or secrets file is always noticed by the next request, and the cache never changes a result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import EngineError
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.sample.generator import SampleSpec, generate_sample
from groupid_upgrade.settings_cache import SettingsCache

SERVE = [sys.executable, "-m", "groupid_upgrade", "serve"]


def answers_data(version: str = "11.1", batch: int = 5000, secrets: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": {"version": "10.0", "database": {"kind": "sqlite", "path": "db/source.db"}, "programFiles": "pf"},
        "target": {"version": version, "historyBatchSize": batch, "database": {"kind": "sqlite", "path": "t.db"}},
    }
    if secrets is not None:
        data["secretsFile"] = secrets
    return data


def rewrite_in_place(path: Path, data: Any, mode: int = 0o600) -> None:
    """The same file (same inode) given new content, as an editor that saves in place does."""
    with open(path, "r+b") as handle:
        handle.write(json.dumps(data).encode())
        handle.truncate()
    path.chmod(mode)


def write(path: Path, data: Any, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def cache() -> SettingsCache:
    on = SettingsCache()
    on.enable()
    return on


def test_an_unchanged_answer_file_is_loaded_once_and_then_served_from_the_cache(tmp_path: Path,
                                                                                cache: SettingsCache) -> None:
    file = write(tmp_path / "answers.json", answers_data())
    first = cache.load(file)
    second = cache.load(file)
    assert second is first and cache.loads == 1 and cache.hits == 1
    assert second == load_answer_file(file)


def test_off_it_loads_every_time(tmp_path: Path) -> None:
    off = SettingsCache()  # a one-shot process (the CLI) never enables it
    file = write(tmp_path / "answers.json", answers_data())
    assert off.load(file) is not off.load(file) and off.hits == 0


@pytest.mark.parametrize("changed", ["answer file", "secrets file"])
def test_a_file_rewritten_at_once_with_the_same_size_is_noticed(tmp_path: Path, cache: SettingsCache,
                                                                changed: str) -> None:
    """Written again straight after it was read, in place, to the same size: its stamps may all be equal
    (timestamps tick coarsely), so only the content can tell; the next load must still see the new value."""
    secrets = write(tmp_path / "secrets.json", {"target": {"passphrase": "first-passphrase"}})
    file = write(tmp_path / "answers.json", answers_data(version="11.1", secrets=str(secrets)))
    assert cache.load(file).target.version == "11.1"
    if changed == "answer file":
        rewrite_in_place(file, answers_data(version="11.0", secrets=str(secrets)))
        assert cache.load(file).target.version == "11.0"
    else:
        rewrite_in_place(secrets, {"target": {"passphrase": "other-passphrase"}})
        passphrase = cache.load(file).target.passphrase
        assert passphrase is not None and passphrase.get_secret_value() == "other-passphrase"
    assert cache.loads == 2


def test_on_a_file_system_with_coarse_timestamps_a_rewrite_within_the_tick_is_still_noticed(
        tmp_path: Path, cache: SettingsCache, monkeypatch: pytest.MonkeyPatch) -> None:
    """FAT keeps 2 s, others update times lazily: the stamps before and after an in-place rewrite of the same
    size are then equal, and only the content comparison of a recently written file notices it."""
    from groupid_upgrade.safety.reading import FileStamp

    fine_of = FileStamp.of
    tick = 2_000_000_000

    def coarse(cls: type[FileStamp], path: Path | str) -> FileStamp | None:
        fine = fine_of(path)
        return None if fine is None else FileStamp(fine.device, fine.inode, fine.size, fine.mtime_ns // tick * tick,
                                                   fine.ctime_ns // tick * tick, fine.mode)

    monkeypatch.setattr(FileStamp, "of", classmethod(coarse))
    file = write(tmp_path / "answers.json", answers_data(batch=1000))
    assert cache.load(file).target.history_batch_size == 1000
    rewrite_in_place(file, answers_data(batch=2000))  # within the same 2 s tick but once in a thousand runs
    assert cache.load(file).target.history_batch_size == 2000
    assert cache.loads == 2


def test_a_file_replaced_removed_or_made_unreadable_is_never_served_stale(tmp_path: Path,
                                                                          cache: SettingsCache) -> None:
    file = write(tmp_path / "answers.json", answers_data(batch=5000))
    cache.load(file)
    replacement = write(tmp_path / "new.json", answers_data(batch=6000))
    os.replace(replacement, file)  # a new inode under the same name
    assert cache.load(file).target.history_batch_size == 6000
    file.unlink()
    with pytest.raises(EngineError) as gone:
        cache.load(file)
    assert gone.value.error_id == "AnswerFileNotFound"
    write(file, {"source": {}})
    with pytest.raises(EngineError) as invalid:
        cache.load(file)
    assert invalid.value.error_id == "AnswerFileInvalid"


def test_each_request_gets_the_warning_of_a_secrets_file_readable_by_others(tmp_path: Path,
                                                                             cache: SettingsCache) -> None:
    if os.name != "posix":
        pytest.skip("file modes are POSIX")  # pragma: no cover - the CI runs on Linux
    secrets = write(tmp_path / "secrets.json", {"target": {"passphrase": "p"}}, mode=0o644)
    file = write(tmp_path / "answers.json", answers_data(secrets=str(secrets)))
    for _ in range(2):
        reporter = CollectingReporter()
        cache.load(file, reporter=reporter)
        assert [m for level, m in reporter.logs if level == "warning"] == [
            f"{secrets} holds secrets and is readable by other users; restrict it (chmod 600)."]
    assert cache.hits == 1
    secrets.chmod(0o600)  # the mode is part of the stamp: loaded again, and no warning now
    reporter = CollectingReporter()
    cache.load(file, reporter=reporter)
    assert reporter.logs == [] and cache.loads == 2


def test_inline_settings_and_the_working_folder_are_part_of_the_key(tmp_path: Path, cache: SettingsCache,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    file = write(tmp_path / "answers.json", answers_data())
    assert cache.load(file, inline={"target": {"version": "11.0"}}).target.version == "11.0"
    assert cache.load(file).target.version == "11.1"
    assert cache.load(file, inline={"target": {"version": "11.0"}}).target.version == "11.0"
    assert cache.hits == 1
    for folder in ("a", "b"):  # relative paths of inline settings resolve against the working folder
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        loaded = cache.load(None, inline=answers_data())
        assert loaded.target.database.path == tmp_path / folder / "t.db"  # type: ignore[union-attr]


# --- generated: any sequence of edits and loads gives what a fresh load gives ------------------------------
EDITS = st.sampled_from(["answer-in-place", "answer-replaced", "secrets-in-place", "secrets-chmod", "touch", "none"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(EDITS, st.integers(0, 3)), min_size=1, max_size=8))
def test_generated_edits_between_loads_never_give_a_stale_answer_file(tmp_path_factory: pytest.TempPathFactory,
                                                                       steps: list[tuple[str, int]]) -> None:
    folder = tmp_path_factory.mktemp("edits")
    versions, batches = ["11.0", "11.1", "11.0", "11.1"], [1000, 2000, 3000, 4000]  # equal sizes each
    secrets = write(folder / "secrets.json", {"target": {"passphrase": "pass-0"}})
    file = write(folder / "answers.json", answers_data(secrets=str(secrets)))
    cache = SettingsCache()
    cache.enable()
    for edit, value in steps:
        if edit == "answer-in-place":
            rewrite_in_place(file, answers_data(versions[value], batches[value], str(secrets)))
        elif edit == "answer-replaced":
            os.replace(write(folder / "next.json", answers_data(versions[value], batches[value], str(secrets))), file)
        elif edit == "secrets-in-place":
            rewrite_in_place(secrets, {"target": {"passphrase": f"pass-{value}"}})
        elif edit == "secrets-chmod":
            secrets.chmod(0o600 if value % 2 else 0o640)
        elif edit == "touch":
            os.utime(file)
        cached_logs, fresh_logs = CollectingReporter(), CollectingReporter()
        cached = cache.load(file, reporter=cached_logs)
        fresh = load_answer_file(file, reporter=fresh_logs)
        assert cached == fresh  # every field, the secrets (SecretStr compares its value) and the input files
        assert cached_logs.logs == fresh_logs.logs


# --- through serve: two requests on one engine, the file changed between them --------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_sample(SampleSpec(out=tmp_path_factory.mktemp("sample") / "s", history=10))


class Engine:
    def __init__(self, log_dir: Path) -> None:
        env = {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(log_dir)}
        self.proc = subprocess.Popen(SERVE, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        self.next_id = 0

    def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            answer = json.loads(line)
            if answer.get("id") == self.next_id:
                return answer
        raise AssertionError("the engine ended before it answered")

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    one = Engine(tmp_path)
    try:
        yield one
    finally:
        one.close()


def plan_of(engine: Engine, answer_file: Path) -> dict[str, Any]:
    answer = engine.ask("upgrade.plan", {"answerFile": str(answer_file)})
    assert "result" in answer, answer
    return answer["result"]


def test_serve_notices_a_changed_answer_file_and_secrets_file_between_two_requests(
        sample: Path, tmp_path: Path, engine: Engine) -> None:
    data = json.loads((sample / "answers.json").read_text())
    secrets_file = Path(data["secretsFile"]) if Path(data["secretsFile"]).is_absolute() else \
        sample / data["secretsFile"]
    secrets = json.loads(secrets_file.read_text())
    data.pop("modules", None)  # the modules come from the secrets file, to see its changes in the plan
    answer_file = write(sample / "cache-answers.json", data)
    write(secrets_file, {**secrets, "modules": ["Configuration", "Reports"]})
    try:
        first = plan_of(engine, answer_file)
        assert first["modules"] == ["Configuration", "Reports"] and first["targetVersion"] == data["target"]["version"]
        assert plan_of(engine, answer_file) == first  # unchanged: the same plan
        other = "11.0" if data["target"]["version"] != "11.0" else "11.1"
        rewrite_in_place(answer_file, {**data, "target": {**data["target"], "version": other}})
        assert plan_of(engine, answer_file)["targetVersion"] == other
        rewrite_in_place(secrets_file, {**secrets, "modules": ["Configuration", "History"]})  # same size, at once
        changed = plan_of(engine, answer_file)
        assert changed["modules"] == ["Configuration", "History"] and changed["targetVersion"] == other
    finally:
        write(secrets_file, secrets)


def test_the_cache_does_not_change_a_result(sample: Path, tmp_path: Path, engine: Engine) -> None:
    """The same requests on one engine (loaded once, then from the cache) and each on an engine of its own."""
    answer_file = sample / "answers.json"
    on_one = [plan_of(engine, answer_file) for _ in range(3)]
    separate = []
    for i in range(2):
        own = Engine(tmp_path / f"own-{i}")
        try:
            separate.append(plan_of(own, answer_file))
        finally:
            own.close()
    assert on_one[0] == on_one[1] == on_one[2] == separate[0] == separate[1]
