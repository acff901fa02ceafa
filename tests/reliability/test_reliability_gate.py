"""The hostile-input suite of issue 16: every path, file, name, number and secret the engine touches
goes through one gate (engine/groupid_upgrade/safety/).

One section per class; hypothesis generates the inputs where a generator fits (paths, names,
numbers, JSON, URLs, ODBC values). After every test the sample's source tree is byte-identical
(content, mode, mtime) and no output or written file holds a secret of the sample; every test
tallies its cases into the figures (gate_support.tally), rendered by scripts/reliability-report.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import socket
import sqlite3
import stat
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reliability_figures
from gate_support import leaked, tally
from hypothesis import strategies as st

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.backup.create import create_backup
from groupid_upgrade.backup.restore import restore_set
from groupid_upgrade.backup.verify import verify_set
from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.settings import PfxCredentials
from groupid_upgrade.protocol.server import run_server
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.safety.paths import WriteGuard
from groupid_upgrade.safety.reading import read_bytes
from groupid_upgrade.safety.redact import redact_text
from groupid_upgrade.safety.resources import translate
from groupid_upgrade.safety.strict_json import JsonRefused, loads
from groupid_upgrade.source.credentials import check_pfx
from groupid_upgrade.storage.sql import sqlserver_connection_string
from groupid_upgrade.upgrade.run_method import run_upgrade
from support import leaks, trees

pytest_plugins = ["helpers"]


# --- the sample, its untouched source, no secret anywhere --------------------------------------------------
@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> helpers.Sample:
    return helpers.Sample(helpers.make_sample(tmp_path_factory.mktemp("gate") / "sample", history=200))


@pytest.fixture(scope="module")
def secrets(gate: helpers.Sample) -> dict[str, str]:
    values = leaks.sample_secrets(gate.root)
    assert len(values) >= 20
    return values


@pytest.fixture(autouse=True)
def source_untouched(gate: helpers.Sample) -> Iterator[None]:
    """The source (database and folders) byte-identical after every test: content, mode and mtime."""
    with trees.unchanged(gate.source, "the source"):
        yield


def answers_file(gate: helpers.Sample, tmp_path: Path, change: Any = None, name: str = "answers.json") -> Path:
    """The sample's answers, written beside answers.json (its relative paths resolve the same way), with
    the target under ``tmp_path``, changed by ``change``."""
    data = gate.answers
    for side in ("source", "target"):
        for key in ("programFiles", "programData"):
            data[side][key] = str(gate.root / data[side][key])
        data[side]["database"]["path"] = str(gate.root / data[side]["database"]["path"])
    data["target"]["database"]["path"] = str(tmp_path / "target" / "GroupID11.db")
    data["target"]["programFiles"] = str(tmp_path / "target" / "pf")
    data["target"]["programData"] = str(tmp_path / "target" / "pd")
    data["secretsFile"] = str(gate.root / "secrets.json")
    if change is not None:
        change(data)
    path = gate.root / f"gate-{tmp_path.name}-{name}"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def cli(*args: Any, log_dir: Path, env: dict[str, str] | None = None, preexec: Any = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*helpers.ENGINE, *(str(a) for a in args)], capture_output=True, text=True,
                          encoding="utf-8", errors="surrogateescape", timeout=120, stdin=subprocess.DEVNULL,
                          env={**helpers.engine_env(log_dir), **(env or {})}, preexec_fn=preexec)


def no_unexpected(text: str) -> bool:
    return "an unexpected" not in text.lower() and "Traceback" not in text


# --- 1. paths ------------------------------------------------------------------------------------------------
def test_paths_a_target_on_the_source_is_refused_naming_both_and_nothing_is_written(
        gate: helpers.Sample, tmp_path: Path, secrets: dict[str, str]) -> None:
    """The reported break (R4): target.database.path = the source database made run succeed and wrote
    Gid_*/Upg_* tables into it; target.programData = the source's wrote reports and the log there."""
    src_db = str(gate.database)
    cases = {
        "target.database.path = the source database": lambda d: d["target"]["database"].update(path=src_db),
        "target.database.path inside source.programData": lambda d: d["target"]["database"].update(
            path=str(gate.program_data / "GroupID11.db")),
        "target.programData = source.programData": lambda d: d["target"].update(programData=str(gate.program_data)),
        "target.programFiles inside source.programFiles (via ..)": lambda d: d["target"].update(
            programFiles=str(gate.program_files / "x" / ".." / "SelfService")),
        "target.programData containing the source": lambda d: d["target"].update(programData=str(gate.root)),
        "target.logFolder inside source.programData": lambda d: d["target"].update(
            logFolder=str(gate.program_data / "Upgrade Tool")),
        "target.database.path = the secrets file": lambda d: d["target"]["database"].update(
            path=str(gate.root / "secrets.json")),
    }
    handled, outputs = 0, []
    for what, change in cases.items():
        answer_file = answers_file(gate, tmp_path, change, name=f"a{handled}.json")
        reporter = CollectingReporter()
        with pytest.raises(EngineError) as info:
            run_upgrade(load_answer_file(answer_file, reporter=reporter), reporter)
        exc = info.value
        outputs.append(exc.message)
        protected = exc.extra.get("protectedPath", "")
        if exc.error_id == "UnsafePath" and protected and protected in exc.message and exc.target in exc.message \
                and not (tmp_path / "target").exists():
            handled += 1
        else:
            print(what, exc.error_id, exc.message)
    # what-if refuses what the run would refuse (it writes nothing either way)
    answer_file = answers_file(gate, tmp_path, cases["target.programData = source.programData"], name="wi.json")
    with pytest.raises(EngineError) as info:
        run_upgrade(load_answer_file(answer_file), CollectingReporter(), what_if=True)
    handled += info.value.error_id == "UnsafePath" and str(gate.program_data) in info.value.message
    # the same through the CLI: exit 1, both paths named, no "unexpected"
    answer_file = answers_file(gate, tmp_path, cases["target.database.path = the source database"])
    done = cli("run", "--answer-file", answer_file, log_dir=tmp_path / "logs")
    outputs += [done.stdout, done.stderr]
    tried = len(cases) + 2
    handled += int(done.returncode == 1 and src_db in done.stderr and no_unexpected(done.stderr))
    tally("paths", "target paths on the source (run and what-if in process, run through the CLI)", tried=tried, handled=handled,
          lost=leaked(secrets, texts=outputs, paths=[tmp_path]), examples=list(cases))


