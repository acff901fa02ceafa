"""What every test of the hostile-input suite (issue 16) shares: the sample whose source must stay
byte-identical, the tally of cases per class for docs/reliability.md, and the canary search.

The tally lands in ``gate.json`` (reliability_figures.record): one entry per test, with its class
(``paths``, ``files``, ``names``, ``numbers and JSON``, ``secrets``, ``restore and verify``,
``resources``, ``source version``), how many cases it tried, how many were refused or handled as the
issue says, and how many lost data or leaked a secret (a test fails when that is not 0).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import reliability_figures

CLASSES = ("paths", "files", "names", "numbers and JSON", "secrets", "restore and verify", "resources",
           "source version")


def source_state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Content (SHA-256), mode and mtime of every entry under ``root``, links not followed."""
    out: dict[str, tuple[str, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = "<dir>"
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    digest = hashlib.sha256(fh.read()).hexdigest()
            out[os.path.relpath(path, root)] = (digest, st.st_mode, st.st_mtime_ns)
    st = os.lstat(root)
    out["."] = ("<dir>", st.st_mode, st.st_mtime_ns)
    return out


def tally(cls: str, test: str, *, tried: int, handled: int, lost: int = 0, examples: list[str] | None = None
          ) -> None:
    """Record a test's cases under its class; fails the test when a case was not handled or lost data."""
    assert cls in CLASSES, cls
    reliability_figures.record("gate", f"{cls}: {test}", {"class": cls, "tried": tried, "handled": handled,
                                                           "lost": lost, "examples": (examples or [])[:8]})
    assert lost == 0, f"{cls}: {test}: {lost} case(s) lost data or leaked a secret"
    assert handled == tried, f"{cls}: {test}: {tried - handled} of {tried} case(s) not refused or handled"


def secret_values(secrets: Any) -> list[str]:
    """Every string under a secret's key in a secrets file (passphrases, passwords, client secrets)."""
    names = {"passphrase", "password", "clientsecret", "pfxpassword"}
    found: list[str] = []
    stack = [secrets]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.lower() in names and isinstance(value, str) and len(value) >= 6:
                    found.append(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def leaks(secrets: Iterable[str], texts: Iterable[str] = (), roots: Iterable[Path] = ()) -> list[str]:
    """Where a secret appears in clear (UTF-8 or UTF-16LE): in a text, or in a file under a root."""
    forms = [(s, s.encode("utf-8")) for s in secrets] + [(s, s.encode("utf-16-le")) for s in secrets]
    out: list[str] = []
    for text in texts:
        data = text.encode("utf-8", "surrogateescape")
        out += [f"output holds {s[:4]}..." for s, raw in forms if raw in data]
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
                out += [f"{path} holds {s[:4]}..." for s, raw in forms if raw in data]
    return out
