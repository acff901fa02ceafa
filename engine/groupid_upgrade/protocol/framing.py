"""Line framing of the protocol: one UTF-8 JSON object per line, in and out.

Reading is done in bounded chunks so a hostile or broken client cannot make the engine hold an
arbitrarily long line: memory for one line is bounded by ``max_line_bytes``, whatever its length.
Only ``threading`` and the C JSON codec (``json_codec``: not the json package) are imported here
because this module is on the path of ``engine.hello``, which must answer about as fast as the
interpreter starts.
"""

from __future__ import annotations

import threading

from ..safety.strict_json import HOOKS, JsonRefused, check_tree
from .json_codec import make_dumps, make_loads

TYPE_CHECKING = False  # typing is not imported at run time: this module is on the start-up path
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, BinaryIO

MAX_LINE_BYTES = 16 * 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024


class LineTooLong:
    """Yielded in place of a line longer than the limit; its bytes were discarded unread-into-memory."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __repr__(self) -> str:
        return f"LineTooLong({self.size})"


def read_lines(
    stream: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES, chunk_bytes: int = READ_CHUNK_BYTES
) -> Iterator[bytes | LineTooLong]:
    """Yield each line of ``stream`` without its newline, or ``LineTooLong`` for one over the limit.

    A final line without a newline is still a line: a client that writes its last request and
    closes the pipe must get an answer.
    """
    parts: list[bytes] = []
    size = 0
    while True:
        piece = stream.readline(chunk_bytes)
        if not piece:
            if parts:
                yield b"".join(parts)
            return
        ends_line = piece.endswith(b"\n")
        if ends_line:
            piece = piece[:-1]
        size += len(piece)
        if size > max_line_bytes:
            # Drop what is held before discarding the rest, so the peak stays at the limit.
            parts = []
            if not ends_line:
                size += _discard_rest_of_line(stream, chunk_bytes)
            yield LineTooLong(size)
            size = 0
            continue
        parts.append(piece)
        if ends_line:
            line = parts[0] if len(parts) == 1 else b"".join(parts)
            parts = []
            size = 0
            yield line


def _discard_rest_of_line(stream: BinaryIO, chunk_bytes: int) -> int:
    discarded = 0
    while True:
        piece = stream.readline(chunk_bytes)
        discarded += len(piece)
        if not piece or piece.endswith(b"\n"):
            return discarded - (1 if piece.endswith(b"\n") else 0)


class RequestRefused(ValueError):
    """A line that is JSON but not one the engine accepts (a duplicate key, a non-finite number, an
    integer beyond 64 bits): answered ``InvalidRequest`` naming the field, with the request's id when
    the line had a valid one."""

    def __init__(self, refused: JsonRefused, request_id: Any) -> None:
        super().__init__(str(refused))
        self.problem = refused.problem
        self.field = refused.field
        self.request_id = request_id


_loads = make_loads(**HOOKS)  # strict: duplicate keys, non-finite and 64-bit bounds marked for check_tree


def decode_line(line: bytes) -> Any:
    """Parse one line; raises ``ValueError`` (including ``UnicodeDecodeError``) if it is not JSON,
    ``RequestRefused`` if it is JSON the engine refuses (safety/strict_json.py)."""
    text = line.decode("utf-8")
    # A .NET StreamWriter with a UTF8Encoding that emits a preamble puts a BOM before the first line.
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = _loads(text)
    except RecursionError as exc:
        raise ValueError("the JSON is nested too deeply") from exc
    try:
        check_tree(data)
    except RecursionError as exc:  # pragma: no cover - check_tree does not recurse
        raise ValueError("the JSON is nested too deeply") from exc
    except JsonRefused as exc:
        if exc.not_json:
            raise ValueError(exc.problem) from None
        request_id = data.get("id") if isinstance(data, dict) else None
        valid = isinstance(request_id, (str, int)) and not isinstance(request_id, bool)
        raise RequestRefused(exc, request_id if valid else None) from None
    return data


def _default(value: Any) -> Any:
    """Turn the few non-JSON types handlers commonly return into JSON.

    Imports happen here, not at the top, because only unusual results get this far. A pydantic
    ``SecretStr`` deliberately has no conversion: sending one is a bug that must fail loudly.
    """
    wire = getattr(value, "wire", None)
    if callable(wire):
        return wire()
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json", by_alias=True, exclude_none=True)
    import datetime
    import enum
    import os

    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"an object of type {type(value).__name__} cannot be sent as JSON")


_dumps_unicode = make_dumps(ensure_ascii=False, default=_default)
_dumps_ascii = make_dumps(ensure_ascii=True, default=_default)


def encode_message(message: dict[str, Any]) -> bytes:
    """One message as one line: JSON escapes every newline inside strings."""
    text = _dumps_unicode(message)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate (e.g. a path decoded with surrogateescape) is not UTF-8; \u escapes are.
        return _dumps_ascii(message).encode("ascii") + b"\n"


class MessageWriter:
    """Serialises whole lines onto the protocol stream from any thread.

    After the client has gone away (broken pipe) writes are dropped: there is nobody to tell, and
    the engine must still shut down cleanly rather than die in a writer thread.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.broken = threading.Event()

    def write_line(self, data: bytes) -> None:
        with self._lock:
            if self.broken.is_set():
                return
            try:
                self._stream.write(data)
                self._stream.flush()
            except (OSError, ValueError):
                self.broken.set()

    def send(self, message: dict[str, Any]) -> None:
        self.write_line(encode_message(message))
