"""The JSON-RPC stdio server (spec/protocol.md), in-process with test methods and as a real process.

The test methods below are a method table of ``MethodSpec``s handed to ``run_server``; the product
has no test hooks. Subprocess tests that need them load this file by path in the child.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from pydantic import Field, SecretStr

from groupid_upgrade import PROTOCOL_VERSION, __version__
from groupid_upgrade.api import MethodSpec
from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.base import Params, Result
from groupid_upgrade.protocol import framing
from groupid_upgrade.protocol.server import run_server
from groupid_upgrade.reporting import Reporter
from support import leaks

# The one command that starts the engine's protocol server as a process. Before cli.py had `serve`
# it was [sys.executable, "-c", "import sys; from groupid_upgrade.protocol.server import run_server;
# sys.exit(run_server(sys.stdin.buffer, sys.stdout.buffer))"].
SERVE_COMMAND: list[str] = [sys.executable, "-m", "groupid_upgrade", "serve"]

TIMEOUT = 20.0
SECRET = "hunter2-do-not-echo"


# --- test methods -----------------------------------------------------------------------------
class SlowParams(Params):
    steps: int = 200
    delay: float = 0.02


class SlowResult(Result):
    steps_done: int


SAW_CANCEL = threading.Event()
STARTED: list[str] = []


def _slow(params: SlowParams, reporter: Reporter) -> SlowResult:
    STARTED.append("test.slow")
    done = 0
    try:
        for done in range(params.steps):
            reporter.check_cancelled()
            reporter.progress("slow", "Slow work", f"step {done}", done, params.steps)
            time.sleep(params.delay)
    except EngineError:
        SAW_CANCEL.set()
        reporter.log("warning", "saw the cancel")
        raise
    reporter.progress("slow", "Slow work", "done", params.steps, params.steps, completed=True)
    return SlowResult(steps_done=params.steps)


class EmptyParams(Params):
    pass


def _chatty(params: EmptyParams, reporter: Reporter) -> dict[str, Any]:
    reporter.progress("outer", "Outer", "starting", 0, 2)
    reporter.progress("inner", "Inner", "half", 1, 2, parent_activity_id="outer")
    reporter.log("verbose", "a verbose line")
    reporter.log("information", "an information line")
    reporter.log("warning", "a warning line")
    reporter.record("group", {"name": "Sales", "status": "Upgraded"})
    reporter.progress("outer", "Outer", "done", 2, 2, completed=True)
    return {"ok": True}


def _noisy(params: EmptyParams, reporter: Reporter) -> dict[str, Any]:
    import logging

    print("printed by a handler")
    print("printed to sys.__stdout__", file=sys.__stdout__, flush=True)
    warnings.warn("a warning from a handler", UserWarning, stacklevel=1)
    logging.getLogger("some.library").warning("a library logged to the root logger")
    with contextlib.suppress(OSError):
        os.write(1, b"written to fd 1\n")
    subprocess.run([sys.executable, "-c", "print('a child process printed')"], check=False)
    return {"ok": True}


def _crash(params: EmptyParams, reporter: Reporter) -> None:
    raise RuntimeError(f"unexpected failure holding {SECRET}")


def _fail(params: EmptyParams, reporter: Reporter) -> None:
    raise EngineError(
        "GroupNotFound",
        "The group Sales was not found in corp.example.com.",
        target="Sales",
        recommended_action="Check the group's name.",
    )


class StrictParams(Params):
    name: str
    count: int = Field(ge=1)
    password: SecretStr
    tags: list[int] = []


def _strict(params: StrictParams, reporter: Reporter) -> dict[str, Any]:
    return {"name": params.name, "count": params.count}


class FloodParams(Params):
    bytes: int = 2 * 1024 * 1024


def _flood(params: FloodParams, reporter: Reporter) -> dict[str, int]:
    line = "e" * 1023 + "\n"
    written = 0
    while written < params.bytes:
        sys.stderr.write(line)
        written += len(line)
    sys.stderr.flush()
    return {"written": written}


def _record_start(params: EmptyParams, reporter: Reporter) -> dict[str, bool]:
    STARTED.append("test.recordStart")
    return {"ran": True}


def _spec(
    name: str, params: type, handler: Any, result: type | None = None, what_if: bool = False
) -> MethodSpec:
    return MethodSpec(
        name=name,
        params=params,
        result=result,
        handler=handler,
        summary=f"{name} for tests",
        supports_what_if=what_if,
    )


METHODS: dict[str, MethodSpec] = {
    "test.slow": _spec("test.slow", SlowParams, _slow, SlowResult, what_if=True),
    "test.chatty": _spec("test.chatty", EmptyParams, _chatty),
    "test.noisy": _spec("test.noisy", EmptyParams, _noisy),
    "test.crash": _spec("test.crash", EmptyParams, _crash),
    "test.fail": _spec("test.fail", EmptyParams, _fail),
    "test.strict": _spec("test.strict", StrictParams, _strict),
    "test.flood": _spec("test.flood", FloodParams, _flood),
    "test.recordStart": _spec("test.recordStart", EmptyParams, _record_start),
}


def serve_with_test_methods_command(module_file: Path = Path(__file__)) -> list[str]:
    """A process that serves ``METHODS`` of ``module_file`` (loaded by path: tests/ is no package; its
    folder is on the path, as pytest puts it, for what the module imports from there)."""
    code = (
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(module_file.parent)!r})\n"
        f"spec = importlib.util.spec_from_file_location('protocol_test_methods', {str(module_file)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "from groupid_upgrade.protocol.server import run_server\n"
        "sys.exit(run_server(sys.stdin.buffer, sys.stdout.buffer, method_table=module.METHODS))\n"
    )
    return [sys.executable, "-c", code]


# --- clients ----------------------------------------------------------------------------------
def request(request_id: Any, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def encode(*messages: Any) -> bytes:
    return b"".join(
        json.dumps(m).encode() + b"\n" if not isinstance(m, bytes) else m + b"\n" for m in messages
    )


def serve_bytes(data: bytes, **kwargs: Any) -> tuple[int, list[dict[str, Any]]]:
    """Run the server in-process over a finished input; return its exit code and every message."""
    out = io.BytesIO()
    rc = run_server(io.BytesIO(data), out, method_table=kwargs.pop("method_table", METHODS), **kwargs)
    return rc, parse_lines(out.getvalue())


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    lines = data.split(b"\n")
    assert lines[-1] == b"", "every message ends with a newline"
    messages = [json.loads(line) for line in lines[:-1]]
    for message in messages:
        assert isinstance(message, dict) and message["jsonrpc"] == "2.0", message
    return messages


class Client:
    """Talks to a server over pipes: in-process (a thread) or a process; reads stdout on a thread."""

    def __init__(self, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self._stdin = stdin
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.raw_lines: list[bytes] = []
        self._reader = threading.Thread(target=self._read, args=(stdout,), daemon=True)
        self._reader.start()

    def _read(self, stdout: BinaryIO) -> None:
        for line in stdout:
            self.raw_lines.append(line)
            self._messages.put(json.loads(line))
        self._messages.put(None)

    def send(self, message: dict[str, Any] | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        self._stdin.write(data + b"\n")
        self._stdin.flush()

    def cancel(self, request_id: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": request_id}})

    def close_input(self) -> None:
        self._stdin.close()

    def next_message(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        message = self._messages.get(timeout=timeout)
        assert message is not None, "the server closed stdout"
        return message

    def until_response(
        self, request_id: Any, timeout: float = TIMEOUT
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The response to ``request_id`` and the notifications (and other responses) before it."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            message = self.next_message(max(0.1, deadline - time.monotonic()))
            if "id" in message and "method" not in message and message["id"] == request_id:
                return message, seen
            seen.append(message)

    def rest(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Every message until stdout closes."""
        out: list[dict[str, Any]] = []
        while True:
            message = self._messages.get(timeout=timeout)
            if message is None:
                return out
            out.append(message)


