"""Fuzzing the protocol server (issue #9, R16): whatever arrives on stdin, every stdout line is a
JSON-RPC message, every answer is a well-formed response (never an unexpected InternalError), and the
process never dies on input. Many inputs go to one ``serve`` process, each followed by an
``engine.hello`` whose answer marks where the input's answers end.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reliability_figures
from hypothesis import settings
from hypothesis import strategies as st

import helpers
from groupid_upgrade.errors import CATALOG
from groupid_upgrade.protocol.framing import MAX_LINE_BYTES

ANSWER_TIMEOUT = 60
KNOWN_CODES = {-32700, -32600, -32601, -32602, -32800} | set(range(-32099, -31999))
METHODS = ["engine.hello", "engine.describe", "upgrade.plan", "upgrade.run", "group.upgrade", "backup.create",
           "backup.verify", "backup.restore", "$/cancelRequest", "$/progress"]


class ServeProcess:
    """One ``groupid-upgrade serve`` fed line after line; restarted if an input ends it cleanly."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.sync = 0
        self.restarts = 0
        self.inputs = 0
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen([*helpers.ENGINE, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=helpers.engine_env(self.log_dir))
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.stderr = bytearray()
        threading.Thread(target=self._pump_stdout, args=(self.proc, self.lines), daemon=True).start()
        threading.Thread(target=self._pump_stderr, args=(self.proc, self.stderr), daemon=True).start()

    @staticmethod
    def _pump_stdout(proc: subprocess.Popen[bytes], lines: queue.Queue[bytes | None]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    @staticmethod
    def _pump_stderr(proc: subprocess.Popen[bytes], sink: bytearray) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            sink.extend(raw)

    def exchange(self, data: bytes) -> list[dict[str, Any]]:
        """Send ``data`` and a newline, then a sync hello; return every message before the sync answer."""
        self.inputs += 1
        self.sync += 1
        sync_id = f"sync-{self.sync}"
        sync = json.dumps({"jsonrpc": "2.0", "id": sync_id, "method": "engine.hello"}).encode() + b"\n"
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data + b"\n" + sync)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # the input ended the process (a shutdown): checked below
        # Read up to the sync answer first, so a failing check never leaves answers behind for the next input.
        raws: list[bytes] = []
        ended = False
        while True:
            try:
                raw = self.lines.get(timeout=ANSWER_TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no answer within {ANSWER_TIMEOUT} s to {data[:200]!r}") from None
            if raw is None:  # stdout closed: the process ended
                ended = True
                break
            try:
                if json.loads(raw).get("id") == sync_id:
                    break
            except (ValueError, AttributeError):
                pass
            raws.append(raw)
        if ended:
            code = self.proc.wait(ANSWER_TIMEOUT)
            self.restarts += 1
            stderr = bytes(self.stderr)
            self._start()
            assert code == 0, f"serve died with {code} on {data[:200]!r}: {stderr[-2000:]!r}"
        messages = [check_message(raw) for raw in raws]
        if ended:
            assert any(m.get("id") is not None and m.get("result", 0) is None for m in messages), \
                "serve exited without answering an engine.shutdown"
        return messages

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            code = self.proc.wait(ANSWER_TIMEOUT)
            assert code == 0, bytes(self.stderr)[-2000:]
        assert b"Traceback" not in self.stderr, bytes(self.stderr)[-3000:]


def check_message(raw: bytes) -> dict[str, Any]:
    """One stdout line: a JSON-RPC 2.0 response or notification, nothing else."""
    assert raw.endswith(b"\n"), raw[:200]
    message = json.loads(raw)  # stdout carries protocol messages and nothing else
    assert isinstance(message, dict) and message.get("jsonrpc") == "2.0", raw[:300]
    if "result" in message or "error" in message:
        assert "id" in message and ("result" in message) != ("error" in message), raw[:300]
        if "error" in message:
            error = message["error"]
            assert isinstance(error.get("code"), int) and error["code"] in KNOWN_CODES, raw[:300]
            assert isinstance(error.get("message"), str) and error["message"], raw[:300]
            assert error["data"]["errorId"] in CATALOG, raw[:300]
            # an unexpected exception on some input is a bug of the engine, not an answer
            assert error["data"]["errorId"] != "InternalError", raw[:1000]
    else:
        assert isinstance(message.get("method"), str) and message["method"].startswith("$/"), raw[:300]
        assert "id" not in message, raw[:300]
    return message


def responses(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if "result" in m or "error" in m]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    process = ServeProcess(tmp_path_factory.mktemp("fuzz-logs"))
    yield process
    process.close()


def fuzz(engine: ServeProcess, target: str, strategy: st.SearchStrategy[Any],
         check: Any, examples: int | None = None) -> None:
    """Run ``check(engine, value)`` on hypothesis values; recorded as ``protocol: <target>`` with the restarts."""
    reliability_figures.fuzz(f"protocol: {target}", strategy, lambda value: check(engine, value), examples=examples,
                             extra=lambda: {"restarts": engine.restarts})


# --- strategies ------------------------------------------------------------------------------------------
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=5), max_leaves=25)
ids = st.integers() | st.text(max_size=20) | st.floats(allow_nan=False, allow_infinity=False) | st.none() | st.booleans() \
    | st.lists(st.integers(), max_size=2)
param_keys = st.sampled_from(["answerFile", "settings", "whatIf", "module", "modules", "id", "Identity",
                              "ANSWERFILE", "groupType", "searchContainer"]) | st.text(max_size=12)
