"""Text tables for the CLI, each column as wide as its widest cell (a long store name never shifts the rest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def format_table(headers: Sequence[str] | None, rows: Sequence[Sequence[Any]], *, right: Sequence[int] = (),
                 indent: str = "  ", gap: str = "  ") -> list[str]:
    """Lines of a table; the columns whose index is in ``right`` are right-aligned (numbers)."""
    cells = [[str(c) for c in row] for row in rows]
    if headers is not None:
        cells.insert(0, [str(h) for h in headers])
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells if i < len(row)) for i in range(max(len(r) for r in cells))]
    lines = []
    for row in cells:
        parts = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append((indent + gap.join(parts)).rstrip())
    return lines