class InProcessServer:
    def __init__(self, methods: dict[str, MethodSpec] | None = METHODS) -> None:
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        self._server_in = open(in_r, "rb")  # noqa: SIM115 - closed in close()
        self._server_out = open(out_w, "wb")  # noqa: SIM115 - closed in close()
        self.exit_code: int | None = None
        self._thread = threading.Thread(target=self._run, args=(methods,), daemon=True)
        self._thread.start()
        client_out = open(in_w, "wb")  # noqa: SIM115 - closed by the test or at end of input
        client_in = open(out_r, "rb")  # noqa: SIM115 - read until the server closes its end
        self.client = Client(client_out, client_in)

    def _run(self, methods: dict[str, MethodSpec] | None) -> None:
        try:
            self.exit_code = run_server(self._server_in, self._server_out, method_table=methods)
        finally:
            self._server_out.close()
            self._server_in.close()

    def wait(self, timeout: float = TIMEOUT) -> int | None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the server did not stop"
        return self.exit_code


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "logs"
    monkeypatch.setenv("GROUPID_UPGRADE_LOG_DIR", str(directory))
    return directory


@pytest.fixture
def server(log_dir: Path) -> Iterator[InProcessServer]:
    SAW_CANCEL.clear()
    STARTED.clear()
    srv = InProcessServer()
    yield srv
    with contextlib.suppress(OSError):
        srv.client.close_input()
    srv.wait()


