"""The run log (docs/logs.md, issue 18): every line parsed and checked (level, UTC milliseconds, run id), and
every event kind produced by a real run: plan warnings, skips with reasons, units done / already done /
failed with errorId, a module skipped, cancelled, interrupted, failed, finished. outbox-drained and
groups-finished need Elasticsearch and a directory: tests/test_run_log_testbed.py."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import Cancelled, EngineError
from groupid_upgrade.faults import ENV
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.run_log import RUN_EVENTS, RUN_LOG_NAME
from groupid_upgrade.upgrade.run_method import run_upgrade

pytest_plugins = ["helpers"]

ROOT = Path(__file__).resolve().parents[1]
LINE_SCHEMA = json.loads((ROOT / "docs" / "schemas" / "run-log-line.schema.json").read_text(encoding="utf-8"))
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
NEEDS_SERVERS = {"outbox-drained", "groups-finished"}


def log_file(sample: helpers.Sample) -> Path:
    return sample.root / "target" / "ProgramData" / "Imanami" / "GroupID 11.0" / "Upgrade Tool" / RUN_LOG_NAME


def parse(path: Path) -> list[dict[str, Any]]:
    """Every line of the run log, each checked against the documented shape."""
    check = jsonschema.Draft202012Validator(LINE_SCHEMA)
    entries = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(raw)
        check.validate(entry)
        assert TIME.fullmatch(entry["time"]), entry["time"]
        assert entry["event"] in RUN_EVENTS, entry["event"]
        assert entry["level"] == RUN_EVENTS[entry["event"]], entry
        entries.append(entry)
    return entries


def run_ids(sample: helpers.Sample) -> list[str]:
    with sqlite3.connect(sample.root / "target" / "GroupID11.db") as conn:
        return [r[0] for r in conn.execute("SELECT RunId FROM Upg_Run ORDER BY StartedOn")]


class StopAt(CollectingReporter):
    """At the run's ``n``-th unit: cancel (as a client) or raise KeyboardInterrupt (as Ctrl+C)."""

    def __init__(self, n: int, how: str) -> None:
        super().__init__()
        self.n = n
        self.how = how

    def emit_progress(self, payload: dict[str, Any]) -> None:
        if payload["activityId"] == "upgrade" and payload["current"] >= self.n:
            if self.how == "interrupt":
                raise KeyboardInterrupt
            self.cancel(by="the test")


@pytest.fixture
def fast_progress(monkeypatch: pytest.MonkeyPatch, engine_log_dir: Path) -> None:
    from groupid_upgrade import reporting

    monkeypatch.setattr(reporting, "PROGRESS_INTERVAL_SECONDS", 0.0)
    monkeypatch.setenv("GROUPID_UPGRADE_LOG_DIR", str(engine_log_dir))


