"""Shared helpers and fixtures of the walking-skeleton tests (issue #2).

Test modules load the fixtures with ``pytest_plugins = ["helpers"]`` and import the functions with
``import helpers``. A generated sample is shared per session for tests that only read it; a test
that changes a sample takes ``sample_copy`` (a private copy of the shared one).

PYTEST_DONT_REWRITE: test modules import this module before pytest loads it as a plugin.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from groupid_upgrade.sample.generator import SampleSpec, generate_sample
from support import trees

SEED = 1
ENGINE = [sys.executable, "-m", "groupid_upgrade"]
SUBPROCESS_TIMEOUT = 60


# --- samples ---------------------------------------------------------------------------------------
def make_sample(out: Path, **spec: Any) -> Path:
    """Generate a sample into ``out`` (a new folder) and return it."""
    spec.setdefault("seed", SEED)
    return generate_sample(SampleSpec(out=out, **spec))


def copy_sample(src: Path, dst: Path) -> Path:
    """A private copy of a sample; ``copytree`` keeps file modes (secrets.json stays 0600)."""
    shutil.copytree(src, dst)
    return dst


@dataclass(frozen=True)
class Sample:
    """A generated sample: its folder and the paths its answer file names."""

    root: Path

    @property
    def answer_file(self) -> Path:
        return self.root / "answers.json"

    @property
    def answers(self) -> dict[str, Any]:
        return load_json(self.answer_file)

    @property
    def manifest(self) -> dict[str, Any]:
        return load_json(self.root / "sample.json")

    @property
    def secrets(self) -> dict[str, Any]:
        return load_json(self.root / "secrets.json")

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def database(self) -> Path:
        return self.root / self.answers["source"]["database"]["path"]

    @property
    def program_files(self) -> Path:
        return self.root / self.answers["source"]["programFiles"]

    @property
    def program_data(self) -> Path:
        return self.root / self.answers["source"]["programData"]

    @property
    def jobs_folder(self) -> Path:
        return self.program_data / "Synchronize" / "Jobs"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query on the sample's database, opened read-only with plain sqlite3."""
        conn = sqlite3.connect(f"{self.database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()

    def write_answers(self, data: dict[str, Any], name: str = "answers-test.json") -> Path:
        """An answer file beside answers.json (so its relative paths resolve the same way)."""
        path = self.root / name
        write_json(path, data)
        return path

    def answers_with(self, name: str = "answers-test.json", **changes: Any) -> Path:
        """answers.json with top-level keys replaced, written beside it."""
        data = self.answers
        data.update(changes)
        return self.write_answers(data, name)


def shared_changes(root: Path, before: trees.Snapshot) -> list[str]:
    """What tests changed in a shared sample: anything but the answer files they may write beside
    answers.json (``Sample.write_answers``, with names of their own)."""
    allowed = ("answers-", "secrets-")
    return [change for change in trees.changes(before, trees.snapshot(root))
            if not (change.startswith(".: ") or ("/" not in change.split(":")[0] and change.startswith(allowed)
                                                 and change.endswith("created (file)")))]


def _shared(root: Path) -> Iterator[Path]:
    """A sample every test of the session reads; at the end of the session it must be as generated, or a
    test changed what later tests read (and the suite would depend on the order its files run in)."""
    before = trees.snapshot(root)
    yield root
    changed = shared_changes(root, before)
    assert not changed, f"a test changed the shared sample {root} (take sample_copy instead):\n" + "\n".join(
        changed[:20])


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The default 10.0 sample (seed 1), generated once per session. Read it, never change it."""
    yield from _shared(make_sample(tmp_path_factory.mktemp("shared") / "sample"))


@pytest.fixture(scope="session")
def sample(sample_root: Path) -> Sample:
    return Sample(sample_root)


@pytest.fixture(scope="session")
def faults_sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sample]:
    """The default sample with ``--with-faults``, generated once per session. Read only."""
    for root in _shared(make_sample(tmp_path_factory.mktemp("shared-faults") / "sample", with_faults=True)):
        yield Sample(root)


@pytest.fixture
def sample_copy(sample_root: Path, tmp_path: Path) -> Sample:
    """A private copy of the shared sample, for a test that changes it."""
    return Sample(copy_sample(sample_root, tmp_path / "sample"))


# --- files -----------------------------------------------------------------------------------------
def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def dtmconfig_files(jobs_folder: Path, sub: str | None = None) -> list[Path]:
    folder = jobs_folder / sub if sub else jobs_folder
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".dtmconfig")


# --- the engine as a process -------------------------------------------------------------------------
def engine_env(log_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GROUPID_UPGRADE_LOG_DIR"] = str(log_dir)
    env.pop("COLUMNS", None)
    return env


@pytest.fixture(scope="session")
def engine_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where engine processes started by these tests write their log (never the user's)."""
    return tmp_path_factory.mktemp("engine-logs")


def run_cli(*args: str | Path, log_dir: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m groupid_upgrade ARGS``; stdout and stderr captured as text."""
    return subprocess.run(
        [*ENGINE, *(str(a) for a in args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=engine_env(log_dir),
        cwd=cwd,
        timeout=SUBPROCESS_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class ServeSession:
    """What one ``serve`` process answered: responses by id, notifications, stderr, exit code."""

    responses: dict[Any, dict[str, Any]]
    notifications: list[dict[str, Any]] = field(default_factory=list)
    stderr: str = ""
    exit_code: int | None = None
    stdout_lines: list[str] = field(default_factory=list)

    def result(self, request_id: Any) -> Any:
        response = self.responses[request_id]
        assert "error" not in response, f"request {request_id} failed: {response['error']}"
        return response["result"]

    def error(self, request_id: Any) -> dict[str, Any]:
        response = self.responses[request_id]
        assert "error" in response, f"request {request_id} did not fail: {str(response)[:300]}"
        return response["error"]


def serve(requests: list[tuple[str, dict[str, Any] | None]], *, log_dir: Path) -> ServeSession:
    """Start ``python -m groupid_upgrade serve``, send one JSON line per request (ids 1..n), then
    ``engine.shutdown``; return every answer. Every stdout line must be a JSON-RPC message."""
    lines = []
    for i, (method, params) in enumerate(requests, start=1):
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            message["params"] = params
        lines.append(json.dumps(message))
    lines.append(json.dumps({"jsonrpc": "2.0", "id": "shutdown", "method": "engine.shutdown"}))
    proc = subprocess.run(
        [*ENGINE, "serve"],
        input=("\n".join(lines) + "\n").encode("utf-8"),
        capture_output=True,
        env=engine_env(log_dir),
        timeout=SUBPROCESS_TIMEOUT,
    )
    session = ServeSession(
        responses={}, stderr=proc.stderr.decode("utf-8", "replace"), exit_code=proc.returncode
    )
    for raw in proc.stdout.decode("utf-8").splitlines():
        session.stdout_lines.append(raw)
        message = json.loads(raw)  # stdout carries protocol messages and nothing else
        assert message.get("jsonrpc") == "2.0", raw[:200]
        if "id" in message and ("result" in message or "error" in message):
            session.responses[message["id"]] = message
        else:
            session.notifications.append(message)
    return session


def plan_request(answer_file: Path, **params: Any) -> tuple[str, dict[str, Any]]:
    return "upgrade.plan", {"answerFile": str(answer_file), **params}


def iter_records(session: ServeSession, method: str) -> Iterator[dict[str, Any]]:
    for note in session.notifications:
        if note.get("method") == method:
            yield note["params"]


# --- answer files that make ``upgrade.plan`` fail, shared by the protocol and the CLI tests --------
@dataclass(frozen=True)
class ErrorCase:
    """An answer file that must fail with ``error_id``, naming ``culprit`` in the message."""

    name: str
    answer_file: Path
    error_id: str
    culprit: tuple[str, ...]  # every one of these appears in the message
    exit_code: int  # what protocol.md / the brief want from the CLI
    bad_fields: tuple[str, ...] = ()  # AnswerFileInvalid: every field data.errors must list


USAGE_EXIT = 2
FAILED_EXIT = 1


def build_error_cases(sample: Sample, workdir: Path) -> list[ErrorCase]:
    """Answer files in ``workdir`` that point at the (unchanged) shared sample where they can."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = sample.answers
    base["source"]["programFiles"] = str(sample.program_files)
    base["source"]["programData"] = str(sample.program_data)
    base["source"]["database"]["path"] = str(sample.database)
    base["target"]["database"]["path"] = str(workdir / "target" / "GroupID11.db")
    base.pop("target", None)
    base["target"] = {"version": "11.1", "database": {"kind": "sqlite", "path": str(workdir / "target.db")}}
    base["secretsFile"] = str(sample.root / "secrets.json")
    base["modules"] = ["Configuration"]

    def write(name: str, change: Any) -> Path:
        data = json.loads(json.dumps(base))
        change(data)
        return write_json(workdir / f"{name}.json", data)

    def set_path(*keys_and_value: Any) -> Any:
        *keys, value = keys_and_value

        def change(data: dict[str, Any]) -> None:
            node = data
            for key in keys[:-1]:
                node = node[key]
            node[keys[-1]] = value

        return change

    garbage = workdir / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 64)
    truncated = workdir / "truncated.db"
    whole = sample.database.read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    corrupted = workdir / "corrupted.db"  # whole, header intact, pages in the middle overwritten
    damaged = bytearray(whole)
    damaged[len(whole) // 2 : len(whole) // 2 + len(whole) // 10] = b"\xab" * (len(whole) // 10)
    corrupted.write_bytes(bytes(damaged))
    missing = workdir / "no-such-folder" / "GroupID 10.0"
    nowhere_db = workdir / "no-such.db"

    def bad_keys(data: dict[str, Any]) -> None:
        data["modulez"] = ["Configuration"]
        data["source"]["pasphrase"] = "x"
        data["source"]["database"]["pathh"] = "y"
        data["target"]["elasticsearch"] = {"url": "http://localhost:9200", "indexPrefx": "a"}

    def unsupported_pair(data: dict[str, Any]) -> None:
        data["source"]["version"] = "9.0"
        data["source"]["database"]["path"] = str(nowhere_db)
        data["target"]["version"] = "11.1"

    return [
        ErrorCase(
            "source-version-8",
            write("source-8", set_path("source", "version", "8.0")),
            "SourceVersionUnsupported",
            ("8.0",),
            USAGE_EXIT,
        ),
        ErrorCase(
            "source-version-11",
            write("source-11", set_path("source", "version", "11")),
            "SourceVersionUnsupported",
            ("11",),
            USAGE_EXIT,
        ),
        ErrorCase(
            "target-version-12",
            write("target-12", set_path("target", "version", "12")),
            "TargetVersionUnsupported",
            ("12",),
            USAGE_EXIT,
        ),
        ErrorCase(
            "unsupported-pair",
            write("pair", unsupported_pair),
            "UpgradePathUnsupported",
            ("9.0", "11.1"),
            USAGE_EXIT,
        ),
        ErrorCase(
            "unknown-module",
            write("module", set_path("modules", ["Configuration", "Reprots"])),
            "ModuleUnknown",
            ("Reprots",),
            USAGE_EXIT,
        ),
        ErrorCase(
            "module-without-dependency",
            write("dependency", set_path("modules", ["Configuration", "Schedules"])),
            "ModuleDependencyMissing",
            ("Schedules", "Synchronize"),
            USAGE_EXIT,
        ),
        ErrorCase(
            "missing-source-folder",
            write("folder", set_path("source", "programData", str(missing))),
            "SourceFolderNotFound",
            (str(missing),),
            FAILED_EXIT,
        ),
        ErrorCase(
            "garbage-database",
            write("garbage", set_path("source", "database", "path", str(garbage))),
            "DatabaseUnreadable",
            (str(garbage),),
            FAILED_EXIT,
        ),
        ErrorCase(
            "truncated-database",
            write("truncated", set_path("source", "database", "path", str(truncated))),
            "DatabaseUnreadable",
            (str(truncated),),
            FAILED_EXIT,
        ),
        ErrorCase(
            "corrupted-database",
            write("corrupted", set_path("source", "database", "path", str(corrupted))),
            "DatabaseUnreadable",
            (str(corrupted),),
            FAILED_EXIT,
        ),
        ErrorCase(
            "missing-database",
            write("nodb", set_path("source", "database", "path", str(nowhere_db))),
            "DatabaseUnreadable",
            (str(nowhere_db),),
            FAILED_EXIT,
        ),
        ErrorCase(
            "unknown-top-level-key",
            write("top-key", set_path("modulez", ["Configuration"])),
            "AnswerFileInvalid",
            ("modulez",),
            USAGE_EXIT,
            ("modulez",),
        ),
        ErrorCase(
            "unknown-nested-key",
            write("nested-key", set_path("source", "pasphrase", "x")),
            "AnswerFileInvalid",
            ("source.pasphrase",),
            USAGE_EXIT,
            ("source.pasphrase",),
        ),
        ErrorCase(
            "unknown-keys-everywhere",
            write("keys", bad_keys),
            "AnswerFileInvalid",
            ("modulez", "source.pasphrase"),
            USAGE_EXIT,
            ("modulez", "source.pasphrase", "source.database.pathh", "target.elasticsearch.indexPrefx"),
        ),
        ErrorCase(
            "wrong-type",
            write("type", set_path("validateOnline", "maybe")),
            "AnswerFileInvalid",
            ("validateOnline",),
            USAGE_EXIT,
            ("validateOnline",),
        ),
    ]


def load_json_text(text: str) -> Any:
    """JSON printed by the CLI; the whole of stdout must be one JSON document."""
    return json.loads(text)
