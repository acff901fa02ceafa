"""The run log: one JSON object a line, in the target's log folder (the vendor's Upgrade Tool log name).

Every line has ``time`` (UTC, milliseconds), ``level``, ``runId`` and ``event``, then the event's
fields. ``RUN_EVENTS`` is the list of events and their level; docs/logs.md documents each one (a
test keeps the two equal). Each line is also handed to the reporter (``Reporter.event``), which is
how ``--json-lines`` and ``-v`` show every item outcome as it happens.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .reporting import Reporter

if TYPE_CHECKING:
    from .model.events import RunLogLevel

RUN_LOG_NAME = "directorymanager11_Upgrade.log"

# event -> level (docs/logs.md says what each means and which fields it has)
RUN_EVENTS: dict[str, RunLogLevel] = {
    "lock-taken-over": "WARNING",
    "run-closed-as-interrupted": "WARNING",
    "run-started": "INFO",
    "plan-warning": "WARNING",
    "item-skipped": "INFO",
    "module-started": "INFO",
    "module-skipped": "INFO",
    "unit-done": "INFO",
    "unit-already-done": "DEBUG",
    "unit-failed": "ERROR",
    "outbox-drained": "INFO",
    "groups-finished": "INFO",
    "module-finished": "INFO",
    "run-cancelled": "WARNING",
    "run-interrupted": "ERROR",
    "run-failed": "ERROR",
    "run-finished": "INFO",
}


def utc_now_ms() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunLog:
    """Appends events to the run log (``path`` None: what-if, nothing written) and tells the reporter."""

    def __init__(self, path: Path | None, run_id: str, reporter: Reporter | None = None) -> None:
        self.path = path
        self.run_id = run_id
        self.reporter = reporter
        self._fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        level = RUN_EVENTS[event]  # an event not in the list is a bug: it would be undocumented
        if self.reporter is not None:
            self.reporter.event(event, level, {"runId": self.run_id, **fields})
        if self._fh is None:
            return
        from .safety.redact import redact_text

        line = {"time": utc_now_ms(), "level": level, "runId": self.run_id, "event": event, **fields}
        # Credentials inside URLs never reach the log (issue 16).
        self._fh.write(redact_text(json.dumps(line, default=str, ensure_ascii=False)) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
