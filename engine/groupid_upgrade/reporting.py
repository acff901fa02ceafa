"""How long-running work tells its caller what it is doing, and learns it should stop.

Executors take a ``Reporter``; the protocol server turns its calls into ``$/progress``, ``$/log``
and ``$/record`` notifications, the CLI (console.py) into live progress on a terminal, plain lines
otherwise, or ``--json-lines`` objects: the same payloads everywhere (docs/protocol.md). Progress is
throttled here, once, so no executor has to think about it.
"""

from __future__ import annotations

import threading
import time

from .errors import Cancelled

TYPE_CHECKING = False  # typing is not imported at run time: this module is on the start-up path
if TYPE_CHECKING:
    from typing import Any, Literal

    from .model.events import RunLogLevel

    LogLevel = Literal["verbose", "information", "warning"]

PROGRESS_INTERVAL_SECONDS = 0.25


class Reporter:
    """Base reporter: throttles progress, tracks cancellation. Subclasses emit."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._last_progress: dict[str, float] = {}
        self.cancelled_by: str | None = None

    # --- cancellation -------------------------------------------------------------------------
    def cancel(self, by: str | None = None) -> None:
        """Ask the work to stop at its next check; ``by`` says who asked (kept in the run's records)."""
        if self.cancelled_by is None:
            self.cancelled_by = by
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self, what: str = "the request") -> None:
        """Call between units of work: raises ``Cancelled`` once a cancel has arrived."""
        if self._cancel.is_set():
            raise Cancelled(what)

    # --- progress -----------------------------------------------------------------------------
    def progress(
        self,
        activity_id: str,
        activity: str,
        status: str,
        current: int,
        total: int | None = None,
        *,
        parent_activity_id: str | None = None,
        completed: bool = False,
    ) -> None:
        now = time.monotonic()
        last = self._last_progress.get(activity_id)
        if not completed and last is not None and now - last < PROGRESS_INTERVAL_SECONDS:
            return
        self._last_progress[activity_id] = now
        percent = None
        if total:
            percent = min(100, int(current * 100 / total))
        self.emit_progress(
            {
                "activityId": activity_id,
                "parentActivityId": parent_activity_id,
                "activity": activity,
                "status": status,
                "current": current,
                "total": total,
                "percent": percent,
                "completed": completed,
            }
        )

    # --- what subclasses implement ------------------------------------------------------------
    def emit_progress(self, payload: dict[str, Any]) -> None:  # pragma: no cover - interface
        pass

    def log(self, level: LogLevel, message: str) -> None:
        pass

    def record(self, record_type: str, data: dict[str, Any]) -> None:
        pass

    def event(self, name: str, level: RunLogLevel, fields: dict[str, Any]) -> None:
        """A run-log event (run_log.RUN_EVENTS) as it is written: per-item output (``--json-lines``)
        and ``-v`` lines. Not a protocol notification: ``$/record`` carries the results a client needs."""


class CollectingReporter(Reporter):
    """Keeps everything it is told; used by tests and by callers that want the stream as lists."""

    def __init__(self) -> None:
        super().__init__()
        self.progress_events: list[dict[str, Any]] = []
        self.logs: list[tuple[str, str]] = []
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, RunLogLevel, dict[str, Any]]] = []

    def emit_progress(self, payload: dict[str, Any]) -> None:
        self.progress_events.append(payload)

    def log(self, level: LogLevel, message: str) -> None:
        self.logs.append((level, message))

    def record(self, record_type: str, data: dict[str, Any]) -> None:
        self.records.append((record_type, data))

    def event(self, name: str, level: RunLogLevel, fields: dict[str, Any]) -> None:
        self.events.append((name, level, fields))
