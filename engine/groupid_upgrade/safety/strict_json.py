"""Strict JSON for every document the engine reads: the answer file, the secrets file, a backup
manifest, a JSON-RPC request line.

``json.loads`` alone takes the last of two equal keys, turns ``1e999`` into infinity, accepts
``NaN`` and parses an integer of any length; each of those either hides a typo or makes a later
check pass on a value no client meant. ``loads`` refuses them, naming the field (a dotted path, list
indices in brackets) and, for a duplicate, the key. Names match case-insensitively at the boundary
(model/base.py), so ``Password`` and ``password`` in one object are duplicates too.

Nothing is imported at start: the protocol's ``engine.hello`` path reads its lines with ``HOOKS``
and the C codec (protocol/json_codec.py); ``json`` is imported by ``parse`` when it is first used.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1  # the widest integer a .NET client (Int64) or SQL Server (BIGINT) holds


class JsonRefused(ValueError):
    """A document that is JSON but not one the engine accepts; ``field`` is where (``""``: the top)."""

    def __init__(self, problem: str, field: str, *, not_json: bool = False) -> None:
        super().__init__(f"{problem} at {field or 'the top level'}")
        self.problem = problem
        self.field = field
        self.not_json = not_json  # NaN, Infinity: not JSON at all (RFC 8259), only Python's extension


class _Refused:
    """Stands in the parsed tree for a value refused while parsing, so the walk can say where it was."""

    __slots__ = ("not_json", "problem")

    def __init__(self, problem: str, *, not_json: bool = False) -> None:
        self.problem = problem
        self.not_json = not_json


class _Object(dict[str, object]):
    """A parsed object that held the same key (case-insensitively) more than once."""

    __slots__ = ("duplicate",)
    duplicate: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    duplicate = None
    for key, _ in pairs:
        folded = key.casefold()
        if folded in seen and duplicate is None:
            duplicate = key
        seen.add(folded)
    if duplicate is None:
        return dict(pairs)
    out = _Object(pairs)
    out.duplicate = duplicate
    return out


def _int(text: str) -> Any:
    # Digits first: int() of a 5,000-digit literal is refused by Python with an unhelpful message.
    if len(text.lstrip("-")) > 19:
        return _Refused(f"the integer literal of {len(text)} characters is out of range")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        return _Refused("the integer is out of range (64-bit)")
    return value


def _float(text: str) -> Any:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        return _Refused(f"the number {text[:40]} is too large to be finite")
    return value


def _constant(name: str) -> Any:
    return _Refused(f"{name} is not a JSON number", not_json=True)


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def check_tree(data: Any) -> None:
    """Raise ``JsonRefused`` for the first refused value or duplicate key in a parsed tree (iterative)."""
    if isinstance(data, _Refused):
        raise JsonRefused(data.problem, "", not_json=data.not_json)
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, _Refused):
            raise JsonRefused(node.problem, where, not_json=node.not_json)
        if isinstance(node, dict):
            if isinstance(node, _Object):
                raise JsonRefused(f"the key {node.duplicate!r} is given more than once", where)
            stack.extend((value, _path(where, key)) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, _path(where, i)) for i, value in enumerate(node))


# The parser hooks that mark what ``check_tree`` refuses (also for the protocol's C codec).
HOOKS: dict[str, Any] = {"object_pairs_hook": _pairs, "parse_int": _int, "parse_float": _float,
                         "parse_constant": _constant}


def parse(text: str | bytes) -> Any:
    """The parsed tree with refused values still marked (``check_tree`` finds them): for a caller that
    wants something of the document (a request's id) before refusing it."""
    import json

    return json.loads(text, **HOOKS)


def loads(text: str | bytes) -> Any:
    """Parse ``text``; ``json.JSONDecodeError`` when it is not JSON, ``JsonRefused`` when it is JSON
    the engine refuses (``RecursionError`` when nested too deeply, as ``json.loads``)."""
    data = parse(text)
    check_tree(data)
    return data
