"""Crash points for the kill-and-resume tests (R15), off unless a test switches one on.

``GROUPID_UPGRADE_KILL_AT=<point>:<n>`` makes the engine SIGKILL itself the n-th time it passes
``<point>`` (a real kill: no cleanup, no flush, as a power cut would). The variable holds no secret;
it exists so that a test can stop the engine at an exact place, inside a transaction included.
Points: ``unit-before-write``, ``unit-in-transaction``, ``unit-after-commit``, ``history-in-transaction``,
``history-after-commit``, ``groups-after-directory``, ``groups-in-transaction``, ``groups-group-written``,
``backup-file-copied``, ``backup-before-manifest``, ``backup-before-zip-rename``.
"""

from __future__ import annotations

import os
import signal

ENV = "GROUPID_UPGRADE_KILL_AT"
_spec = os.environ.get(ENV, "")
_point, _, _count = _spec.partition(":")
_remaining = int(_count) if _count.isdigit() else 0


def fault_point(name: str) -> None:
    global _remaining
    if not _remaining or name != _point:
        return
    _remaining -= 1
    if _remaining == 0:
        os.kill(os.getpid(), signal.SIGKILL)