class ProcessServer:
    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self.stderr = bytearray()
        # Drain stderr on its own thread, as the PowerShell client does, so the child never blocks.
        self._stderr_thread = threading.Thread(target=self._drain, daemon=True)
        self._stderr_thread.start()
        self.client = Client(self.process.stdin, self.process.stdout)

    def _drain(self) -> None:
        assert self.process.stderr
        for chunk in iter(lambda: self.process.stderr.read1(65536), b""):  # type: ignore[union-attr]
            self.stderr += chunk

    def wait(self, timeout: float = TIMEOUT) -> int:
        rc = self.process.wait(timeout)
        self._stderr_thread.join(timeout)
        return rc

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def child_env(log_dir: Path) -> dict[str, str]:
    return {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(log_dir), "PYTHONWARNINGS": "default"}


@pytest.fixture
def process_factory(child_env: dict[str, str]) -> Iterator[Any]:
    started: list[ProcessServer] = []

    def start(command: list[str] = SERVE_COMMAND) -> ProcessServer:
        srv = ProcessServer(command, child_env)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.kill()


def assert_error(message: dict[str, Any], code: int, error_id: str, request_id: Any = None) -> dict[str, Any]:
    assert message["id"] == request_id, message
    assert "result" not in message
    error = message["error"]
    assert error["code"] == code, message
    assert error["data"]["errorId"] == error_id, message
    assert isinstance(error["message"], str) and error["message"], message
    assert error["data"]["category"], message
    return error


# --- the transcript of the brief --------------------------------------------------------------
TRANSCRIPT = encode(
    request(1, "engine.hello"), b"not json", request(2, "engine.describe"), request(3, "engine.shutdown")
)


def check_transcript(messages: list[dict[str, Any]], methods: list[str]) -> None:
    assert len(messages) == 4, messages
    hello, parse_error, describe, shutdown = messages
    assert isinstance(hello["result"].pop("pid"), int)
    assert hello == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {
            "name": "groupid-upgrade",
            "version": __version__,
            "protocol": PROTOCOL_VERSION,
            "methods": methods,
            "idleTimeoutSeconds": None,
        },
    }
    assert_error(parse_error, -32700, "ParseError", None)
    assert describe["id"] == 2 and "error" not in describe, describe
    assert set(describe["result"]["methods"]) == set(methods)
    assert shutdown == {"jsonrpc": "2.0", "id": 3, "result": None}