def test_paths_backup_destination_restore_root_and_template_are_guarded(
        gate: helpers.Sample, tmp_path: Path, secrets: dict[str, str]) -> None:
    answer_file = answers_file(gate, tmp_path)
    answers = load_answer_file(answer_file)
    reporter = CollectingReporter()
    tried = handled = 0
    for dest in (gate.program_data / "Backups", gate.program_files, gate.root, gate.source / "x" / ".."):
        tried += 1
        with pytest.raises(EngineError) as info:
            create_backup(answers, Path(dest), reporter, include=["Reports"])
        handled += info.value.error_id in ("UnsafePath", "BackupDestinationInvalid")
    manifest, set_path = create_backup(answers, tmp_path / "set", reporter, include=["Reports"])
    for to in (gate.program_data, gate.source, set_path, set_path / "Reports", tmp_path):
        tried += 1
        with pytest.raises(EngineError) as info:
            restore_set(set_path, answers, reporter, include=["Reports"], to=to)
        handled += info.value.error_id == "UnsafePath" and str(to) in info.value.message
    # the answer template: never over an input, never into the source; created 0600
    before = {p: p.read_bytes() for p in (answer_file, gate.root / "secrets.json")}
    outputs = []
    for template in (answer_file, gate.root / "secrets.json", gate.program_data / "template.json"):
        tried += 1
        done = cli("plan", "--answer-file", answer_file, "--emit-answer-template", template, log_dir=tmp_path / "l")
        outputs += [done.stdout, done.stderr]
        handled += done.returncode != 0 and "UnsafePath" not in done.stdout and str(template) in done.stderr \
            and no_unexpected(done.stderr)
    unchanged = all(p.read_bytes() == data for p, data in before.items())
    tally("paths", "backup destination, restore root, answer template", tried=tried, handled=handled,
          lost=leaked(secrets, texts=outputs, paths=[tmp_path / "set"]) + (not unchanged))


segment = st.sampled_from(["src", "db.sqlite", "data", "..", ".", "other", "link", "SRC"])


@pytest.fixture(scope="module")
def path_bed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paths")
    (root / "src" / "data").mkdir(parents=True)
    (root / "src" / "db.sqlite").write_bytes(b"x")
    (root / "other").mkdir()
    (root / "link").symlink_to(root / "src")
    return root


def test_paths_generated_spellings_are_refused_exactly_when_they_reach_the_source(path_bed: Path) -> None:
    """``..``, ``.``, links, case: the guard decides on the real path, like ``Path.resolve``."""
    source = (path_bed / "src").resolve()
    guard = WriteGuard().protect(source, "the source folder")
    counts = {"tried": 0, "handled": 0}

    def check(parts: list[str]) -> None:
        candidate = path_bed.joinpath(*parts) if parts else path_bed
        real = candidate.resolve()
        expected = real == source or source in real.parents or real in source.parents
        counts["tried"] += 1
        try:
            guard.check(candidate, "target folder")
            refused = False
        except EngineError as exc:
            refused = exc.error_id == "UnsafePath" and str(source) in exc.message
        assert refused == expected, (candidate, real)
        counts["handled"] += 1

    reliability_figures.fuzz("gate: write paths", st.lists(segment, max_size=6), check)
    tally("paths", "generated spellings (.., ., links, case)", **counts)


# --- 2. files read -------------------------------------------------------------------------------------------
def bind_socket(path: Path) -> None:
    """A Unix socket at ``path`` (bound from its folder: the full path may be over the 108-byte limit)."""
    here = os.getcwd()
    os.chdir(path.parent)
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)