def test_every_event_kind_of_the_run_log(faults_sample: helpers.Sample, engine_log_dir: Path, tmp_path: Path,
                                         fast_progress: None) -> None:
    sample = helpers.Sample(helpers.copy_sample(faults_sample.root, tmp_path / "faults"))
    # 0. killed part-way (its run row is left open, its lock described): the next run takes the lock over
    # and ends that row as Interrupted
    killed = subprocess.run([*helpers.ENGINE, "run", "--answer-file", str(sample.answer_file)], capture_output=True,
                            text=True, env={**helpers.engine_env(engine_log_dir), ENV: "unit-before-write:3"},
                            timeout=helpers.SUBPROCESS_TIMEOUT, stdin=subprocess.DEVNULL)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # 1. cancelled by a client, 2. interrupted by Ctrl+C, both part-way
    with pytest.raises(Cancelled):
        run_upgrade(load_answer_file(sample.answer_file), StopAt(5, "cancel"))
    with pytest.raises(KeyboardInterrupt):
        run_upgrade(load_answer_file(sample.answer_file), StopAt(12, "interrupt"))
    # 3. to the end (failures included), 4. again (all already done)
    for _ in range(2):
        done = helpers.run_cli("run", "--answer-file", sample.answer_file, log_dir=engine_log_dir)
        assert done.returncode == 1, done.stderr  # the faults sample: PartiallySucceeded
    # 5. a wrong target passphrase stops the whole run
    wrong = load_answer_file(sample.answer_file, overrides={"target": {"passphrase": "not the passphrase"}})
    with pytest.raises(EngineError) as stopped:
        run_upgrade(wrong, CollectingReporter())
    assert stopped.value.error_id == "PassphraseInvalid"

    entries = parse(log_file(sample))
    seen = {e["event"] for e in entries}
    assert seen == set(RUN_EVENTS) - NEEDS_SERVERS, sorted(set(RUN_EVENTS) - NEEDS_SERVERS - seen)
    ids = run_ids(sample)
    assert len(ids) == 5 and {e["runId"] for e in entries} == {*ids, entries[-1]["runId"]}
    killed_id = entries[0]["runId"]
    taken_over = [e for e in entries if e["event"] == "lock-taken-over"]
    assert len(taken_over) == 1 and killed_id in taken_over[0]["holder"]
    closed = [e for e in entries if e["event"] == "run-closed-as-interrupted"]
    assert [e["interruptedRunId"] for e in closed] == [killed_id]
    # each run ends with exactly one end event, and the log says how it ended
    ends = [e for e in entries if e["event"] in ("run-finished", "run-cancelled", "run-interrupted", "run-failed")]
    assert [e["event"] for e in ends] == ["run-cancelled", "run-interrupted", "run-finished", "run-finished",
                                          "run-failed"]
    assert ends[0]["by"] == "the test" and "(Ctrl+C)" in ends[1]["by"]
    assert ends[4]["errorId"] == "PassphraseInvalid"
    for event in ("unit-failed",):
        failed = [e for e in entries if e["event"] == event]
        assert failed and all(e["errorId"] and e["message"] and e["module"] and e["unit"] for e in failed)
    skipped = [e for e in entries if e["event"] == "item-skipped"]
    assert skipped and all(e["reason"] for e in skipped)
    assert any(e["event"] == "module-skipped" and e["module"] == "Groups" and "director" in e["reason"]
               for e in entries)
    assert all(e["message"] for e in entries if e["event"] == "plan-warning")
    # the run's rows in the target say the same as the log
    with sqlite3.connect(sample.root / "target" / "GroupID11.db") as conn:
        stops = dict(conn.execute("SELECT RunId, Status FROM Upg_RunStop").fetchall())
        statuses = dict(conn.execute("SELECT RunId, Status FROM Upg_Run").fetchall())
    assert stops == {killed_id: "Interrupted", ends[0]["runId"]: "Cancelled", ends[1]["runId"]: "Interrupted"}
    assert statuses[ends[2]["runId"]] == ends[2]["status"] == "PartiallySucceeded"


def test_a_what_if_run_writes_no_run_log_but_streams_its_events(sample_copy: helpers.Sample,
                                                                fast_progress: None) -> None:
    reporter = CollectingReporter()
    run_upgrade(load_answer_file(sample_copy.answer_file), reporter, what_if=True)
    assert not log_file(sample_copy).exists()
    names = [name for name, _level, _fields in reporter.events]
    assert names[0] == "run-started" and names[-1] == "run-finished" and "plan-warning" in names


def test_every_event_is_documented_with_its_level() -> None:
    text = (ROOT / "docs" / "logs.md").read_text(encoding="utf-8")
    for event, level in RUN_EVENTS.items():
        assert re.search(rf"^\| `{re.escape(event)}` \| {level} \|", text, re.M), event
    documented = set(re.findall(r"^\| `([a-z-]+)` \| (?:DEBUG|INFO|WARNING|ERROR) \|", text, re.M))
    assert documented == set(RUN_EVENTS)
    assert "GROUPID_UPGRADE_LOG_DIR" in text and "engine.log" in text  # the second log, with its variable


def test_ctrl_c_in_the_cli_is_logged_as_interrupted_and_ends_the_json_lines(sample_copy: helpers.Sample,
                                                                            engine_log_dir: Path) -> None:
    import signal
    import subprocess

    proc = subprocess.Popen([*helpers.ENGINE, "run", "--answer-file", str(sample_copy.answer_file), "--json-lines"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=helpers.engine_env(engine_log_dir))
    assert proc.stdout is not None
    lines = []
    for raw in proc.stdout:  # Ctrl+C as soon as the run has begun: the rest of it is still ahead
        lines.append(json.loads(raw))
        if lines[-1].get("name") == "run-started":
            proc.send_signal(signal.SIGINT)
            break
    rest, stderr = proc.communicate(timeout=120)
    lines += [json.loads(raw) for raw in rest.splitlines()]
    assert proc.returncode == 130, stderr
    assert lines[-1]["event"] == "error" and lines[-1]["error"]["data"]["errorId"] == "RequestCancelled"
    entries = parse(log_file(sample_copy))
    assert entries[-1]["event"] == "run-interrupted" and entries[-1]["by"].endswith("(Ctrl+C)")
    status = json.loads(helpers.run_cli("status", "--answer-file", sample_copy.answer_file, "--json",
                                        log_dir=engine_log_dir).stdout)
    assert [r["status"] for r in status["runs"]] == ["Interrupted"]
