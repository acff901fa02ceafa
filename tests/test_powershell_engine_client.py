"""Drive the real ``groupid-upgrade serve`` exactly as the PowerShell engine client does (issue 8).

tests/test_protocol_client_like.py proves the server's side with methods of its own; this file
runs the product's entry point (``python -m groupid_upgrade serve``) with the product's methods on
a generated sample, through a Python twin of powershell/private/EngineClient.ps1:

- one process per pipeline, started with the environment and working folder the client gives it;
- one single-threaded loop waiting on a pending read of stdout AND of stderr (the client's
  ``Task.WaitAny``), draining every stderr line as it comes and keeping only the last
  ``StderrTailLines``: nothing else reads, so a deadlock would show here;
- every notification, log level, record type and errorId dispatched by GroupIDUpgrade.Decisions.psd1,
  the same data the module reads, and anything the table does not know collected as a failure;
- Ctrl+C as the client does it: ``$/cancelRequest``, end of input, a bounded wait, then kill.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import helpers
import powershell_support as ps
from support import leaks

pytest_plugins = ["helpers"]

TABLE = ps.decisions()
POLL_SECONDS = TABLE["PollMilliseconds"] / 1000
DEADLINE_SECONDS = 120.0


@dataclass
class Streams:
    """What reached each PowerShell stream during one request."""

    output: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (PSTypeName, object)
    information: list[Any] = field(default_factory=list)
    warning: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)
    whatif: list[tuple[str, str]] = field(default_factory=list)  # ShouldProcess(target, action)
    errors: list[dict[str, Any]] = field(default_factory=list)  # non-terminating ErrorRecords
    progress: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


@dataclass
class Response:
    result: Any
    error: dict[str, Any] | None  # {errorId, category (ErrorCategory), scope, message, target}
    streams: Streams


class PowerShellLikeClient:
    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        # The client's ProcessStartInfo: fixed arguments, UTF-8 both ways, its own working folder.
        env = {**env, "PYTHONIOENCODING": "utf-8", "PYTHONUTF8": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "groupid_upgrade", "serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ, "stdout")
        self.selector.register(self.process.stderr, selectors.EVENT_READ, "stderr")
        self._buffers = {"stdout": b"", "stderr": b""}
        self._closed = {"stdout": False, "stderr": False}
        self.stdout_lines: deque[bytes] = deque()
        self.stdout_bytes = 0
        self.stderr_bytes = 0
        self.stderr_tail: deque[str] = deque(maxlen=TABLE["StderrTailLines"])
        self.stdout_log: list[bytes] = []
        self.next_id = 0
        self.running: int | None = None
        self.activity_ids: dict[str, int] = {}
        self.cancel_on: Any = None  # callable(notification) -> bool: send $/cancelRequest now (Ctrl+C)

    # --- the read loop (Read-GroupIDEngineMessage) --------------------------------------------------
    def _pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            name = key.data
            chunk = os.read(key.fileobj.fileno(), 65536)
            if not chunk:
                self._closed[name] = True
                self.selector.unregister(key.fileobj)
                continue
            data = self._buffers[name] + chunk
            *lines, rest = data.split(b"\n")
            self._buffers[name] = rest
            for line in lines:
                if name == "stderr":
                    self.stderr_bytes += len(line) + 1
                    self.stderr_tail.append(line.decode("utf-8", "replace"))
                else:
                    self.stdout_bytes += len(line) + 1
                    self.stdout_log.append(line)
                    self.stdout_lines.append(line)

    def read_message(self, deadline: float) -> dict[str, Any] | None:
        while not self.stdout_lines:
            if self._closed["stdout"]:
                return None
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer in time; stderr tail: {list(self.stderr_tail)}")
            self._pump(POLL_SECONDS)
        line = self.stdout_lines.popleft()
        if not line.strip():
            return self.read_message(deadline)
        return json.loads(line.decode("utf-8"))

    # --- a request (Invoke-GroupIDEngineRequest) ---------------------------------------------------
    def request(self, method: str, params: dict[str, Any] | None = None) -> Response:
        self.next_id += 1
        request_id = self.next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)
        self.running = request_id
        streams = Streams()
        deadline = time.monotonic() + DEADLINE_SECONDS
        cancelled = False
        while True:
            answer = self.read_message(deadline)
            assert answer is not None, f"EngineExited during {method}: {list(self.stderr_tail)}"
            if "method" in answer:
                self._dispatch(answer, streams)
                if self.cancel_on is not None and not cancelled and self.cancel_on(answer):
                    cancelled = True
                    self._write({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request_id}})
                continue
            if answer.get("id") != request_id:
                continue
            self.running = None
            if answer.get("error") is not None:
                return Response(None, self._error_record(answer["error"]), streams)
            return Response(answer["result"], None, streams)

    def _write(self, message: dict[str, Any]) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
        self.process.stdin.flush()

    # --- dispatch (Invoke-GroupIDNotification, Invoke-GroupIDRecord, New-GroupIDErrorRecord) -----
    def _dispatch(self, message: dict[str, Any], streams: Streams) -> None:
        params = message["params"]
        assert params["requestId"] == self.running
        what = TABLE["Notifications"].get(message["method"])
        if what == "Progress":
            key = str(params["activityId"])
            self.activity_ids.setdefault(key, 0x4700 + len(self.activity_ids) + 1)
            parent = params.get("parentActivityId")
            if parent:
                self.activity_ids.setdefault(str(parent), 0x4700 + len(self.activity_ids) + 1)
            percent = params.get("percent")
            assert percent is None or 0 <= percent <= 100
            streams.progress.append(params)
        elif what == "Log":
            stream = TABLE["LogLevels"].get(params["level"])
            if stream is None:
                streams.unknown.append(f"log level {params['level']}")
            {"Warning": streams.warning, "Information": streams.information}.get(stream, streams.verbose).append(
                params["message"]
            )
        elif what == "Record":
            entry = TABLE["RecordTypes"].get(params["type"])
            if entry is None:
                streams.unknown.append(f"record type {params['type']}")
                entry = {"TypeName": f"GroupIDUpgrade.{params['type']}", "Stream": "Output"}
            data = params.get("data") or {}
            name = next((str(data[k]) for k in ("name", "identity", "distinguishedName", "part", "unit", "module")
                         if data.get(k)), None)
            stream = entry["Stream"]
            if stream == "WhatIf":
                streams.whatif.append((name or "", data.get("action") or "Upgrade"))
            elif stream == "Information":
                streams.information.append((entry["TypeName"], data))
            elif stream == "Warning":
                streams.warning.append(f"{params['type']}: {data}")
            elif stream == "Output":
                streams.output.append((entry["TypeName"], data))
            if isinstance(data.get("error"), dict):
                streams.errors.append(self._error_record(data["error"], default_target=name))
        else:
            streams.unknown.append(f"notification {message['method']}")

    def _error_record(self, error: dict[str, Any], default_target: str | None = None) -> dict[str, Any]:
        data = error.get("data") or {}
        error_id = data.get("errorId") or "EngineError"
        known = TABLE["ErrorIds"].get(error_id)
        category_name = data.get("category") or (known or {}).get("Category")
        category = TABLE["Categories"].get(category_name, "NotSpecified")
        assert category in ps.ERROR_CATEGORIES
        return {
            "errorId": error_id,
            "known": known is not None,
            "category": category,
            "scope": (known or {}).get("Scope", "Request"),
            "message": error.get("message", ""),
            "target": data.get("targetObject", default_target),
            "recommendedAction": data.get("recommendedAction"),
        }

    # --- the end of a pipeline (Stop-GroupIDEngine) --------------------------------------------------
    def stop(self, cancel: bool = False) -> int:
        assert self.process.stdin
        wait = TABLE["CancelWaitSeconds"] if cancel else TABLE["ShutdownWaitSeconds"]
        if cancel and self.running is not None:
            self._write({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": self.running}})
        elif not cancel:
            self.next_id += 1
            self._write({"jsonrpc": "2.0", "id": self.next_id, "method": "engine.shutdown"})
        self.process.stdin.close()
        deadline = time.monotonic() + wait
        while self.process.poll() is None and time.monotonic() < deadline:
            self._pump(POLL_SECONDS)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
            return -9
        while not all(self._closed.values()):
            self._pump(POLL_SECONDS)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def engine_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(tmp_path / "logs")}


@pytest.fixture
def start(tmp_path: Path, engine_env: dict[str, str]) -> Any:
    clients: list[PowerShellLikeClient] = []

    def _start(env: dict[str, str] | None = None) -> PowerShellLikeClient:
        client = PowerShellLikeClient(tmp_path, env or engine_env)
        clients.append(client)
        return client

    yield _start
    for client in clients:
        client.kill()


def _assert_all_known(streams: Streams) -> None:
    assert streams.unknown == [], f"the decisions table does not say what to do with: {streams.unknown}"


def test_a_pipeline_of_requests_on_one_engine(
    start: Any, sample_root: Path, tmp_path: Path
) -> None:
    # A folder name with non-ASCII letters: paths go over the pipe as UTF-8, both ways.
    sample = helpers.Sample(helpers.copy_sample(sample_root, tmp_path / "Grüße ünïcode" / "sample"))
    target_db = sample.root / sample.answers["target"]["database"]["path"]
    canary = "PsClientCanary-7d41e0b9"
    client = start()

    hello = client.request("engine.hello")
    assert hello.error is None and hello.result["protocol"] == TABLE["Protocol"]
    for entry in TABLE["Cmdlets"].values():
        assert entry["Method"] in hello.result["methods"], entry["Method"]

    plan = client.request("upgrade.plan", {"answerFile": str(sample.answer_file)})
    assert plan.error is None, plan.error
    _assert_all_known(plan.streams)
    assert plan.result["items"] and not [q for q in plan.result["questions"] if not q["answered"]]
    assert plan.streams.progress and plan.streams.progress[-1]["completed"] is True

    # -WhatIf: whatIf is sent, each unit shows through ShouldProcess, nothing is written.
    what_if = client.request("upgrade.run", {"answerFile": str(sample.answer_file), "whatIf": True})
    assert what_if.error is None, what_if.error
    _assert_all_known(what_if.streams)
    assert what_if.streams.whatif, "a what-if run shows what it would do"
    assert {t for t, _ in what_if.streams.information if isinstance(t, str) and t.endswith("ModuleResult")} == {"GroupIDUpgrade.ModuleResult"}
    assert not what_if.streams.output, "Invoke-GroupIDUpgrade writes one RunResult, built from the answer"
    assert not target_db.exists()

    # The run, with the target passphrase given as -TargetPassphrase: inside settings, on stdin only.
    settings = {"target": {"passphrase": canary}}
    run = client.request("upgrade.run", {"answerFile": str(sample.answer_file), "settings": settings})
    assert run.error is None, run.error
    _assert_all_known(run.streams)
    modules = [data for type_name, data in run.streams.information if type_name == "GroupIDUpgrade.ModuleResult"]
    assert [m["module"] for m in modules] == [m["module"] for m in run.result["modules"]]
    assert all(m["status"] in ("Succeeded", "Skipped") for m in modules), modules
    secrets = {"the -TargetPassphrase canary": canary, **leaks.sample_secrets(sample.root)}
    leaks.assert_no_leaks(secrets, pids=[client.process.pid])  # command line, environment, threads

    again = client.request("upgrade.run", {"answerFile": str(sample.answer_file), "settings": settings})
    assert again.error is None and sum(m["done"] for m in again.result["modules"]) == 0

    # An error: an ErrorRecord with the errorId, its ErrorCategory and the target; the engine goes on.
    missing = client.request("upgrade.plan", {"answerFile": str(sample.root / "missing.json")})
    assert missing.error is not None and missing.error["known"], missing.error
    assert missing.error["errorId"] in ("AnswerFileNotFound", "AnswerFileInvalid")
    assert missing.error["category"] in ("ObjectNotFound", "InvalidArgument")
    assert missing.error["scope"] == "Request" and "missing.json" in missing.error["message"]

    bad = client.request("upgrade.plan", {"answerFile": str(sample.answer_file), "module": ["Nope"]})
    assert bad.error is not None and bad.error["known"] and bad.error["category"] == "InvalidArgument", bad.error

    assert client.request("engine.hello").error is None
    assert client.stop() == 0
    leaks.assert_no_leaks(secrets, texts={"stdout": b"\n".join(client.stdout_log),
                                          "stderr": "\n".join(client.stderr_tail)},
                          paths=[tmp_path / "logs", target_db.parent])


@pytest.fixture(scope="module")
def big_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample whose History module runs long enough to be cancelled mid-way."""
    return helpers.make_sample(tmp_path_factory.mktemp("ps-big") / "sample", history=150_000)


