"""JSON for the protocol through the interpreter's C accelerator (``_json``), without the json package.

``import json`` costs more than a third of a bare interpreter's start-up, because json.decoder and
json.encoder compile regular expressions at import (``re``, which imports ``enum``). Every
``serve`` start pays that before it can answer ``engine.hello``. The C scanner and encoder that json
itself uses when they are available (always, in CPython) need none of it, so this module drives
them directly, with json's own semantics: the same parser (strict, NaN/Infinity handed to
``parse_constant``), the same errors (``json.JSONDecodeError``, imported only when a line is bad),
the same output as ``json.dumps(..., separators=(",", ":"))``.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # typing is not imported at run time: this module is on the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_WHITESPACE = " \t\n\r"  # JSON's insignificant whitespace (json.decoder.WHITESPACE)


class _ScannerContext:
    """The attributes the C scanner reads from its context (a json.JSONDecoder's, by default)."""

    def __init__(self, parse_constant: Callable[[str], Any], object_pairs_hook: Any = None,
                 parse_int: Callable[[str], Any] = int, parse_float: Callable[[str], Any] = float) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = object_pairs_hook
        self.parse_float = parse_float
        self.parse_int = parse_int
        self.parse_constant = parse_constant
        self.memo: dict[str, str] = {}


def _decode_error(message: str, text: str, position: int) -> ValueError:
    from json import JSONDecodeError  # only for a bad line: its import cost is not on the hello path

    return JSONDecodeError(message, text, position)


def make_loads(parse_constant: Callable[[str], Any], *, object_pairs_hook: Any = None,
               parse_int: Callable[[str], Any] = int, parse_float: Callable[[str], Any] = float) -> Callable[[str], Any]:
    """``json.loads`` with these hooks: one document, whitespace around it allowed."""
    context = _ScannerContext(parse_constant, object_pairs_hook, parse_int, parse_float)
    scan = _json.make_scanner(context)  # type: ignore[arg-type]  # duck-typed context

    def loads(text: str) -> Any:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = scan(text, start)
        except StopIteration as exc:
            raise _decode_error("Expecting value", text, exc.value) from None
        if end != len(text) and text[end:].strip(_WHITESPACE):
            raise _decode_error("Extra data", text, end + len(text[end:]) - len(text[end:].lstrip(_WHITESPACE)))
        return value

    return loads


def make_dumps(*, ensure_ascii: bool, default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=..., separators=(",", ":"), allow_nan=False, default=...)``
    for containers (the protocol only sends objects)."""
    escape = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring

    def dumps(value: Any) -> str:
        # A fresh encoder per call: its ``markers`` (circular-reference check) must start empty.
        encode = _json.make_encoder({}, default, escape, None, ":", ",", False, False, False)
        return "".join(encode(value, 0))

    return dumps