def test_transcript_as_a_process(log_dir: Path) -> None:
    from groupid_upgrade.api import method_names

    env = {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(log_dir)}
    done = subprocess.run(SERVE_COMMAND, input=TRANSCRIPT, capture_output=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    check_transcript(parse_lines(done.stdout), method_names())


def test_transcript_in_process(log_dir: Path) -> None:
    rc, messages = serve_bytes(TRANSCRIPT)
    assert rc == 0
    check_transcript(messages, ["engine.hello", "engine.describe", "engine.shutdown", *METHODS])


def test_nothing_after_shutdown_is_read(log_dir: Path) -> None:
    rc, messages = serve_bytes(encode(request(1, "engine.shutdown"), request(2, "engine.hello")))
    assert rc == 0
    assert messages == [{"jsonrpc": "2.0", "id": 1, "result": None}]


def test_end_of_input_answers_everything_sent_and_exits_0(log_dir: Path) -> None:
    rc, messages = serve_bytes(encode(request(1, "engine.hello"), request(2, "test.slow", {"steps": 3})))
    assert rc == 0
    assert [m["id"] for m in messages if "id" in m] == [1, 2]
    assert messages[-1]["result"] == {"stepsDone": 3}


def test_last_line_without_newline_crlf_and_bom_are_requests(log_dir: Path) -> None:
    data = (
        b"\xef\xbb\xbf" + json.dumps(request(1, "engine.hello")).encode() + b"\r\n\r\n"
        b"   \n" + json.dumps(request(2, "engine.shutdown")).encode()
    )
    rc, messages = serve_bytes(data)
    assert rc == 0
    assert [m["id"] for m in messages] == [1, 2]
    assert "result" in messages[0]


# --- describe ---------------------------------------------------------------------------------
def test_describe_gives_json_schemas_from_the_models(log_dir: Path) -> None:
    rc, messages = serve_bytes(encode(request(1, "engine.describe")))
    methods = messages[0]["result"]["methods"]
    assert set(methods) == {"engine.hello", "engine.describe", "engine.shutdown", *METHODS}
    slow = methods["test.slow"]
    assert slow["params"] == SlowParams.model_json_schema(by_alias=True)
    assert slow["result"]["properties"]["stepsDone"]["type"] == "integer"
    assert slow["whatIf"] is True and slow["summary"] == "test.slow for tests"
    strict = methods["test.strict"]["params"]
    assert set(strict["required"]) == {"name", "count", "password"}
    assert strict["additionalProperties"] is False
    assert methods["test.chatty"]["result"] is None and methods["test.chatty"]["whatIf"] is False
    for name in ("engine.hello", "engine.describe", "engine.shutdown"):
        assert methods[name]["params"] == {"type": "object", "properties": {}}
        assert methods[name]["whatIf"] is False and methods[name]["summary"]
    assert methods["engine.shutdown"]["result"] == {"type": "null"}


# --- requests that are not requests -----------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "code", "error_id", "reply_id", "says"),
    [
        (b"not json", -32700, "ParseError", None, "not valid JSON"),
        (b'{"jsonrpc":"2.0","id":1,', -32700, "ParseError", None, "not valid JSON"),
        (b'{"jsonrpc":"2.0","id":1,"method":"engine.hello","x":NaN}', -32700, "ParseError", None, "JSON"),
        (b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}', -32700, "ParseError", None, "not valid UTF-8"),
        (b"[1]", -32600, "InvalidRequest", None, "not supported"),
        (
            b'[{"jsonrpc":"2.0","id":1,"method":"engine.hello"}]',
            -32600,
            "InvalidRequest",
            None,
            "not supported",
        ),
        (b"[]", -32600, "InvalidRequest", None, "not supported"),
        (b'"x"', -32600, "InvalidRequest", None, "JSON object"),
        (b"3", -32600, "InvalidRequest", None, "JSON object"),
        (b"null", -32600, "InvalidRequest", None, "JSON object"),
        (b'{"jsonrpc":"2.0","id":null,"method":"engine.hello"}', -32600, "InvalidRequest", None, "id"),
        (b'{"jsonrpc":"2.0","id":true,"method":"engine.hello"}', -32600, "InvalidRequest", None, "id"),
        (b'{"jsonrpc":"2.0","id":{"a":1},"method":"engine.hello"}', -32600, "InvalidRequest", None, "id"),
        (b'{"jsonrpc":"2.0","id":[1],"method":"engine.hello"}', -32600, "InvalidRequest", None, "id"),
        (b'{"id":7,"method":"engine.hello"}', -32600, "InvalidRequest", 7, "jsonrpc"),
        (b'{"jsonrpc":"1.0","id":7,"method":"engine.hello"}', -32600, "InvalidRequest", 7, "jsonrpc"),
        (b'{"jsonrpc":"2.0","id":"a","method":3}', -32600, "InvalidRequest", "a", "method"),
        (b'{"jsonrpc":"2.0","id":"a"}', -32600, "InvalidRequest", "a", "method"),
        (b'{"jsonrpc":"2.0","id":7,"method":"test.slow","params":5}', -32600, "InvalidRequest", 7, "params"),
        (b'{"jsonrpc":"2.0","id":7,"method":"no.such"}', -32601, "MethodNotFound", 7, "no.such"),
        (
            b'{"jsonrpc":"2.0","id":"s","method":"no.such","params":{}}',
            -32601,
            "MethodNotFound",
            "s",
            "no.such",
        ),
        (b'{"jsonrpc":"2.0","id":7,"method":"test.slow","params":[1]}', -32602, "InvalidParams", 7, "object"),
    ],
)
def test_a_bad_line_is_answered_and_serving_goes_on(
    log_dir: Path, line: bytes, code: int, error_id: str, reply_id: Any, says: str
) -> None:
    rc, messages = serve_bytes(line + b"\n" + encode(request(99, "engine.hello")))
    assert rc == 0
    assert len(messages) == 2, messages
    error = assert_error(messages[0], code, error_id, reply_id)
    assert says in error["message"]
    assert messages[1]["id"] == 99 and messages[1]["result"]["name"] == "groupid-upgrade"


def test_notifications_from_the_client_are_ignored(log_dir: Path) -> None:
    rc, messages = serve_bytes(
        encode(
            {"jsonrpc": "2.0", "method": "engine.shutdown"},
            {"jsonrpc": "2.0", "method": "test.crash"},
            {"jsonrpc": "2.0", "method": "$/somethingElse", "params": {"x": 1}},
            {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 12345}},
            {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"nope": 1}},
            request(1, "engine.hello"),
        )
    )
    assert rc == 0
    assert [m["id"] for m in messages] == [1]


def test_answers_keep_the_order_of_the_lines(log_dir: Path) -> None:
    rc, messages = serve_bytes(
        encode(request(1, "test.slow", {"steps": 5, "delay": 0.01}), b"garbage", request("two", "no.such"))
    )
    assert [m.get("id") for m in messages if "method" not in m] == [1, None, "two"]