def _special_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "fifo"
    os.mkfifo(fifo)
    sock_path = folder / "sock"
    bind_socket(sock_path)
    big = folder / "big"
    with open(big, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: 64 MiB without the disk
    return {"/dev/zero": Path("/dev/zero"), "a FIFO": fifo, "a socket": sock_path, "a folder": folder,
            "64 MiB": big, "/dev/null": Path("/dev/null")}


def _within(seconds: float, work: Any) -> Any:
    """Run ``work`` in a thread; fail (not hang) when it does not end in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the read hung"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_files_devices_fifos_sockets_and_huge_files_are_refused_never_read(
        gate: helpers.Sample, tmp_path: Path) -> None:
    specials = _special_files(tmp_path / "specials")
    tried = handled = 0
    examples = []
    for what, path in specials.items():
        # the PFX of an answer (/dev/zero must not reach the OOM killer)
        tried += 1
        creds = PfxCredentials(client_secret="x", pfx_file=path, pfx_password="p")
        with pytest.raises(EngineError) as info:
            _within(10, lambda creds=creds: check_pfx(creds, owner="the test"))
        handled += info.value.error_id == "PfxUnreadable" and str(path) in info.value.message
        # the answer file itself, and a secrets file
        for role in ("answer", "secrets"):
            tried += 1
            if role == "answer":
                work = lambda path=path: load_answer_file(path)  # noqa: E731
            else:
                file = answers_file(gate, tmp_path, lambda d, path=path: d.update(secretsFile=str(path)))
                work = lambda file=file: load_answer_file(file)  # noqa: E731
            with pytest.raises(EngineError) as info:
                _within(10, work)
            handled += info.value.error_id in ("AnswerFileInvalid", "AnswerFileNotFound", "SecretsFileInvalid") \
                and str(path) in info.value.message
            examples.append(f"{role} file {what}: {info.value.message.rpartition(': ')[2][:60]}")
    tally("files", "PFX, answer and secrets files that are devices, FIFOs, sockets, folders or too large",
          tried=tried, handled=handled, examples=examples)


def test_files_backup_skips_special_files_naming_them_and_the_set_verifies_and_restores(
        gate: helpers.Sample, tmp_path: Path, secrets: dict[str, str]) -> None:
    sample = helpers.Sample(helpers.copy_sample(gate.root, tmp_path / "sample"))
    reports = sample.program_data / "Reports"
    os.mkfifo(reports / "pipe.rdl")
    bind_socket(reports / "report.sock")
    os.mkfifo(sample.jobs_folder / "Jobs" / "fifo job.dtmconfig")
    done = _within(60, lambda: cli("backup", "--answer-file", sample.answer_file, "--destination", tmp_path / "set",
                                   "--include", "Reports", log_dir=tmp_path / "logs"))
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    skipped = {s["path"]: s["reason"] for p in manifest["parts"] for f in p["folders"] for s in f["skipped"]}
    tried, handled = 2, 0
    handled += set(skipped) == {"pipe.rdl", "report.sock"} and "FIFO" in skipped["pipe.rdl"] \
        and "socket" in skipped["report.sock"]
    handled += done.returncode == 0 and "skipped" in done.stdout and "pipe.rdl" in done.stdout
    verify = cli("verify", tmp_path / "set", log_dir=tmp_path / "logs")
    tried += 1
    handled += verify.returncode == 0
    # a job file that is a FIFO fails that job alone (R16): the plan goes on with the others
    plan = _within(60, lambda: cli("plan", "--answer-file", sample.answer_file, "--json", log_dir=tmp_path / "logs"))
    tried += 1
    handled += plan.returncode == 0 and json.loads(plan.stdout)["inventory"]["unreadableJobFiles"] >= 1
    tally("files", "backup and plan over FIFOs and sockets in the source folders", tried=tried, handled=handled,
          lost=leaked(secrets, texts=[done.stdout, done.stderr, plan.stdout], paths=[tmp_path / "set"]))


def test_files_a_manifest_that_is_a_fifo_or_huge_is_a_verify_problem_not_a_hang(tmp_path: Path) -> None:
    tried = handled = 0
    for kind in ("fifo", "huge", "zero"):
        folder = tmp_path / kind
        folder.mkdir()
        manifest = folder / "manifest.json"
        if kind == "fifo":
            os.mkfifo(manifest)
        elif kind == "huge":
            with open(manifest, "wb") as fh:
                fh.truncate(600 * 1024 * 1024)
        else:
            manifest.symlink_to("/dev/zero")
        tried += 1
        try:
            report = _within(20, lambda folder=folder: verify_set(folder, None, CollectingReporter()))
            handled += not report.ok and bool(report.problems)
        except EngineError as exc:
            handled += exc.error_id == "BackupSetInvalid"
    tally("files", "a set's manifest that is a FIFO, /dev/zero or 600 MiB", tried=tried, handled=handled)


def test_files_reader_bounds_generated_sizes(tmp_path: Path) -> None:
    counts = {"tried": 0, "handled": 0}
    path = tmp_path / "f"

    def check(value: tuple[int, int]) -> None:
        size, limit = value
        path.write_bytes(b"a" * size)
        counts["tried"] += 1
        try:
            data = read_bytes(path, limit=limit)
            assert size <= limit and len(data) == size
        except OSError as exc:
            assert size > limit, exc
        counts["handled"] += 1

    reliability_figures.fuzz("gate: bounded reads", st.tuples(st.integers(0, 5000), st.integers(0, 5000)), check)
    tally("files", "generated sizes against the bound", **counts)


# --- 3. names ------------------------------------------------------------------------------------------------
ENGINE_NAMES = [b".manifest.json.partial", b".gid-restore-0123abcd-0.partial", b".report.rdl.restore-partial",
                b".report.rdl.partial", b"manifest.json"]
name_bytes = st.binary(min_size=1, max_size=255).filter(lambda b: b"/" not in b and b"\0" not in b
                                                        and b not in (b".", b".."))


def _names_round_trip(gate: helpers.Sample, work: Path, names: list[bytes], answers: Any) -> tuple[bool, str]:
    """Backup of Reports holding ``names``, verify, restore --to: every name and content byte-exact."""
    reports = os.fsencode(gate.program_data / "Reports")
    extra = os.path.join(os.fsencode(work), b"extra")
    os.makedirs(extra, exist_ok=True)
    expected = {}
    for i, name in enumerate(dict.fromkeys(names)):
        expected[name] = b"content %d " % i + name
    # the names go into a copy of the Reports folder: the sample's own source stays untouched
    folder = os.path.join(extra, b"ProgramData", b"Reports")
    os.makedirs(folder)
    for name, content in expected.items():
        with open(os.path.join(folder, name), "wb") as fh:
            fh.write(content)
    data = answers.model_copy(deep=True)
    data.source.program_data = Path(os.fsdecode(os.path.join(extra, b"ProgramData")))
    data.source.program_files = Path(os.fsdecode(reports))  # unused by the Reports part
    reporter = CollectingReporter()
    _, set_path = create_backup(data, Path(os.fsdecode(os.path.join(extra, b"set"))), reporter, include=["Reports"])
    report = verify_set(set_path, data, reporter)
    if not report.ok:
        return False, f"verify: {report.problems[:2]}"
    root = Path(os.fsdecode(os.path.join(extra, b"restored")))
    restore_set(set_path, data, reporter, include=["Reports"], to=root)
    restored_dir = os.path.join(os.fsencode(root), b"ProgramData", b"Reports")
    got = {}
    for name in os.listdir(restored_dir):
        with open(os.path.join(restored_dir, name), "rb") as fh:
            got[name] = fh.read()
    return got == expected, f"{sorted(set(got) ^ set(expected))[:3]}"


def test_names_non_utf8_long_and_engine_like_names_round_trip_byte_exact(
        gate: helpers.Sample, tmp_path: Path) -> None:
    answers = load_answer_file(answers_file(gate, tmp_path))
    hand = [b"caf\xe9.rdl", b"\xff\xfe\xfd", b"a" * 255, ("\u00e9" * 127).encode(), *ENGINE_NAMES,
            b"new\nline.rdl", b" leading space", b"trailing.", b"CON", b"a:b*c?.rdl"]
    ok, detail = _names_round_trip(gate, tmp_path / "hand", hand, answers)
    tally("names", "non-UTF-8, 255-byte, engine-like and odd names (backup, verify, restore)", tried=len(hand),
          handled=len(hand) if ok else 0, examples=[repr(n)[:40] for n in hand])
    assert ok, detail
    counts = {"tried": 0, "handled": 0, "n": 0}

    def check(names: list[bytes]) -> None:
        counts["n"] += 1
        counts["tried"] += len(set(names))
        ok, detail = _names_round_trip(gate, tmp_path / f"gen{counts['n']}", names, answers)
        assert ok, detail
        counts["handled"] += len(set(names))

    reliability_figures.fuzz("gate: file names round trip", st.lists(name_bytes | st.sampled_from(ENGINE_NAMES),
                                                                     min_size=1, max_size=6), check,
                             examples=max(10, reliability_figures_examples() // 20))
    tally("names", "generated names (bytes), backed up and restored", tried=counts["tried"],
          handled=counts["handled"])


def reliability_figures_examples() -> int:
    from hypothesis import settings

    return int(settings.default.max_examples)


# --- 4. numbers and JSON -------------------------------------------------------------------------------------
INT_FIELDS = [("target", "historyBatchSize"), ("formatVersion",), ("answers", "schedule:4:store")]
hostile_number = st.sampled_from(["true", "false", "5000.0", "5e3", "1e400", "-1e400", "NaN", "Infinity",
                                  "-Infinity", "\"5000\"", "99999999999999999999999", "1" + "0" * 400,
                                  "0.5", "-0.0"]) | st.floats(allow_nan=False, allow_infinity=False).map(repr) \
    | st.integers(min_value=2**63).map(str) | st.booleans().map(lambda b: "true" if b else "false")


def test_numbers_inexact_integers_are_refused_naming_the_field(gate: helpers.Sample, tmp_path: Path) -> None:
    base = answers_file(gate, tmp_path)
    counts = {"tried": 0, "handled": 0}

    def check(value: tuple[tuple[str, ...], str]) -> None:
        where, literal = value
        data = json.loads(base.read_text())
        node = data
        for key in where[:-1]:
            node = node[key]
        node[where[-1]] = "__X__"
        text = json.dumps(data).replace('"__X__"', literal)
        path = tmp_path / "numbers.json"
        path.write_text(text, encoding="utf-8")
        counts["tried"] += 1
        with pytest.raises(EngineError) as info:
            load_answer_file(path)
        fields = [e["field"] for e in info.value.extra.get("errors", [])]
        assert info.value.error_id == "AnswerFileInvalid", info.value.message
        assert any(f.endswith(where[-1]) or f == ".".join(where) for f in fields), (fields, info.value.message)
        counts["handled"] += 1

    # a store id answer given as digits in a string is the planner's documented form; every other literal is not
    cases = st.tuples(st.sampled_from(INT_FIELDS), hostile_number).filter(
        lambda v: not (v[0][0] == "answers" and v[1].startswith('"')))
    reliability_figures.fuzz("gate: answer-file integers", cases, check)
    tally("numbers and JSON", "inexact integers in the answer file (booleans, fractions, huge, non-finite)",
          **counts)


json_key = st.text(min_size=1, max_size=10, alphabet="abcXYZ_")


def test_json_duplicate_keys_are_refused_naming_the_key_wherever_the_engine_reads(tmp_path: Path) -> None:
    counts = {"tried": 0, "handled": 0}

    def check(value: tuple[str, bool, int]) -> None:
        key, other_case, depth = value
        twin = key.swapcase() if other_case and key.swapcase() != key else key
        inner = f'{{"{key}": 1, "{twin}": 2}}'
        text = inner
        for _ in range(depth):
            text = f'{{"a": [{text}]}}'
        counts["tried"] += 1
        with pytest.raises(JsonRefused) as info:
            loads(text)
        assert repr(twin) in info.value.problem, info.value.problem
        counts["handled"] += 1

    reliability_figures.fuzz("gate: duplicate keys", st.tuples(json_key, st.booleans(), st.integers(0, 5)), check)
    # the same through each reader: answer file, secrets file, manifest, a protocol line
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "manifest.json").write_text('{"setId": "a", "setId": "b"}')
    report = verify_set(tmp_path / "set", None, CollectingReporter())
    readers = int(not report.ok and "'setId'" in report.problems[0].problem)
    (tmp_path / "dup.json").write_text('{"source": {}, "Source": {}}')
    with pytest.raises(EngineError) as info:
        load_answer_file(tmp_path / "dup.json")
    readers += "'Source'" in info.value.message
    tally("numbers and JSON", "duplicate keys (any case, any depth; answer file, manifest)",
          tried=counts["tried"] + 2, handled=counts["handled"] + readers)


def _serve(lines: list[bytes]) -> list[dict[str, Any]]:
    import io

    out = io.BytesIO()
    run_server(io.BytesIO(b"\n".join(lines) + b"\n"), out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


hostile_id = st.sampled_from(["1.5", "true", "null", "1e400", "99999999999999999999", "-0.0", "[1]", "{}",
                              "NaN", "1E2"]) | st.floats(allow_nan=False, allow_infinity=False).map(repr)
hostile_line = st.one_of(
    hostile_id.map(lambda i: f'{{"jsonrpc":"2.0","id":{i},"method":"engine.hello"}}'),
    st.tuples(json_key, st.integers(1, 9)).map(
        lambda p: f'{{"jsonrpc":"2.0","id":{p[1]},"method":"backup.verify","params":{{"{p[0]}":1,"{p[0]}":2}}}}'),
    st.integers(1, 9).map(lambda i: f'{{"jsonrpc":"2.0","id":{i},"id":{i + 1},"method":"engine.hello"}}'),
    hostile_number.map(lambda n: f'{{"jsonrpc":"2.0","id":7,"method":"group.upgrade","params":'
                                 f'{{"answerFile":"/nonexistent","identityStoreId":{n}}}}}'),
)


def test_protocol_every_hostile_line_is_answered_and_the_worker_lives(tmp_path: Path) -> None:
    counts = {"tried": 0, "handled": 0}

    def check(line: str) -> None:
        counts["tried"] += 1
        answers = _serve([line.encode(), b'{"jsonrpc":"2.0","id":"last","method":"engine.hello"}'])
        assert len(answers) == 2, answers
        first, last = answers
        assert "error" in first or "result" in first, first
        if "error" in first:
            assert first["error"]["data"]["errorId"] != "InternalError", first
            assert "an unexpected" not in first["error"]["message"].lower()
        assert last.get("id") == "last" and last["result"]["name"] == "groupid-upgrade", last
        counts["handled"] += 1

    reliability_figures.fuzz("gate: protocol ids, duplicate keys, numbers", hostile_line, check)
    tally("numbers and JSON", "JSON-RPC lines with hostile ids, duplicate keys, inexact integers", **counts)


# --- 5. secrets ----------------------------------------------------------------------------------------------
def test_secrets_the_answer_template_holds_placeholders_is_0600_and_loads_with_the_secrets_file(
        gate: helpers.Sample, tmp_path: Path, secrets: dict[str, str]) -> None:
    # an answer file that holds its secrets inline (0600), as an admin may write it
    inline = json.loads((gate.root / "secrets.json").read_text())

    def merge(data: dict[str, Any]) -> None:
        data.pop("secretsFile")
        data["source"]["passphrase"] = inline["source"]["passphrase"]
        data["target"]["passphrase"] = inline["target"]["passphrase"]
        for qid, value in inline["answers"].items():
            data["answers"][qid] = {**data["answers"].get(qid, {}), **value}
        data["answers"].pop("schedule:4:store")

    answer_file = answers_file(gate, tmp_path, merge)
    os.chmod(answer_file, 0o600)
    template = tmp_path / "template.json"
    done = cli("plan", "--answer-file", answer_file, "--emit-answer-template", template, log_dir=tmp_path / "logs")
    tried, handled = 3, 0
    handled += template.is_file() and stat.S_IMODE(template.stat().st_mode) == 0o600
    text = template.read_text()
    handled += "<secret: put it at source.passphrase" in text and "schedule:4:store" in text
    # the template with a secrets file beside it loads: placeholders are as if not given
    data = json.loads(text)
    data["secretsFile"] = str(gate.root / "secrets.json")
    data["answers"]["schedule:4:store"] = 1
    template.write_text(json.dumps(data))
    loaded = load_answer_file(template)
    handled += loaded.source.passphrase is not None and \
        loaded.source.passphrase.get_secret_value() == inline["source"]["passphrase"]
    tally("secrets", "answer template: placeholders, 0600, loads with the secrets file", tried=tried,
          handled=handled, lost=leaked(secrets, texts=[done.stdout, done.stderr, text], paths=[template.parent / "logs"]))


userinfo = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/@ \t\n\r\f\v?#"),
                   min_size=1, max_size=20)


def test_secrets_credentials_in_urls_never_reach_messages_logs_or_records(
        gate: helpers.Sample, tmp_path: Path) -> None:
    counts = {"tried": 0, "handled": 0}

    def check(value: tuple[str, str, str]) -> None:
        scheme, user, password = value
        canary = f"CANARY{password}"
        text = f"cannot reach {scheme}://{user}:{canary}@127.0.0.1:9/x (refused)"
        counts["tried"] += 1
        out = redact_text(text)
        assert "127.0.0.1:9" in out, out
        exc = EngineError("SearchUnreachable", text, target=f"{scheme}://{user}:{canary}@h")
        leaks.assert_no_leaks({"the URL's password": canary},
                              texts={"redacted": out, "message": exc.message, "target": exc.target or ""})
        counts["handled"] += 1

    reliability_figures.fuzz("gate: URL credentials", st.tuples(st.sampled_from(["http", "https", "ldap", "ldaps",
                                                                                "mssql"]), userinfo, userinfo),
                             check)
    # end to end: an Elasticsearch and a directory URL with credentials, nothing listening
    canary = "urlCANARY-7f3a9c"

    def change(data: dict[str, Any]) -> None:
        data["source"]["elasticsearch"] = {"url": f"http://elastic:{canary}@127.0.0.1:9"}
        data["directories"] = {"corp.example.com": {"url": f"ldaps://admin:{canary}@127.0.0.1:9"}}

    answer_file = answers_file(gate, tmp_path, change)
    logs = tmp_path / "logs"
    outputs = []
    for args in (("backup", "--answer-file", answer_file, "--destination", tmp_path / "set", "-v"),
                 ("plan", "--answer-file", answer_file, "--validate-online", "--json")):
        done = cli(*args, log_dir=logs)
        outputs += [done.stdout, done.stderr]
    tally("secrets", "URLs with user:password (generated; backup and plan end to end)", tried=counts["tried"] + 2,
          handled=counts["handled"] + 2, lost=leaked([canary], texts=outputs, paths=[logs, tmp_path / "set"]))


odbc_text = st.text(alphabet=st.sampled_from(list("ab;{}= xY'\"\\")), min_size=1, max_size=12)


def parse_odbc(text: str) -> dict[str, str]:
    """An ODBC connection string read the way the driver manager reads it (braces, ``}}``)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.index("=", i)
        key = text[i:eq].strip()
        i = eq + 1
        if i < len(text) and text[i] == "{":
            value, i = "", i + 1
            while True:
                if text[i] == "}":
                    if i + 1 < len(text) and text[i + 1] == "}":
                        value, i = value + "}", i + 2
                        continue
                    i += 1
                    break
                value, i = value + text[i], i + 1
        else:
            end = text.find(";", i)
            end = len(text) if end < 0 else end
            value, i = text[i:end], end
        assert key not in out, f"{key} twice in {text!r}"
        out[key] = value
        if i < len(text):
            assert text[i] == ";", text
            i += 1
    return out