requests = st.fixed_dictionaries({}, optional={
    "jsonrpc": st.sampled_from(["2.0", "1.0", "2"]) | json_scalars,
    "id": ids,
    "method": st.sampled_from(METHODS) | st.text(max_size=30) | json_scalars,
    "params": st.dictionaries(param_keys, json_values, max_size=4) | json_values,
})


# --- checks ----------------------------------------------------------------------------------------------
def no_internal_error(engine: ServeProcess, data: bytes) -> None:
    lines = [line for line in data.split(b"\n")]
    answers = responses(engine.exchange(data))
    assert len(answers) <= len(lines)


def bad_json_is_a_parse_error(engine: ServeProcess, text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    try:
        json.loads(text)
        valid = True
    except ValueError:
        valid = False
    answers = responses(engine.exchange(data))
    if not valid and text.strip() and "\ufeff" not in text[:1]:
        assert len(answers) == 1 and answers[0]["error"]["code"] == -32700 and answers[0]["id"] is None, answers


def value_not_a_request(engine: ServeProcess, value: Any) -> None:
    answers = responses(engine.exchange(json.dumps(value).encode()))
    if not isinstance(value, dict):
        assert len(answers) == 1 and answers[0]["error"]["code"] == -32600, answers


def request_shaped(engine: ServeProcess, message: dict[str, Any]) -> None:
    answers = responses(engine.exchange(json.dumps(message).encode()))
    assert len(answers) <= 1
    is_notification = "id" not in message
    if not is_notification and answers:
        # ids are strings or exact 64-bit integers (issue 16, docs/decisions.md): others are answered with id null
        request_id = message["id"]
        valid_id = (isinstance(request_id, str) or (isinstance(request_id, int) and not isinstance(request_id, bool)
                                                    and -(2**63) <= request_id < 2**63))
        assert answers[0]["id"] == (message["id"] if valid_id else None)


# --- the fuzz targets -----------------------------------------------------------------------------------
def test_r16_fuzz_random_bytes_get_answers_never_a_crash(engine: ServeProcess) -> None:
    fuzz(engine, "random bytes", st.binary(max_size=4096), no_internal_error)


def test_r16_fuzz_random_text_lines_get_a_parse_error_or_an_answer(engine: ServeProcess) -> None:
    fuzz(engine, "random lines", st.text(alphabet=st.characters(blacklist_characters="\n\r",
                                                                blacklist_categories=("Cs",)), max_size=300),
         bad_json_is_a_parse_error)


def test_r16_fuzz_random_json_values_that_are_not_objects_are_invalid_requests(engine: ServeProcess) -> None:
    fuzz(engine, "random JSON values", json_values, value_not_a_request)


def test_r16_fuzz_request_shaped_objects_get_one_well_formed_answer(engine: ServeProcess) -> None:
    fuzz(engine, "request-shaped JSON", requests, request_shaped)


def test_r16_fuzz_deep_nesting_is_a_parse_error(engine: ServeProcess) -> None:
    def check(engine: ServeProcess, depth_and_kind: tuple[int, str]) -> None:
        depth, kind = depth_and_kind
        opener, closer = ("[", "]") if kind == "list" else ('{"a":', "}")
        answers = responses(engine.exchange((opener * depth + "1" + closer * depth).encode()))
        assert len(answers) == 1
        assert answers[0]["error"]["code"] in (-32700, -32600), answers

    fuzz(engine, "deeply nested JSON", st.tuples(st.integers(1, 200_000), st.sampled_from(["list", "dict"])),
         check, examples=max(10, settings.default.max_examples // 10))


def test_r16_fuzz_huge_lines_are_refused_and_serving_goes_on(engine: ServeProcess) -> None:
    def check(engine: ServeProcess, size_and_byte: tuple[int, int]) -> None:
        size, byte = size_and_byte
        answers = responses(engine.exchange(bytes([byte]) * size))
        if size <= MAX_LINE_BYTES and bytes([byte]).isspace():
            assert answers == []  # a blank line is ignored, however long; the sync hello after it was answered
            return
        assert len(answers) == 1
        if size > MAX_LINE_BYTES:
            assert answers[0]["error"]["data"]["errorId"] == "RequestTooLarge", answers
        else:
            assert answers[0]["error"]["code"] == -32700, answers

    sizes = st.integers(MAX_LINE_BYTES - 2, MAX_LINE_BYTES + 256 * 1024)
    fuzz(engine, "huge lines (16 MiB limit)", st.tuples(sizes, st.sampled_from(b"x{[\" \xff")), check,
         examples=max(4, settings.default.max_examples // 50))


def test_r16_fuzz_deeply_nested_params_are_refused_cleanly(engine: ServeProcess) -> None:
    """Params that parse (under json's own depth limit) but nest deeper than any answer file."""
    def check(engine: ServeProcess, case: tuple[int, str, str]) -> None:
        depth, kind, method = case
        opener, closer = ("[", "]") if kind == "list" else ('{"a":', "}")
        nested = opener * depth + "1" + closer * depth
        line = f'{{"jsonrpc":"2.0","id":7,"method":"{method}","params":{{"settings":{{"source":{nested}}}}}}}'
        answers = responses(engine.exchange(line.encode()))
        assert len(answers) == 1 and "error" in answers[0], answers  # check_message refused InternalError

    fuzz(engine, "deeply nested params", st.tuples(st.integers(1, 950), st.sampled_from(["list", "dict"]),
                                                   st.sampled_from(["upgrade.plan", "upgrade.run"])),
         check, examples=max(10, settings.default.max_examples // 10))
