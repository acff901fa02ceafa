"""Exact numbers at every model of the engine's boundaries (answer file, secrets file, protocol
params, backup manifest): one rule, applied by ``WireModel`` (model/base.py) to every field.

pydantic's lax mode takes ``true`` for an ``int`` (1) or a ``float`` (1.0), ``5.0`` for an ``int``
and ``"5"`` for a number. Here a boolean is accepted only where the field is a boolean; where the
field is an integer, only a JSON integer is (not ``5.0``, not ``"5"``); the range is the field's own
(``Field(ge=..., le=...)``) within 64 bits (``strict_json`` bounds every literal). Free-form objects
(``dict[str, Any]``) are checked where they are read.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from .strict_json import INT_MAX, INT_MIN

_LISTS = (list, tuple, set, frozenset)


@functools.lru_cache(maxsize=4096)
def kinds(annotation: Any) -> frozenset[str]:
    """The scalar kinds a field takes: bool, int, float, str, none, any; ``list:<kinds>`` for arrays."""
    if annotation is Any or annotation is object:
        return frozenset({"any"})
    if annotation is type(None) or annotation is None:
        return frozenset({"none"})
    if annotation is bool:
        return frozenset({"bool"})
    if annotation is int:
        return frozenset({"int"})
    if annotation is float:
        return frozenset({"float"})
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return kinds(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        out: set[str] = set()
        for arg in get_args(annotation):
            out |= kinds(arg)
        return frozenset(out)
    if origin is Literal:
        return frozenset("bool" if isinstance(v, bool) else "int" if isinstance(v, int) else
                         "float" if isinstance(v, float) else "str" for v in get_args(annotation))
    if origin in _LISTS:
        args = get_args(annotation)
        inner = kinds(args[0]) if args else frozenset({"any"})
        return frozenset({"list:" + ",".join(sorted(inner))})
    if origin is dict or annotation is dict:
        return frozenset({"object"})
    return frozenset({"other"})  # str, Path, SecretStr, models, enums: they refuse a bool themselves


def _scalar_problem(allowed: frozenset[str], value: Any) -> str | None:
    if "any" in allowed:
        return None
    if isinstance(value, bool):
        return None if "bool" in allowed else "a boolean (true/false) is not accepted here"
    numeric = allowed & {"int", "float"}
    if not numeric or allowed - {"int", "float", "none"}:
        return None  # not a number field (or one that also takes text): its own validator decides
    if isinstance(value, float) and "float" not in allowed:
        return "an integer is expected, not a number with a fraction or an exponent"
    if isinstance(value, str):
        return "a number is expected, not a string"
    if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
        return "the integer is out of range (64-bit)"
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return "a finite number is expected"
    return None


class Inexact:
    """Put in place of an inexact item of a list, so the item's own validation refuses it at its index."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<an inexact number>"


def exact_value(annotation: Any, value: Any) -> Any:
    """``value`` when it is exact for a field of ``annotation`` (or its own validation decides);
    ``ValueError`` naming the problem when not; a list with its inexact items replaced by ``Inexact``
    (the item's validation then names its index)."""
    allowed = kinds(annotation)
    if isinstance(value, _LISTS):
        lists = [k for k in allowed if k.startswith("list:")]
        if not lists:
            return value
        inner = frozenset(lists[0][5:].split(","))
        if not any(_scalar_problem(inner, item) for item in value):
            return value
        return [Inexact() if _scalar_problem(inner, item) else item for item in value]
    problem = _scalar_problem(allowed, value)
    if problem is not None:
        raise ValueError(problem)
    return value
