"""What every test of the hostile-input suite (issue 16) shares: the tally of cases per class for
docs/reliability.md, and the count of leaks for it.

The tally lands in ``gate.json`` (reliability_figures.record): one entry per test, with its class
(``paths``, ``files``, ``names``, ``numbers and JSON``, ``secrets``, ``restore and verify``,
``resources``, ``source version``), how many cases it tried, how many were refused or handled as the
issue says, and how many lost data or leaked a secret (a test fails when that is not 0). Leaks are
found by tests/support/leaks.py, the source compared with tests/support/trees.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import reliability_figures

from support.leaks import find_leaks

CLASSES = ("paths", "files", "names", "numbers and JSON", "secrets", "restore and verify", "resources",
           "source version")


def tally(cls: str, test: str, *, tried: int, handled: int, lost: int = 0, examples: list[str] | None = None
          ) -> None:
    """Record a test's cases under its class; fails the test when a case was not handled or lost data."""
    assert cls in CLASSES, cls
    reliability_figures.record("gate", f"{cls}: {test}", {"class": cls, "tried": tried, "handled": handled,
                                                           "lost": lost, "examples": (examples or [])[:8]})
    assert lost == 0, f"{cls}: {test}: {lost} case(s) lost data or leaked a secret"
    assert handled == tried, f"{cls}: {test}: {tried - handled} of {tried} case(s) not refused or handled"


def leaked(secrets: Mapping[str, str] | Iterable[str], *, texts: Iterable[str | bytes] = (),
           paths: Iterable[Path] = ()) -> int:
    """How many leaks support.leaks finds (the count ``tally`` takes as lost); each is printed, so a failing
    test says where and in which form."""
    found = find_leaks(secrets, texts=texts, paths=paths)
    for leak in found:
        print(f"R19 leak: {leak}")
    return len(found)
