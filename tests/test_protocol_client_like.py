"""Drive the server the way the PowerShell engine client does.

One engine process for a whole pipeline; requests one after another on it; the caller reads
stdout synchronously line by line, while stderr is drained on another thread (the client's
``ErrorDataReceived``); lines end in CRLF as a .NET ``StreamWriter.WriteLine`` writes them on
Windows. A cancel arrives mid-request (Ctrl+C / ``StopProcessing``), and a method floods stderr
with more than a pipe buffer holds while nobody reads stdout beyond the next line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from groupid_upgrade.api import MethodSpec
from groupid_upgrade.model.base import Params, Result
from groupid_upgrade.reporting import Reporter

DEADLINE_SECONDS = 60.0


class EchoParams(Params):
    group_name: str
    count: int = 1


class EchoResult(Result):
    group_name: str
    count: int


def _echo(params: EchoParams, reporter: Reporter) -> EchoResult:
    for i in range(params.count):
        reporter.record("group", {"name": f"{params.group_name}-{i}", "status": "Upgraded"})
    return EchoResult(group_name=params.group_name, count=params.count)


class SlowParams(Params):
    steps: int = 2000
    delay: float = 0.005


def _slow(params: SlowParams, reporter: Reporter) -> dict[str, int]:
    for step in range(params.steps):
        try:
            reporter.check_cancelled()
        except Exception:
            reporter.log("warning", f"cancel seen at step {step}")
            raise
        reporter.progress("slow", "Slow work", f"step {step}", step, params.steps)
        time.sleep(params.delay)
    return {"steps": params.steps}


class FloodParams(Params):
    megabytes: int = 3


def _flood(params: FloodParams, reporter: Reporter) -> dict[str, int]:
    block = ("diagnostic noise " * 60)[:1023] + "\n"
    written = 0
    for i in range(params.megabytes * 1024):
        sys.stderr.write(block)
        written += len(block)
        if i % 256 == 0:
            reporter.progress(
                "flood", "Flooding stderr", f"{written} bytes", written, params.megabytes * 1024 * 1024
            )
    sys.stderr.flush()
    return {"written": written}


METHODS: dict[str, MethodSpec] = {
    "group.echo": MethodSpec("group.echo", EchoParams, EchoResult, _echo, "Echo a group as records."),
    "test.slow": MethodSpec("test.slow", SlowParams, None, _slow, "Slow, cancellable work."),
    "test.flood": MethodSpec("test.flood", FloodParams, None, _flood, "Writes megabytes to stderr."),
}


def _command() -> list[str]:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('client_like_methods', {str(Path(__file__))!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "from groupid_upgrade.protocol.server import run_server\n"
        "sys.exit(run_server(sys.stdin.buffer, sys.stdout.buffer, method_table=module.METHODS))\n"
    )
    return [sys.executable, "-c", code]


class EngineClient:
    """The shape of the PowerShell client: synchronous stdout reads, stderr on an event thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            _command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self.stderr_bytes = 0
        self.stderr_lines: list[bytes] = []
        self._stderr = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr.start()
        # A deadlock must fail the test, not hang it: kill the engine so stdout reads end.
        self._watchdog = threading.Timer(DEADLINE_SECONDS, self.process.kill)
        self._watchdog.start()
        self._next_id = 0

    def _read_stderr(self) -> None:
        assert self.process.stderr
        for line in self.process.stderr:
            self.stderr_bytes += len(line)
            if not line.startswith(b"diagnostic noise"):
                self.stderr_lines.append(line)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(message).encode("utf-8") + b"\r\n")
        self.process.stdin.flush()

    def start(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self._next_id

    def read(self) -> dict[str, Any]:
        assert self.process.stdout
        line = self.process.stdout.readline()
        assert line, (
            f"the engine closed stdout (exit {self.process.poll()}); stderr: {self.stderr_lines[-5:]}"
        )
        assert line.endswith(b"\n") and not line.endswith(b"\r\n")
        return json.loads(line)

    def call(
        self, method: str, params: dict[str, Any] | None = None, on_notification: Any = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        request_id = self.start(method, params)
        return self.wait_for(request_id, on_notification)

    def wait_for(
        self, request_id: int, on_notification: Any = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        notifications: list[dict[str, Any]] = []
        while True:
            message = self.read()
            if "method" in message:
                assert "id" not in message
                assert message["params"]["requestId"] == request_id
                notifications.append(message)
                if on_notification is not None:
                    on_notification(message)
                continue
            assert message["id"] == request_id, f"answers come in order: {message}"
            return message, notifications

    def finish(self) -> int:
        try:
            return self.process.wait(DEADLINE_SECONDS)
        finally:
            self._watchdog.cancel()
            self._stderr.join(DEADLINE_SECONDS)

    def kill(self) -> None:
        self._watchdog.cancel()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def client(tmp_path: Path) -> Any:
    env = {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(tmp_path / "logs")}
    engine = EngineClient(env)
    yield engine
    engine.kill()


def test_one_engine_for_a_whole_pipeline(client: EngineClient) -> None:
    hello, notes = client.call("engine.hello")
    assert hello["result"]["protocol"] == 1 and "group.echo" in hello["result"]["methods"] and not notes

    describe, _ = client.call("engine.describe")
    assert describe["result"]["methods"]["group.echo"]["params"]["required"] == ["groupName"]

    # The pipeline: one request per input object, each answered before the next is sent.
    for n in range(1, 21):
        response, notes = client.call("group.echo", {"GroupName": f"g{n}", "count": n % 3})
        assert response["result"] == {"groupName": f"g{n}", "count": n % 3}
        assert [m["params"]["data"]["name"] for m in notes] == [f"g{n}-{i}" for i in range(n % 3)]

    invalid, _ = client.call("group.echo", {"count": "many"})
    assert invalid["error"]["code"] == -32602
    assert {e["field"] for e in invalid["error"]["data"]["errors"]} == {"groupName", "count"}

    shutdown, _ = client.call("engine.shutdown")
    assert shutdown["result"] is None
    assert client.finish() == 0


def test_cancel_mid_request_then_keep_using_the_engine(client: EngineClient) -> None:
    request_id = client.start("test.slow", {"steps": 5000, "delay": 0.005})
    cancelled = threading.Event()

    def cancel_after_progress(message: dict[str, Any]) -> None:
        # The client sends the cancel from the thread that reads, as StopProcessing would.
        if message["method"] == "$/progress" and message["params"]["current"] > 0 and not cancelled.is_set():
            cancelled.set()
            client.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request_id}})

    started = time.monotonic()
    response, notes = client.wait_for(request_id, cancel_after_progress)
    assert cancelled.is_set()
    assert response["error"]["code"] == -32800
    assert response["error"]["data"]["errorId"] == "RequestCancelled"
    assert time.monotonic() - started < 10, "the cancel must stop the work, not let it run to the end"
    assert any(m["method"] == "$/log" and "cancel seen" in m["params"]["message"] for m in notes)

    after, _ = client.call("group.echo", {"groupName": "after-cancel"})
    assert after["result"]["groupName"] == "after-cancel"
    assert client.call("engine.shutdown")[0]["result"] is None
    assert client.finish() == 0


def test_a_stderr_flood_does_not_deadlock(client: EngineClient) -> None:
    assert client.call("engine.hello")[0]["result"]["name"] == "groupid-upgrade"
    response, notes = client.call("test.flood", {"megabytes": 3})
    assert response["result"]["written"] > 3 * 1000 * 1000
    assert notes and all(m["method"] == "$/progress" for m in notes)
    response, notes = client.call("group.echo", {"groupName": "after-flood", "count": 2})
    assert response["result"]["groupName"] == "after-flood" and len(notes) == 2
    assert client.call("engine.shutdown")[0]["result"] is None
    assert client.finish() == 0
    assert client.stderr_bytes > 3 * 1000 * 1000