def test_ctrl_c_cancels_the_run_and_the_same_engine_goes_on(start: Any, big_sample: Path, tmp_path: Path) -> None:
    sample = helpers.Sample(helpers.copy_sample(big_sample, tmp_path / "sample"))
    client = start()
    client.cancel_on = lambda m: m["method"] == "$/progress" and str(m["params"]["activityId"]).startswith("history")
    started = time.monotonic()
    cancelled = client.request("upgrade.run", {"answerFile": str(sample.answer_file)})
    assert cancelled.error is not None, "the run ended before the cancel reached it"
    assert cancelled.error["errorId"] == "RequestCancelled" and cancelled.error["category"] == "OperationStopped"
    assert time.monotonic() - started < 60

    client.cancel_on = None
    resumed = client.request("upgrade.run", {"answerFile": str(sample.answer_file)})
    assert resumed.error is None, resumed.error
    _assert_all_known(resumed.streams)
    by_module = {m["module"]: m for m in resumed.result["modules"]}
    assert by_module["History"]["status"] == "Succeeded", by_module["History"]
    # Cancelled during History: what ran before it is done, and not done twice.
    configuration = by_module["Configuration"]
    assert configuration["done"] == 0 and configuration["alreadyDone"] > 0, configuration
    assert client.stop() == 0


