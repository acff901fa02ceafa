"""Reading an LDIF file of a backup set (R17, R18): the one reader verify and restore use.

``read_ldif(path)`` streams ``(dn, attributes)`` records with raw ``bytes`` values (binary
``extensionData`` round-trips byte for byte) through the ``ldif`` package's ``LDIFParser`` in strict
mode. URL values (``attr:< file:///...``) are never fetched: a hostile set cannot make the engine read
another file or the network. Any input either parses or fails with ``BackupSetInvalid`` naming the file
and the line (the parser's count of lines read when it failed); never a traceback. Memory is bounded by
one record (the parser reads line by line), except that a record larger than ``MAX_RECORD_BYTES`` is
refused rather than held.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import EngineError

MAX_RECORD_BYTES = 64 * 1024 * 1024


def _invalid(path: Path, what: str, line: int | None) -> EngineError:
    where = f" at line {line}" if line else ""
    return EngineError(
        "BackupSetInvalid",
        f"The LDIF file {path} cannot be read{where}: {what}.",
        target=str(path),
        recommended_action="Run backup.verify on the set; if the file is damaged, restore the groups from "
        "another backup set.",
        extra={"path": str(path), **({"line": line} if line else {})},
    )


class _Limited:
    """A binary file whose reads stop being served after ``limit`` bytes since the last record."""

    def __init__(self, handle: BinaryIO, limit: int) -> None:
        self._handle = handle
        self._limit = limit
        self.since_record = 0

    def readline(self, size: int = -1) -> bytes:
        line = self._handle.readline(size)
        self.since_record += len(line)
        if self.since_record > self._limit:
            raise ValueError(f"a record is larger than {self._limit} bytes")
        return line


def read_ldif(path: str | Path) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
    """Yield each record of ``path`` as ``(dn, {attribute: [raw values]})``, in file order."""
    from ldif import LDIFParser

    file = Path(path)
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise _invalid(file, f"it cannot be opened ({exc.strerror or type(exc).__name__})", None) from None
    with handle:
        source = _Limited(handle, MAX_RECORD_BYTES)
        parser = LDIFParser(source, process_url_schemes=(), encoding=None, strict=True)
        records = parser.parse()
        while True:
            try:
                dn, entry = next(records)
            except StopIteration:
                return
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, UnicodeError) as exc:
                # binascii.Error and UnicodeDecodeError are ValueErrors; the parser raises bare
                # ValueErrors with its own words for structural faults.
                raise _invalid(file, _describe(exc), parser.line_counter) from None
            except OSError as exc:
                raise _invalid(file, f"reading failed ({exc.strerror or type(exc).__name__})",
                               parser.line_counter) from None
            source.since_record = 0
            if dn is None and not entry:
                continue  # a "version: 1" line on its own
            if not dn:
                raise _invalid(file, "a record has no dn", parser.line_counter)
            yield dn, {name: [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values]
                       for name, values in entry.items()}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # The parser quotes the offending value (a DN, a changetype); keep messages one short sentence.
    text = text.splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."
