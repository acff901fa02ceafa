"""docs/performance.md is written by the benchmarks themselves (``--write-doc``), never by hand.

Each benchmark owns one section, between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; a run
replaces its own section and leaves the others as they are, so the document always shows the
figures exactly as the last full-size run of each benchmark printed them.
"""

from __future__ import annotations

import os
import platform
import re
import time
from pathlib import Path

HEADER = """# Performance

Figures as the benchmarks under `bench/` printed them, written by `--write-doc`; do not edit by hand.
Ratios are against a baseline measured in the same run on the same machine (2 shared cores: absolute
times vary with the load of other work, the ratios much less). Targets: issue #19.
"""


def write_section(path: Path, name: str, title: str, lines: list[str]) -> None:
    """Replace (or append) the section ``name`` of ``path`` with ``title`` and the printed ``lines``."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = "\n".join([f"<!-- bench:{name} -->", f"## {title}", "",
                      f"Run {stamp} (Python {platform.python_version()}, {os.cpu_count()} cores):",
                      "", "```", *lines, "```", f"<!-- /bench:{name} -->"])
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


def write_if_asked(path: Path | None, name: str, title: str, lines: list[str]) -> None:
    """``--write-doc PATH``: the printed ``lines`` into the section ``name`` of PATH; nothing without it."""
    if path is None:
        return
    write_section(path, name, title, lines)
    print(f"written: {path}")