def test_secrets_odbc_values_cannot_change_the_connection_string() -> None:
    counts = {"tried": 0, "handled": 0}

    def check(value: tuple[str, str, str]) -> None:
        user, password, database = value
        counts["tried"] += 1
        text = sqlserver_connection_string(driver="ODBC Driver 18 for SQL Server", server="sql01", database=database,
                                           user=user, password=password)
        parsed = parse_odbc(text)
        assert set(parsed) == {"Driver", "Server", "Database", "UID", "PWD", "Encrypt", "TrustServerCertificate"}
        assert (parsed["UID"], parsed["PWD"], parsed["Database"]) == (user, password, database), (text, parsed)
        counts["handled"] += 1

    reliability_figures.fuzz("gate: ODBC connection strings", st.tuples(odbc_text, odbc_text, odbc_text), check)
    tally("secrets", "ODBC user, password and database names with ; { } =", **counts)


# --- 6. restore and verify ------------------------------------------------------------------------------------
MANIFEST_DAMAGE = {
    "negative size": lambda m: m["files"][0].update(size=-1),
    "short SHA-256": lambda m: m["files"][0].update(sha256="abc"),
    "size as a string": lambda m: m["files"][0].update(size="12"),
    "size true": lambda m: m["files"][0].update(size=True),
    "size 1.0": lambda m: m["files"][0].update(size=1.0),
    "createdAt not a time": lambda m: m.update(createdAt="yesterday"),
    "a path twice": lambda m: m["files"].append(dict(m["files"][0])),
    "unknown part": lambda m: m["parts"].append({"name": "Everything"}),
    "database file not in the set": lambda m: next(p for p in m["parts"] if p["name"] == "Database")[
        "database"].update(file="Database/other.db"),
    "modifiedNs negative": lambda m: m["files"][0].update(modifiedNs=-5),
}