# --- params, engine errors, unexpected exceptions ---------------------------------------------
def test_invalid_params_list_every_field_and_never_echo_values(log_dir: Path) -> None:
    params = {"Name": 5, "count": 0, "tags": [1, "x"], "passwrd": SECRET, "password": ["not", SECRET]}
    rc, messages = serve_bytes(encode(request(1, "test.strict", params)))
    error = assert_error(messages[0], -32602, "InvalidParams", 1)
    errors = error["data"]["errors"]
    by_field = {e["field"]: e for e in errors}
    assert set(by_field) == {"name", "count", "tags[1]", "passwrd", "password"}, errors
    assert by_field["tags[1]"]["location"] == ["tags", 1]
    assert by_field["passwrd"]["type"] == "extra_forbidden"
    for entry in errors:
        assert set(entry) == {"field", "location", "message", "type"} and entry["message"]
    leaks.assert_no_leaks([SECRET], texts={"answers": json.dumps(messages)})


def test_params_match_names_case_insensitively(log_dir: Path) -> None:
    rc, messages = serve_bytes(
        encode(request(1, "test.strict", {"NAME": "a", "Count": 2, "passWORD": SECRET}))
    )
    assert messages[0]["result"] == {"name": "a", "count": 2}


def test_an_engine_error_becomes_its_error_object(log_dir: Path) -> None:
    rc, messages = serve_bytes(encode(request(1, "test.fail"), request(2, "engine.hello")))
    assert messages[0]["error"] == {
        "code": -32000,
        "message": "The group Sales was not found in corp.example.com.",
        "data": {
            "errorId": "GroupNotFound",
            "category": "ObjectNotFound",
            "targetObject": "Sales",
            "recommendedAction": "Check the group's name.",
        },
    }
    assert messages[1]["id"] == 2 and "result" in messages[1]


