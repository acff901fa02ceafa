"""The JSON-RPC 2.0 server behind ``groupid-upgrade serve`` (spec/protocol.md).

Threads: the caller's thread reads stdin, parses each line and queues requests; one worker thread
runs them one at a time, in order. Reading goes on while a request runs, so a ``$/cancelRequest``
reaches it. Every answer, including those to lines that were not valid requests, goes through the
queue so answers come out in the order the lines came in; only a cancel is acted on (and a
cancelled queued request answered) at once.

``engine.hello`` must answer about as fast as Python starts, so this module imports only json,
threading, sys and the engine's light modules; pydantic and the method modules are imported the
first time a method other than ``engine.hello``/``engine.shutdown`` needs them.

Invalid-params errors carry ``data.errors``: one ``{field, location, message, type}`` per failing
field, where ``field`` is the dotted path (``source.database.server``, ``""`` for the whole
object), ``location`` the same path as a list (indices as numbers) and ``type`` pydantic's error
type (``missing``, ``extra_forbidden``...). Input values are never echoed: they may be secrets.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager, suppress

from .. import PROTOCOL_VERSION, __version__
from ..api import ENGINE_METHODS, MethodSpec, load_method, method_names
from ..errors import EXIT_CANCELLED, EXIT_OK, Cancelled, EngineError
from ..reporting import Reporter
from ..safety.redact import redact_text
from .framing import (
    MAX_LINE_BYTES,
    LineTooLong,
    MessageWriter,
    RequestRefused,
    decode_line,
    encode_message,
    read_lines,
)

TYPE_CHECKING = False  # typing is not imported at run time: this module is on the start-up path
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any, BinaryIO, TypeGuard

    from ..reporting import LogLevel

ENGINE_NAME = "groupid-upgrade"
CANCEL_METHOD = "$/cancelRequest"

_ENGINE_SUMMARIES = {
    "engine.hello": (
        "Version handshake: the engine's name, version, protocol, method names and process id. "
        "params.idleTimeoutSeconds (optional, 1..86400): the engine exits by itself after that long "
        "with no request running or waiting (a client that keeps one engine per session)."
    ),
    "engine.describe": "JSON Schema of every method's params and result.",
    "engine.shutdown": "Finish what was sent before, answer null and exit.",
}
_ENGINE_RESULTS: dict[str, Any] = {
    "engine.hello": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "protocol": {"type": "integer"},
            "methods": {"type": "array", "items": {"type": "string"}},
            "pid": {"type": "integer"},
            "idleTimeoutSeconds": {"type": ["integer", "null"]},
        },
        "required": ["name", "version", "protocol", "methods", "pid"],
    },
    "engine.describe": {
        "type": "object",
        "properties": {"methods": {"type": "object"}},
        "required": ["methods"],
    },
    "engine.shutdown": {"type": "null"},
}


def run_server(
    stdin: BinaryIO,
    stdout: BinaryIO,
    *,
    method_table: Mapping[str, MethodSpec | str] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> int:
    """Serve requests from ``stdin`` until ``engine.shutdown`` or end of input; return the exit code.

    ``method_table`` replaces ``api.METHOD_TABLE`` (name -> ``MethodSpec`` or ``"module:attr"``),
    so tests can serve their own methods; ``engine.*`` are always served. 0 after shutdown or end
    of input, 130 after Ctrl+C.
    """
    with _protocol_stream(stdout) as out:
        server = _Server(MessageWriter(out), _Methods(method_table), max_line_bytes)
        return server.serve(stdin)


# --- stdout hygiene ---------------------------------------------------------------------------
@contextmanager
def _protocol_stream(stdout: BinaryIO) -> Iterator[BinaryIO]:
    """Keep the protocol stream to ourselves while serving.

    ``sys.stdout`` points at stderr, so a stray ``print`` (ours or a library's) cannot corrupt
    the stream. When ``stdout`` is the process's fd 1, the protocol moves to a duplicate of it and
    fd 1 itself is pointed at stderr, which also covers C extensions and child processes that
    write to the inherited descriptor.
    """
    saved_sys_stdout = sys.stdout
    fd = _fileno(stdout)
    moved: tuple[int, BinaryIO] | None = None
    if fd == 1:
        with suppress(OSError, ValueError, AttributeError):
            # Text printed before serving must come out before the protocol, not after.
            saved_sys_stdout.flush()
        stdout.flush()
        protocol_fd = os.dup(1)
        try:
            os.dup2(2, 1)
        except OSError:
            # No usable stderr (a windowed launcher): leave fd 1 as it is, sys.stdout still moves.
            os.close(protocol_fd)
        else:
            _point_windows_std_handle_at_stderr()
            moved = (protocol_fd, open(protocol_fd, "wb", closefd=False))  # noqa: SIM115 - closed below
    sys.stdout = sys.stderr
    try:
        yield moved[1] if moved else stdout
    finally:
        sys.stdout = saved_sys_stdout
        if moved is not None:
            protocol_fd, stream = moved
            with suppress(OSError, ValueError):
                stream.flush()
            stream.close()
            os.dup2(protocol_fd, 1)
            os.close(protocol_fd)


def _fileno(stream: BinaryIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _point_windows_std_handle_at_stderr() -> None:
    # Child processes on Windows inherit GetStdHandle(STD_OUTPUT_HANDLE), not fd 1.
    if sys.platform == "win32":
        try:
            import ctypes
            import msvcrt

            ctypes.windll.kernel32.SetStdHandle(-11, msvcrt.get_osfhandle(2))
        except (ImportError, OSError, AttributeError):
            pass


# --- methods ----------------------------------------------------------------------------------
class _Methods:
    """The method table the server serves: the product's, or one given by a test."""

    def __init__(self, table: Mapping[str, MethodSpec | str] | None) -> None:
        self._table = None if table is None else dict(table)
        self._loaded: dict[str, MethodSpec] = {}

    def names(self) -> list[str]:
        if self._table is None:
            return method_names()
        return [*ENGINE_METHODS, *(name for name in self._table if name not in ENGINE_METHODS)]

    def load(self, name: str) -> MethodSpec | None:
        if self._table is None:
            return load_method(name)
        if name in self._loaded:
            return self._loaded[name]
        entry = self._table.get(name)
        if entry is None:
            return None
        if isinstance(entry, str):
            import importlib

            module_name, attr = entry.split(":")
            entry = getattr(importlib.import_module(module_name), attr)
        if not isinstance(entry, MethodSpec):
            raise TypeError(f"{name} in the method table is not a MethodSpec")
        self._loaded[name] = entry
        return entry


# --- notifications ----------------------------------------------------------------------------
class ServerReporter(Reporter):
    """Turns an executor's progress, log lines and records into notifications for one request."""

    def __init__(self, request_id: int | float | str, writer: MessageWriter) -> None:
        super().__init__()
        self.request_id = request_id
        self._writer = writer

    def _notify(self, method: str, params: dict[str, Any]) -> None:
        if self._writer.broken.is_set():
            # Nobody is listening any more: stop the work at its next check.
            self.cancel(by="the client (it stopped reading the engine's output)")
            return
        self._writer.send({"jsonrpc": "2.0", "method": method, "params": params})

    def emit_progress(self, payload: dict[str, Any]) -> None:
        self._notify("$/progress", {"requestId": self.request_id, **payload})

    def log(self, level: LogLevel, message: str) -> None:
        message = redact_text(message)
        self._notify("$/log", {"requestId": self.request_id, "level": level, "message": message})
        _engine_log(_LOG_LEVELS.get(level, 20), f"request {_short(repr(self.request_id))}: {message}")

    def record(self, record_type: str, data: dict[str, Any]) -> None:
        self._notify("$/record", {"requestId": self.request_id, "type": record_type, "data": data})


_LOG_LEVELS = {"verbose": 10, "information": 20, "warning": 30}


def _close_kept_connections() -> None:
    """The directory binds and the target kept between requests, closed (those modules, if ever imported)."""
    pool = sys.modules.get("groupid_upgrade.storage.directory_pool")
    if pool is not None:
        pool.POOL.close_all()
    kept = sys.modules.get("groupid_upgrade.target.kept")
    if kept is not None:
        kept.KEPT.close_all()


def _engine_log(level: int, message: str, *, exc: BaseException | None = None) -> None:
    # logs (and with it logging) is imported on first use: not on the path of engine.hello.
    try:
        from .. import logs

        logs.get_logger("groupid_upgrade.protocol").log(level, message, exc_info=exc)
    except Exception:
        # A log that cannot be written (no home folder, say) must never stop an answer.
        pass


def _log_path() -> str:
    try:
        from .. import logs

        return str(logs.log_path())
    except Exception:
        return "(unavailable: set GROUPID_UPGRADE_LOG_DIR)"


# --- the server -------------------------------------------------------------------------------
class _Job:
    __slots__ = ("method", "params", "reporter", "request_id", "response")

    def __init__(
        self,
        request_id: int | float | str | None,
        method: str = "",
        params: Any = None,
        *,
        reporter: ServerReporter | None = None,
        response: dict[str, Any] | None = None,
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.params = params
        self.reporter = reporter
        # A job with a ready response (an error for a line that was not a request) is just sent,
        # in its turn, so answers keep the order of the lines.
        self.response = response


def _short(text: str, limit: int = 80) -> str:
    # Ids and method names come from the client and may be megabytes long; logs and messages are not.
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _valid_id(value: object) -> TypeGuard[int | str]:
    # A string or an exact integer (JSON-RPC: ids SHOULD NOT hold fractions; a .NET client never sends one).
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _same_id(a: Any, b: Any) -> bool:
    return isinstance(a, str) == isinstance(b, str) and a == b


def _error_response(request_id: Any, error: EngineError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_error_object()}


class _Server:
    def __init__(self, writer: MessageWriter, methods: _Methods, max_line_bytes: int) -> None:
        self._writer = writer
        self._methods = methods
        self._max_line_bytes = max_line_bytes
        self._cond = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._running: _Job | None = None
        self._closed = False
        self._describe_cache: dict[str, Any] | None = None
        self._logged_start = False
        self._idle_timeout: float | None = None
        self._last_activity = time.monotonic()

    # --- main thread: read, parse, queue, cancel ------------------------------------------------
    def serve(self, stdin: BinaryIO) -> int:
        worker = threading.Thread(target=self._work, name="groupid-upgrade-engine", daemon=True)
        worker.start()
        reason = "end of input"
        exit_code = EXIT_OK
        try:
            try:
                for line in read_lines(stdin, self._max_line_bytes):
                    if not self._accept(line):
                        reason = "engine.shutdown"
                        break
            except OSError as exc:
                reason = f"stdin failed ({type(exc).__name__})"
            self._close()
            worker.join()
        except KeyboardInterrupt:
            # Ctrl+C reaches the engine too (same console): stop what runs, answer what waits.
            reason = "interrupted"
            exit_code = EXIT_CANCELLED
            self._cancel_everything()
            self._close()
            worker.join()
        _close_kept_connections()
        _engine_log(20, f"engine stopped: {reason}")
        return exit_code

    def _accept(self, line: bytes | LineTooLong) -> bool:
        """Handle one input line; False once no more input should be read (after shutdown)."""
        if isinstance(line, LineTooLong):
            limit_mib = self._max_line_bytes / (1024 * 1024)
            self._queue_error(
                None,
                EngineError(
                    "RequestTooLarge",
                    f"A request line of {line.size} bytes was refused: the limit is {limit_mib:g} MiB per line.",
                    recommended_action="Put large settings in an answer file and send its path instead.",
                ),
            )
            return True
        if not line or line.isspace():
            return True
        try:
            message = decode_line(line)
        except RequestRefused as exc:
            self._queue_error(
                exc.request_id,
                EngineError("InvalidRequest", f"A request was refused: {exc.problem} at "
                            f"{_short(exc.field) or 'the top level'}.",
                            recommended_action="Send each key once and every number as a finite integer or "
                            "number within 64 bits.", extra={"field": _short(exc.field)}),
            )
            return True
        except ValueError as exc:
            what = "not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
            self._queue_error(
                None,
                EngineError(
                    "ParseError",
                    f"A request line was {what}; each line must be one JSON-RPC request encoded as UTF-8.",
                ),
            )
            return True
        return self._accept_message(message)

    def _accept_message(self, message: Any) -> bool:
        if isinstance(message, list):
            return self._invalid(
                None, "Batches (JSON arrays of requests) are not supported; send one request per line."
            )
        if not isinstance(message, dict):
            return self._invalid(None, "A request must be a JSON object, not a bare value.")
        has_id = "id" in message
        request_id = message.get("id")
        if has_id and not _valid_id(request_id):
            return self._invalid(None, "A request id must be an integer or a string.")
        reply_id = request_id if has_id else None
        if message.get("jsonrpc") != "2.0":
            return self._invalid(reply_id, 'A request must have "jsonrpc": "2.0".')
        method = message.get("method")
        if not isinstance(method, str) or not method:
            return self._invalid(reply_id, 'A request must have a "method" that is a non-empty string.')
        params = message.get("params")
        if "params" in message and not isinstance(params, (dict, list)):
            return self._invalid(reply_id, 'A request\'s "params" must be an object.')

        if method == CANCEL_METHOD:
            self._cancel(params)
            if has_id:
                self._writer.send({"jsonrpc": "2.0", "id": request_id, "result": None})
            return True
        if not (has_id and _valid_id(request_id)):
            # Notifications other than cancel mean nothing to the engine (JSON-RPC: never answered);
            # an id that is there but not valid was refused above.
            return True
        self._enqueue(_Job(request_id, method, params, reporter=ServerReporter(request_id, self._writer)))
        # Nothing after shutdown is read: the engine finishes what it has and exits.
        return method != "engine.shutdown"

    def _invalid(self, request_id: Any, message: str) -> bool:
        self._queue_error(request_id, EngineError("InvalidRequest", message))
        return True

    def _queue_error(self, request_id: Any, error: EngineError) -> None:
        self._enqueue(_Job(request_id, response=_error_response(request_id, error)))

    def _enqueue(self, job: _Job) -> None:
        with self._cond:
            self._pending.append(job)
            self._last_activity = time.monotonic()
            self._cond.notify_all()

    def _close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _cancel(self, params: Any) -> None:
        if not isinstance(params, dict) or not _valid_id(params.get("id")):
            return
        target = params["id"]
        with self._cond:
            running = self._running
            if running is not None and running.reporter is not None and _same_id(running.request_id, target):
                running.reporter.cancel(by=f"the client ($/cancelRequest of request {_short(repr(target))})")
            removed = [
                job for job in self._pending if job.reporter is not None and _same_id(job.request_id, target)
            ]
            for job in removed:
                self._pending.remove(job)
        for job in removed:
            self._answer_cancelled_before_start(job)

    def _cancel_everything(self) -> None:
        with self._cond:
            if self._running is not None and self._running.reporter is not None:
                self._running.reporter.cancel(by="Ctrl+C in the engine's console")
            removed = [job for job in self._pending if job.reporter is not None]
            for job in removed:
                self._pending.remove(job)
        for job in removed:
            self._answer_cancelled_before_start(job)

    def _answer_cancelled_before_start(self, job: _Job) -> None:
        self._writer.send(
            _error_response(job.request_id, Cancelled(f"{_short(job.method)} before it started"))
        )

    # --- worker thread: run one request at a time -----------------------------------------------
    def _next_job(self) -> _Job | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                self._running = None
                return None
            # Taken and marked running under one lock, so a cancel cannot fall between the two.
            job = self._pending.popleft()
            self._running = job
            return job

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            if job.response is not None:
                self._writer.send(job.response)
                continue
            started = time.monotonic()
            data, outcome = self._execute(job)
            with self._cond:
                self._running = None
                self._last_activity = time.monotonic()
                self._cond.notify_all()
            self._writer.write_line(data)
            self._log_answered(job, outcome, time.monotonic() - started)
            if job.method == "engine.shutdown":
                return

    def _log_answered(self, job: _Job, outcome: str, seconds: float) -> None:
        # Logged after the answer is written, so the log's import cost never delays an answer.
        if not self._logged_start:
            self._logged_start = True
            _engine_log(20, f"engine {__version__} serving protocol {PROTOCOL_VERSION}")
        _engine_log(
            20,
            f"{_short(job.method)} (id {_short(repr(job.request_id))}) answered in {seconds * 1000:.1f} ms: {outcome}",
        )

    def _execute(self, job: _Job) -> tuple[bytes, str]:
        """Run one request; return its encoded answer and a word for the log."""
        assert job.reporter is not None
        try:
            result = self._call(job.method, job.params, job.reporter)
            return encode_message({"jsonrpc": "2.0", "id": job.request_id, "result": result}), "ok"
        except EngineError as exc:
            return encode_message(_error_response(job.request_id, exc)), exc.error_id
        except (Exception, SystemExit) as exc:  # the boundary where bugs become -32603
            from ..safety.resources import translate

            named = translate(exc)  # a resource failure nobody named is named here, not "unexpected"
            if named is not None:
                return encode_message(_error_response(job.request_id, named)), named.error_id
            path = _log_path()
            _engine_log(40, f"{job.method} (id {_short(repr(job.request_id))}) failed unexpectedly", exc=exc)
            error = EngineError(
                "InternalError",
                f"The engine failed unexpectedly in {job.method} ({type(exc).__name__}); "
                f"the details are in the engine log {path}.",
                recommended_action="Send the engine log to support; the request can be retried.",
                extra={"logPath": path},
            )
            return encode_message(_error_response(job.request_id, error)), "InternalError"

    def _call(self, method: str, params: Any, reporter: ServerReporter) -> Any:
        if method == "engine.hello":
            idle = _idle_timeout_param(params)
            if idle is not None:
                self._start_idle_watch(idle)
            return {
                "name": ENGINE_NAME,
                "version": __version__,
                "protocol": PROTOCOL_VERSION,
                "methods": self._methods.names(),
                "pid": os.getpid(),
                "idleTimeoutSeconds": idle,
            }
        if method == "engine.shutdown":
            return None
        if method == "engine.describe":
            return self._describe()
        spec = self._methods.load(method)
        if spec is None:
            raise EngineError(
                "MethodNotFound",
                f"The engine has no method '{_short(method)}'; engine.hello lists the methods it has.",
                recommended_action="Update the PowerShell module and the engine to the same version.",
            )
        validated = _validate_params(spec, params)
        reporter.check_cancelled()
        from ..settings_cache import SETTINGS  # here, not at start-up: engine.hello stays light
        from ..storage.directory_pool import POOL
        from ..target.kept import KEPT

        POOL.enable()  # this process lives on: keep directory binds for the next request
        SETTINGS.enable()  # and the answer files loaded, while they do not change
        KEPT.enable()  # and the target between group requests
        if not spec.keeps_target:
            KEPT.close_all()
        result = spec.handler(validated, reporter)
        return _jsonable(result)

    # --- idle watch: the backstop that ends a session's engine nobody uses any more -------------
    def _start_idle_watch(self, seconds: int) -> None:
        with self._cond:
            first = self._idle_timeout is None
            self._idle_timeout = float(seconds)
            self._last_activity = time.monotonic()
            self._cond.notify_all()
        if first:
            threading.Thread(target=self._watch_idle, name="groupid-upgrade-idle", daemon=True).start()

    def _watch_idle(self) -> None:
        with self._cond:
            while not self._closed:
                assert self._idle_timeout is not None
                busy = self._running is not None or bool(self._pending)
                left = self._idle_timeout - (time.monotonic() - self._last_activity)
                if not busy and left <= 0:
                    break
                self._cond.wait(timeout=self._idle_timeout if busy else max(left, 0.05))
            else:
                return
        # Nothing runs or waits, so nothing can be cut in half; the reading thread blocks on stdin
        # and cannot be woken portably, so the process ends here.
        _close_kept_connections()
        _engine_log(20, f"engine stopped: idle for {self._idle_timeout:g} s")
        with suppress(Exception):
            sys.stderr.flush()
        os._exit(EXIT_OK)

    def _describe(self) -> dict[str, Any]:
        if self._describe_cache is None:
            methods: dict[str, Any] = {}
            for name in self._methods.names():
                if name in ENGINE_METHODS:
                    methods[name] = {
                        "params": {"type": "object", "properties": {}},
                        "result": _ENGINE_RESULTS[name],
                        "summary": _ENGINE_SUMMARIES[name],
                        "whatIf": False,
                    }
                    continue
                spec = self._methods.load(name)
                assert spec is not None
                methods[name] = {
                    "params": spec.params.model_json_schema(by_alias=True),
                    "result": (
                        spec.result.model_json_schema(by_alias=True, mode="serialization")
                        if spec.result is not None
                        else None
                    ),
                    "summary": spec.summary,
                    "whatIf": spec.supports_what_if,
                }
            self._describe_cache = {"methods": methods}
        return self._describe_cache


MAX_IDLE_TIMEOUT_SECONDS = 86400


def _idle_timeout_param(params: Any) -> int | None:
    """engine.hello's optional ``idleTimeoutSeconds``: a whole number of seconds, 1..86400."""
    if not isinstance(params, dict) or params.get("idleTimeoutSeconds") is None:
        return None
    value = params["idleTimeoutSeconds"]
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_IDLE_TIMEOUT_SECONDS:
        raise EngineError(
            "InvalidParams",
            f"engine.hello's idleTimeoutSeconds must be a whole number of seconds from 1 to {MAX_IDLE_TIMEOUT_SECONDS}.",
            recommended_action="Send a whole number of seconds, or leave it out for no idle limit.",
            extra={"errors": [{"field": "idleTimeoutSeconds", "location": ["idleTimeoutSeconds"],
                               "message": "must be an integer from 1 to 86400", "type": "int_range"}]},
        )
    return value


def _validate_params(spec: MethodSpec, params: Any) -> Any:
    from pydantic import ValidationError

    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise EngineError(
            "InvalidParams",
            f"The params of {spec.name} must be an object of named parameters, not an array.",
            extra={"errors": []},
        )
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        errors = validation_errors(exc)
        fields = ", ".join(sorted({e["field"] or "(params)" for e in errors}))
        raise EngineError(
            "InvalidParams",
            f"The params of {spec.name} are not valid ({fields}); see data.errors for each field.",
            recommended_action="Correct the listed parameters and run the command again.",
            extra={"errors": errors},
        ) from None


def validation_errors(exc: Any) -> list[dict[str, Any]]:
    """Every failing field of a pydantic ``ValidationError``, without the input values.

    Also for executors that validate an answer file and raise ``AnswerFileInvalid`` with the same
    ``data.errors`` shape.
    """
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        location = list(err.get("loc", ()))
        out.append(
            {
                "field": _dotted(location),
                "location": location,
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
        )
    return out


def _dotted(location: list[Any]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _jsonable(result: Any) -> Any:
    wire = getattr(result, "wire", None)
    if callable(wire):
        return wire()
    model_dump = getattr(result, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json", by_alias=True, exclude_none=True)
    return result