def test_restore_verify_checks_every_manifest_field_restore_reads(
        gate: helpers.Sample, tmp_path: Path, secrets: dict[str, str]) -> None:
    answers = load_answer_file(answers_file(gate, tmp_path))
    reporter = CollectingReporter()
    _, good = create_backup(answers, tmp_path / "good", reporter, include=["Database", "Reports"])
    tried = handled = 0
    for what, damage in MANIFEST_DAMAGE.items():
        bad = tmp_path / f"bad-{tried}"
        helpers.copy_sample(good, bad)
        manifest = json.loads((bad / "manifest.json").read_text())
        damage(manifest)
        (bad / "manifest.json").write_text(json.dumps(manifest))
        tried += 1
        report = verify_set(bad, answers, reporter)
        root = tmp_path / f"root-{tried}"
        with pytest.raises(EngineError) as info:
            restore_set(bad, answers, reporter, include=["All"], to=root)
        refused = info.value.error_id in ("BackupSetInvalid", "UnsafePath") and not root.exists()
        if not report.ok and refused:
            handled += 1
        else:
            print(what, report.problems, info.value.message)
    tally("restore and verify", "manifest fields damaged (types, ranges, references)", tried=tried, handled=handled,
          examples=list(MANIFEST_DAMAGE))


def test_restore_a_set_on_read_only_media_verifies_folder_and_zip(gate: helpers.Sample, tmp_path: Path) -> None:
    answers = load_answer_file(answers_file(gate, tmp_path))
    reporter = CollectingReporter()
    _, folder = create_backup(answers, tmp_path / "media" / "set", reporter, include=["Reports", "Database"])
    _, zipped = create_backup(answers, tmp_path / "media" / "zset", reporter, include=["Reports"], zip_it=True)
    media = tmp_path / "media"
    read_only = _read_only(media)
    try:
        tried = 2
        handled = int(verify_set(folder, answers, reporter).ok) + int(verify_set(zipped, answers, reporter).ok)
        root = tmp_path / "restored"
        restore_set(zipped, answers, reporter, include=["Reports"], to=root)
        tried += 1
        handled += trees.contents(root / "ProgramData" / "Reports") == trees.contents(gate.program_data / "Reports")
    finally:
        read_only()
    tally("restore and verify", "a set (folder and zip) on read-only media verifies and restores", tried=tried,
          handled=handled)