def test_an_unexpected_exception_is_internal_error_with_the_log_path(
    log_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rc, messages = serve_bytes(encode(request(1, "test.crash"), request(2, "engine.hello")))
    error = assert_error(messages[0], -32603, "InternalError", 1)
    log_file = log_dir / "engine.log"
    assert str(log_file) in error["message"] and error["data"]["logPath"] == str(log_file)
    assert "Traceback" not in error["message"]
    assert messages[1]["id"] == 2 and "result" in messages[1]
    captured = capfd.readouterr()
    assert "Traceback" not in captured.out + captured.err
    leaks.assert_no_leaks([SECRET], texts={"answers": json.dumps(messages), "stdout": captured.out,
                                           "stderr": captured.err})
    entries = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    failure = next(e for e in entries if e["level"] == "ERROR")
    assert "RuntimeError" in failure["traceback"] and "test.crash" in failure["message"]


def test_an_unexpected_exception_in_a_process_stays_in_the_log(process_factory: Any, log_dir: Path) -> None:
    srv = process_factory(serve_with_test_methods_command())
    srv.client.send(request(1, "test.crash"))
    response, _ = srv.client.until_response(1)
    error = assert_error(response, -32603, "InternalError", 1)
    assert str(log_dir / "engine.log") in error["message"]
    srv.client.send(request(2, "engine.shutdown"))
    assert srv.client.until_response(2)[0]["result"] is None
    assert srv.wait() == 0
    stdout = b"".join(srv.client.raw_lines)
    assert b"Traceback" not in stdout and b"Traceback" not in srv.stderr, srv.stderr
    leaks.assert_no_leaks([SECRET], texts={"stdout": stdout, "stderr": srv.stderr})
    assert "Traceback" in (log_dir / "engine.log").read_text(encoding="utf-8")


# --- too large a line -------------------------------------------------------------------------
class EndlessLine(io.RawIOBase):
    """A stream holding one line of ``size`` bytes, then ``tail``; it never exists in memory whole."""

    def __init__(self, size: int, tail: bytes) -> None:
        self._left = size
        self._tail = tail
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        assert size is not None and size > 0, "the server must read in bounded chunks"
        self.largest_read = max(self.largest_read, size)
        if self._left:
            n = min(size, self._left)
            self._left -= n
            return b"x" * n
        line, sep, self._tail = self._tail.partition(b"\n")
        return line + sep


def test_a_line_over_the_limit_is_refused_reading_only_chunks(log_dir: Path) -> None:
    stream = EndlessLine(256 * 1024 * 1024 + 3, b"\n" + encode(request(1, "engine.hello")))
    out = io.BytesIO()
    assert run_server(stream, out, method_table=METHODS) == 0  # type: ignore[arg-type]
    messages = parse_lines(out.getvalue())
    error = assert_error(messages[0], -32600, "RequestTooLarge", None)
    assert "16 MiB" in error["message"]
    assert messages[1]["id"] == 1 and "result" in messages[1]
    assert stream.largest_read <= framing.READ_CHUNK_BYTES


def test_line_limit_is_exact(log_dir: Path) -> None:
    line = json.dumps(request(1, "engine.hello")).encode()
    padded = line[:-1] + b" " * 10 + b"}"
    data = padded + b"\n" + padded + b" \n"
    out = io.BytesIO()
    run_server(io.BytesIO(data), out, method_table=METHODS, max_line_bytes=len(padded))
    first, second = parse_lines(out.getvalue())
    assert first["id"] == 1 and "result" in first
    assert_error(second, -32600, "RequestTooLarge", None)


def _memory(pid: int) -> tuple[int, int] | None:
    """(current RSS, peak RSS) of a process, where the platform tells the peak."""
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024
    if sys.platform == "win32":
        import psutil

        info = psutil.Process(pid).memory_info()
        return info.rss, info.peak_wset
    return None


@pytest.mark.parametrize("mib", [17, 64])
def test_an_oversized_line_does_not_grow_the_process_by_its_size(process_factory: Any, mib: int) -> None:
    srv = process_factory()
    srv.client.send(request(1, "engine.hello"))
    srv.client.until_response(1)
    before = _memory(srv.process.pid)
    if before is None:
        pytest.skip("this platform does not report a process's peak memory")
    chunk = b"x" * (1024 * 1024)
    stdin = srv.process.stdin
    stdin.write(b'{"jsonrpc":"2.0","id":2,"method":"engine.hello","params":{"pad":"')
    for _ in range(mib):
        stdin.write(chunk)
    stdin.write(b'"}}\n')
    stdin.flush()
    line_size = mib * 1024 * 1024
    refused = srv.client.next_message()
    assert_error(refused, -32600, "RequestTooLarge", None)
    srv.client.send(request(3, "engine.hello"))
    assert srv.client.until_response(3)[0]["result"]["name"] == "groupid-upgrade"
    after = _memory(srv.process.pid)
    assert after is not None
    growth = after[1] - before[0]
    # Bounded by the 16 MiB limit plus a few MiB of interpreter noise, whatever the line's size;
    # reading it whole and decoding it would take twice its size (34 MiB and 128 MiB here).
    assert growth < framing.MAX_LINE_BYTES + 4 * 1024 * 1024 < 2 * line_size, f"grew {growth / 2**20:.1f} MiB"
    srv.client.close_input()
    assert srv.wait() == 0


# --- concurrency: cancel, queue, end of input -------------------------------------------------
def test_cancel_a_running_request(server: InProcessServer) -> None:
    client = server.client
    client.send(request(1, "test.slow", {"steps": 1000, "delay": 0.01}))
    first = client.next_message()
    assert first["method"] == "$/progress" and first["params"]["requestId"] == 1
    client.cancel(1)
    response, seen = client.until_response(1)
    error = assert_error(response, -32800, "RequestCancelled", 1)
    assert error["data"]["category"] == "OperationStopped"
    assert SAW_CANCEL.is_set()
    assert any(m.get("method") == "$/log" and m["params"]["message"] == "saw the cancel" for m in seen)
    client.send(request(2, "engine.hello"))
    assert "result" in client.until_response(2)[0]


def test_cancel_a_queued_request_answers_it_without_running_it(server: InProcessServer) -> None:
    client = server.client
    client.send(request(1, "test.slow", {"steps": 1000, "delay": 0.01}))
    client.send(request(2, "test.recordStart"))
    client.send(request("3", "test.recordStart"))
    assert client.next_message()["method"] == "$/progress"
    client.cancel(2)
    response, _ = client.until_response(2)
    assert_error(response, -32800, "RequestCancelled", 2)
    assert STARTED == ["test.slow"], "the queued request must not run"
    client.cancel(3)  # a number does not cancel the string id "3"
    client.cancel(1)
    response, _ = client.until_response(1)
    assert_error(response, -32800, "RequestCancelled", 1)
    response, _ = client.until_response("3")
    assert response["result"] == {"ran": True}
    assert STARTED == ["test.slow", "test.recordStart"]


def test_a_cancel_sent_as_a_request_is_answered_null(server: InProcessServer) -> None:
    client = server.client
    client.send(request(1, "test.slow", {"steps": 1000, "delay": 0.01}))
    client.next_message()
    client.send(request(50, "$/cancelRequest", {"id": 1}))
    response, seen = client.until_response(1)
    assert_error(response, -32800, "RequestCancelled", 1)
    # The cancel is answered at once by the reading thread, so it may come before or after.
    cancel_answer = next((m for m in seen if m.get("id") == 50), None) or client.until_response(50)[0]
    assert cancel_answer == {"jsonrpc": "2.0", "id": 50, "result": None}


def test_end_of_input_while_a_request_runs_finishes_it(server: InProcessServer) -> None:
    client = server.client
    client.send(request(1, "test.slow", {"steps": 20, "delay": 0.02}))
    assert client.next_message()["method"] == "$/progress"
    client.close_input()
    rest = client.rest()
    assert rest[-1] == {"jsonrpc": "2.0", "id": 1, "result": {"stepsDone": 20}}
    assert server.wait() == 0
    assert not SAW_CANCEL.is_set()


def test_end_of_input_while_a_request_runs_in_a_process(process_factory: Any) -> None:
    srv = process_factory(serve_with_test_methods_command())
    srv.client.send(request(1, "test.slow", {"steps": 25, "delay": 0.02}))
    assert srv.client.next_message()["method"] == "$/progress"
    srv.client.close_input()
    rest = srv.client.rest()
    assert rest[-1] == {"jsonrpc": "2.0", "id": 1, "result": {"stepsDone": 25}}
    assert srv.wait() == 0


# --- notifications ----------------------------------------------------------------------------
def test_progress_log_and_record_notifications(server: InProcessServer) -> None:
    client = server.client
    client.send(request(7, "test.chatty"))
    response, seen = client.until_response(7)
    assert response["result"] == {"ok": True}
    assert all("id" not in m for m in seen)
    progress = [m["params"] for m in seen if m["method"] == "$/progress"]
    assert progress[0] == {
        "requestId": 7,
        "activityId": "outer",
        "parentActivityId": None,
        "activity": "Outer",
        "status": "starting",
        "current": 0,
        "total": 2,
        "percent": 0,
        "completed": False,
    }
    assert progress[1]["parentActivityId"] == "outer" and progress[1]["percent"] == 50
    assert progress[-1]["completed"] is True and progress[-1]["percent"] == 100
    logs = [m["params"] for m in seen if m["method"] == "$/log"]
    assert logs == [
        {"requestId": 7, "level": "verbose", "message": "a verbose line"},
        {"requestId": 7, "level": "information", "message": "an information line"},
        {"requestId": 7, "level": "warning", "message": "a warning line"},
    ]
    records = [m["params"] for m in seen if m["method"] == "$/record"]
    assert records == [{"requestId": 7, "type": "group", "data": {"name": "Sales", "status": "Upgraded"}}]


def test_stdout_carries_only_protocol_lines_when_a_handler_prints(process_factory: Any) -> None:
    srv = process_factory(serve_with_test_methods_command())
    srv.client.send(request(1, "test.noisy"))
    srv.client.send(request(2, "engine.shutdown"))
    assert srv.client.until_response(1)[0]["result"] == {"ok": True}
    assert srv.wait() == 0
    stdout = b"".join(srv.client.raw_lines)
    for line in stdout.splitlines():
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0"
    stderr = bytes(srv.stderr)
    for text in (
        b"printed by a handler",
        b"printed to sys.__stdout__",
        b"a warning from a handler",
        b"a library logged",
        b"written to fd 1",
        b"a child process printed",
    ):
        assert text in stderr, stderr
        assert text not in stdout


@pytest.mark.filterwarnings("ignore:a warning from a handler")
def test_in_process_prints_do_not_reach_the_protocol_stream(log_dir: Path) -> None:
    rc, messages = serve_bytes(encode(request(1, "test.noisy")))
    assert messages == [{"jsonrpc": "2.0", "id": 1, "result": {"ok": True}}]


# --- start-up ---------------------------------------------------------------------------------
def test_hello_imports_nothing_heavy(log_dir: Path) -> None:
    code = (
        "import io, sys\n"
        "from groupid_upgrade.protocol.server import run_server\n"
        "out = io.BytesIO()\n"
        'run_server(io.BytesIO(b\'{"jsonrpc":"2.0","id":1,"method":"engine.hello"}\\n\'), out)\n'
        "heavy = {'pydantic', 'pydantic_core', 'ldap3', 'elasticsearch', 'pyodbc', 'cryptography', 'msal', 'click'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), out.getvalue().count(b'result'))\n"
    )
    env = {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(log_dir)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.strip() == "[] 1", done.stdout + done.stderr


def test_the_server_module_imports_only_light_modules() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import groupid_upgrade.protocol.server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "groupid_upgrade.protocol.server" in imported
    for heavy in ("pydantic", "logging", "groupid_upgrade.logs", "groupid_upgrade.model.base", "subprocess"):
        assert heavy not in imported


# --- the log ----------------------------------------------------------------------------------
def test_log_location_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from groupid_upgrade import logs

    monkeypatch.delenv("GROUPID_UPGRADE_LOG_DIR", raising=False)
    if sys.platform == "win32":
        monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
        assert logs.log_path() == tmp_path / "GroupIDUpgrade" / "logs" / "engine.log"
    else:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        assert logs.log_path() == tmp_path / ".local" / "state" / "groupid-upgrade" / "logs" / "engine.log"
    monkeypatch.setenv("GROUPID_UPGRADE_LOG_DIR", str(tmp_path / "elsewhere"))
    assert logs.log_path() == tmp_path / "elsewhere" / "engine.log"


def test_get_logger_writes_json_lines_to_the_file_only(
    log_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from groupid_upgrade import logs

    logger = logs.get_logger("somewhere.else")
    assert logger.name == "groupid_upgrade.somewhere.else"
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it failed")
    logger.info("a plain line")
    entries = [json.loads(line) for line in logs.log_path().read_text(encoding="utf-8").splitlines()]
    assert entries[-2]["message"] == "it failed" and "ValueError: boom" in entries[-2]["traceback"]
    assert entries[-1]["level"] == "INFO" and entries[-1]["pid"] == os.getpid() and entries[-1]["time"]
    captured = capfd.readouterr()
    assert "it failed" not in captured.out + captured.err


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_cancels_what_runs_and_waits_and_exits_130(process_factory: Any) -> None:
    import signal

    srv = process_factory(serve_with_test_methods_command())
    srv.client.send(request(1, "test.slow", {"steps": 5000, "delay": 0.01}))
    srv.client.send(request(2, "test.recordStart"))
    assert srv.client.next_message()["method"] == "$/progress"
    # The reader accepts request 2 after request 1 starts (parsing it may import pydantic, slow on a
    # busy machine); nothing answers before Ctrl+C to show it was accepted, so give it time.
    time.sleep(1.0)
    srv.process.send_signal(signal.SIGINT)
    responses = [m for m in srv.client.rest() if "method" not in m]
    assert sorted(m["id"] for m in responses) == [1, 2]
    for response in responses:
        assert_error(response, -32800, "RequestCancelled", response["id"])
    assert srv.wait() == 130
    assert b"Traceback" not in srv.stderr


def test_sys_stdout_is_restored_after_serving(log_dir: Path) -> None:
    before = sys.stdout
    serve_bytes(encode(request(1, "engine.hello")))
    assert sys.stdout is before


# --- idle backstop (issue 14: a session's engine nobody uses any more ends by itself) -----------
def test_hello_reports_the_pid_and_an_idle_engine_exits_by_itself(process_factory: Any) -> None:
    srv = process_factory(serve_with_test_methods_command())
    srv.client.send(request(1, "engine.hello", {"idleTimeoutSeconds": 1}))
    hello, _ = srv.client.until_response(1)
    assert hello["result"]["pid"] == srv.process.pid
    assert hello["result"]["idleTimeoutSeconds"] == 1
    started = time.monotonic()
    assert srv.wait(timeout=15) == 0, "the engine ends by itself after its idle time, with stdin still open"
    assert 0.9 <= time.monotonic() - started < 10


def test_an_idle_limit_never_ends_a_request_that_runs_longer(process_factory: Any) -> None:
    srv = process_factory(serve_with_test_methods_command())
    srv.client.send(request(1, "engine.hello", {"idleTimeoutSeconds": 1}))
    srv.client.until_response(1)
    srv.client.send(request(2, "test.slow", {"steps": 60, "delay": 0.05}))  # 3 s of work, 1 s idle limit
    answer, _ = srv.client.until_response(2, timeout=30)
    assert answer["result"]["stepsDone"] == 60
    assert srv.wait(timeout=15) == 0


def test_without_an_idle_limit_the_engine_waits_for_its_input(process_factory: Any) -> None:
    srv = process_factory(serve_with_test_methods_command())
    srv.client.send(request(1, "engine.hello"))
    hello, _ = srv.client.until_response(1)
    assert hello["result"]["idleTimeoutSeconds"] is None
    time.sleep(2)
    assert srv.process.poll() is None
    srv.client.close_input()
    assert srv.wait() == 0


@pytest.mark.parametrize("value", [True, 0, -5, 1.5, "60", 86401, 2**62])
def test_a_bad_idle_limit_is_refused_naming_the_field(server: InProcessServer, value: Any) -> None:
    server.client.send(request(1, "engine.hello", {"idleTimeoutSeconds": value}))
    answer, _ = server.client.until_response(1)
    error = assert_error(answer, -32602, "InvalidParams", 1)
    assert error["data"]["errors"][0]["field"] == "idleTimeoutSeconds"