def test_stop_with_cancel_ends_the_engine_within_the_wait(start: Any, big_sample: Path, tmp_path: Path) -> None:
    """A stopped pipeline: $/cancelRequest for what runs, end of input, and the engine is gone in time."""
    sample = helpers.Sample(helpers.copy_sample(big_sample, tmp_path / "sample"))
    client = start()
    client.next_id += 1
    client._write({"jsonrpc": "2.0", "id": client.next_id, "method": "upgrade.run",
                   "params": {"answerFile": str(sample.answer_file)}})
    client.running = client.next_id
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:  # wait until the history module is running
        message = client.read_message(deadline)
        assert message is not None and "method" in message, message
        if message["method"] == "$/progress" and str(message["params"]["activityId"]).startswith("history"):
            break
    started = time.monotonic()
    exit_code = client.stop(cancel=True)
    assert exit_code == 0, f"the engine had to be killed or failed ({exit_code}); stderr: {list(client.stderr_tail)}"
    assert time.monotonic() - started < TABLE["CancelWaitSeconds"]
    answers = [json.loads(line) for line in client.stdout_log if line.strip()]
    final = [a for a in answers if a.get("id") == client.running]
    assert final and final[-1]["error"]["data"]["errorId"] == "RequestCancelled"


def test_a_stderr_flood_never_blocks_the_client(start: Any, engine_env: dict[str, str], sample: Any) -> None:
    # PYTHONVERBOSE=2 makes the engine's interpreter write every import it tries on stderr: about
    # a megabyte while it answers, many times what a pipe buffer holds.
    client = start({**engine_env, "PYTHONVERBOSE": "2"})
    assert client.request("engine.hello").error is None
    described = client.request("engine.describe")
    assert described.error is None and "upgrade.plan" in described.result["methods"]
    plan = client.request("upgrade.plan", {"answerFile": str(sample.answer_file)})
    assert plan.error is None, plan.error
    assert client.stop() == 0
    assert client.stderr_bytes > 4 * 65536, client.stderr_bytes
    assert len(client.stderr_tail) == TABLE["StderrTailLines"], "only the last lines are kept"
