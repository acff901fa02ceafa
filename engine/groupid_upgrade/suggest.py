"""'Did you mean ...?' for a name the user mistyped (a module, a backup part, an answer-file key)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice nearest to ``word`` (case-insensitive), or None when none is near enough."""
    by_lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean X?`` (with its leading space), or an empty string."""
    match = closest(word, choices)
    return f" Did you mean {match}?" if match else ""