def _read_only(folder: Path) -> Any:
    """Make ``folder`` read-only as media is: a read-only bind mount for root, mode 0555 otherwise."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        probe = folder / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        return lambda: subprocess.run(["umount", str(folder)], check=True)
    for dirpath, dirs, _files in os.walk(folder):
        for d in dirs:
            os.chmod(os.path.join(dirpath, d), 0o555)
    os.chmod(folder, 0o555)
    return lambda: [os.chmod(os.path.join(p, d), 0o755) for p, ds, _ in os.walk(folder) for d in ds] \
        and os.chmod(folder, 0o755)


def test_restore_a_part_that_cannot_be_written_is_left_as_it_was_and_says_so(
        gate: helpers.Sample, tmp_path: Path) -> None:
    """A file-size limit hit while staging: no destination changed, and the message does not claim more."""
    sample = helpers.Sample(helpers.copy_sample(gate.root, tmp_path / "sample"))
    answer_file = sample.answer_file
    done = cli("backup", "--answer-file", answer_file, "--destination", tmp_path / "set", "--include", "Reports",
               log_dir=tmp_path / "logs")
    assert done.returncode == 0, done.stderr
    reports = sample.program_data / "Reports"
    for file in reports.rglob("*"):
        if file.is_file():
            file.write_bytes(b"changed")
            os.utime(file, ns=(1, 1))  # older than the set: overwritten without --force
    before = trees.contents(reports, mtimes=True)  # files as they were; staging in the folder is allowed
    largest = max(f.stat().st_size for f in (tmp_path / "set" / "Reports").rglob("*") if f.is_file())

    def limit() -> None:
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max(1, largest // 2), max(1, largest // 2)))

    done = cli("restore", tmp_path / "set", "--answer-file", answer_file, "--include", "Reports",
               log_dir=tmp_path / "logs", preexec=limit)
    tried, handled = 3, 0
    handled += done.returncode == 1 and "left as it was" in done.stderr and no_unexpected(done.stderr)
    handled += "nothing partial was kept" not in done.stderr.lower() and "File too large" in done.stderr
    handled += trees.contents(reports, mtimes=True) == before and not [p for p in reports.rglob(".gid-restore-*")]
    tally("restore and verify", "restore stopped by a file-size limit: part untouched, told truly", tried=tried,
          handled=handled)


# --- 7. resources --------------------------------------------------------------------------------------------
def test_resources_every_kind_is_named_with_the_path_whatever_raised_it(tmp_path: Path) -> None:
    raised: list[BaseException] = [
        OSError(errno.ENOSPC, "No space left on device", "/x/a"), OSError(errno.EFBIG, "File too large", "/x/a"),
        OSError(errno.EROFS, "Read-only file system", "/x/a"), OSError(errno.EACCES, "Permission denied", "/x/a"),
        OSError(errno.EDQUOT, "Disk quota exceeded", "/x/a"), PermissionError(errno.EPERM, "Not permitted", "/x/a"),
    ]
    conn = sqlite3.connect(":memory:")
    for text in ("database or disk is full", "attempt to write a readonly database", "unable to open database file"):
        raised.append(sqlite3.OperationalError(text))
    conn.close()
    handled = 0
    for exc in raised:
        named = translate(exc)
        handled += named is not None and named.recommended_action is not None and (
            not isinstance(exc, OSError) or "/x/a" in named.message) and "unexpected" not in named.message
    tally("resources", "ENOSPC, EFBIG, EROFS, EACCES, EDQUOT, EPERM, SQLite full/read-only/cannot open",
          tried=len(raised), handled=handled)


def test_resources_a_run_hitting_the_file_size_limit_names_the_target_and_resumes(
        gate: helpers.Sample, tmp_path: Path, secrets: dict[str, str]) -> None:
    answer_file = answers_file(gate, tmp_path)

    def limit() -> None:
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    done = cli("run", "--answer-file", answer_file, log_dir=tmp_path / "logs", preexec=limit)
    tried, handled = 2, 0
    handled += done.returncode == 1 and no_unexpected(done.stderr) and (
        "file-size limit" in done.stderr and str(tmp_path / "target" / "GroupID11.db") in done.stderr)
    again = cli("run", "--answer-file", answer_file, log_dir=tmp_path / "logs")
    handled += again.returncode == 0 and "Succeeded" in again.stdout
    tally("resources", "run over RLIMIT_FSIZE: named error, then resumed", tried=tried, handled=handled,
          lost=leaked(secrets, texts=[done.stdout, done.stderr, again.stdout, again.stderr], paths=[tmp_path / "logs"]))


def test_resources_a_template_on_a_full_or_read_only_place_is_named(gate: helpers.Sample, tmp_path: Path) -> None:
    answer_file = answers_file(gate, tmp_path)
    place = tmp_path / "ro"
    place.mkdir()
    restore = _read_only(place)
    try:
        done = cli("plan", "--answer-file", answer_file, "--emit-answer-template", place / "t.json",
                   log_dir=tmp_path / "logs")
    finally:
        restore()
    handled = int(done.returncode == 2 and str(place / "t.json") in done.stderr and no_unexpected(done.stderr))
    tally("resources", "answer template on a read-only file system", tried=1, handled=handled)


# --- 8. source version ---------------------------------------------------------------------------------------
def test_source_version_must_match_the_databases_product_version(gate: helpers.Sample, tmp_path: Path) -> None:
    answer_file = answers_file(gate, tmp_path, lambda d: (d["source"].update(version="9.0"),
                                                          d["target"].update(version="11.0")))
    done = cli("plan", "--answer-file", answer_file, log_dir=tmp_path / "logs")
    product = gate.query("SELECT Value FROM Svc_Setting WHERE Name = 'ProductVersion'")[0][0]
    handled = int(done.returncode == 2 and "9.0" in done.stderr and product in done.stderr)
    tally("source version", "source.version 9.0 against a 10.0 database", tried=1, handled=handled)


def test_zip_entries_are_bounded_regular_files(gate: helpers.Sample, tmp_path: Path) -> None:
    """A zip set whose entry is not listed or escapes is refused; entries are only regular files."""
    answers = load_answer_file(answers_file(gate, tmp_path))
    _, zipped = create_backup(answers, tmp_path / "z", CollectingReporter(), include=["Reports"], zip_it=True)
    hostile = tmp_path / "hostile.zip"
    with zipfile.ZipFile(zipped) as src, zipfile.ZipFile(hostile, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("../escape.txt", b"x")
    with pytest.raises(EngineError) as info:
        verify_set(hostile, answers, CollectingReporter())
    handled = int(info.value.error_id == "UnsafePath")
    # a zip bomb (1 GiB of zeros in a few MiB) and a truncated zip: refused by name, nothing extracted
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("Reports/x.rdl", "w",
                                                                                     force_zip64=True) as fh:
        chunk = b"\0" * (1024 * 1024)
        for _ in range(1024):
            fh.write(chunk)
    truncated = tmp_path / "truncated.zip"
    data = zipped.read_bytes()
    with zipfile.ZipFile(zipped) as zf:
        first = zf.infolist()[0]
    cut = bytearray(data)
    start = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra)
    cut[start:start + 16] = b"\xff" * 16  # the first entry's compressed bytes damaged, the directory intact
    truncated.write_bytes(bytes(cut))
    for bad in (bomb, truncated):
        with pytest.raises(EngineError) as info:
            _within(60, lambda bad=bad: verify_set(bad, answers, CollectingReporter()))
        handled += info.value.error_id == "BackupSetInvalid" and str(bad) in info.value.message
    tally("files", "zip sets: an entry escaping, a zip bomb, a damaged entry", tried=3, handled=handled)
