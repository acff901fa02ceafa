"""How the CLI shows what the engine reports: live progress, plain lines, or ``--json-lines``.

All three render the same payloads the protocol sends (``Reporter.progress`` builds them once):

- ``LiveReporter`` (stdout and stderr are terminals, no ``--no-progress``): rich progress on
  stderr, one line per activity (each module of a run has its own: units done of all, rate, time
  left, the current item), sized to the terminal so a redraw never wraps;
- ``PlainReporter`` (not a terminal, or ``--no-progress``): one line per progress event on stderr;
- ``JsonLinesReporter`` (``--json-lines``): one JSON object per event on stdout (model/events.py,
  docs/schemas/), each with ``schemaVersion``, flushed as it happens.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, TextIO

import click

from .model.events import LogLine, ProgressLine, RecordLine, RunEventLine, RunLogLevel
from .reporting import Reporter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .reporting import LogLevel


class _TextReporter(Reporter):
    """Warnings always, ``-v`` lines (log lines, records, run events) when verbose; on stderr."""

    def __init__(self, *, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        click.echo(text, err=True)

    def log(self, level: LogLevel, message: str) -> None:
        from .safety.redact import redact_text

        message = redact_text(message)
        if level == "warning" or self.verbose:
            with self._lock:
                self.say(f"{'WARNING: ' if level == 'warning' else ''}{message}")

    def record(self, record_type: str, data: dict[str, Any]) -> None:
        error = data.get("error")
        if isinstance(error, dict) and not self.verbose:
            # A failed item is said once, here (the engine logs it at verbose only).
            what = data.get("distinguishedName") or data.get("identity") or data.get("name") or record_type
            with self._lock:
                self.say(f"ERROR: {what}: {error.get('message', '')}")
            return
        if self.verbose:
            with self._lock:
                self.say(f"{record_type}: {json.dumps(data, default=str)}")

    def event(self, name: str, level: RunLogLevel, fields: dict[str, Any]) -> None:
        if self.verbose:
            shown = {k: v for k, v in fields.items() if k != "runId"}
            with self._lock:
                self.say(f"{name}: {json.dumps(shown, default=str)}")

    def clear(self) -> None:
        """Before anything else is written to the terminal (the result, an error)."""


def progress_text(payload: dict[str, Any]) -> str:
    """One progress event as a line of text (plain output)."""
    counts = ""
    if payload.get("total"):
        counts = f" [{payload['current']}/{payload['total']}, {payload['percent']}%]"
    elif payload.get("current"):
        counts = f" [{payload['current']}]"
    state = " (done)" if payload.get("completed") else ""
    return f"progress: {payload['activity']}: {payload['status']}{counts}{state}"


class PlainReporter(_TextReporter):
    """Line per event: for logs, CI and anything that is not a terminal."""

    def emit_progress(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.say(progress_text(payload))


class LiveReporter(_TextReporter):
    """rich progress on stderr: one line per activity, never wider than the terminal."""

    def __init__(self, *, verbose: bool = False, stream: TextIO | None = None) -> None:
        super().__init__(verbose=verbose)
        from rich.console import Console

        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=False)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def _start(self) -> Any:
        if self._progress is None:
            self._progress = make_progress(self.console)
            self._progress.start()
        return self._progress

    def emit_progress(self, payload: dict[str, Any]) -> None:
        with self._lock:
            progress = self._start()
            key = payload["activityId"]
            task = self._tasks.get(key)
            total = payload.get("total")
            if task is None:
                task = progress.add_task(payload["activity"], total=total, item="")
                self._tasks[key] = task
            completed = payload["current"]
            if payload.get("completed") and total:
                completed = total
            progress.update(task, description=payload["activity"], total=total, completed=completed,
                            item=payload["status"])

    def say(self, text: str) -> None:
        if self._progress is not None:
            from rich.text import Text

            self._progress.console.print(Text(text), soft_wrap=False, overflow="fold")
        else:
            click.echo(text, err=True)

    def clear(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
                self._tasks.clear()


def make_progress(console: Any) -> Any:
    """The columns, sized to the console: narrow terminals get a short bar and a short item."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")

    width = console.width
    name_width = 14 if width < 100 else 28
    bar_width = 10 if width < 100 else 30
    return Progress(
        TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=name_width,
                                                             min_width=min(name_width, 8))),
        BarColumn(bar_width=bar_width),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        RateColumn(table_column=Column(no_wrap=True)),
        TimeRemainingColumn(compact=width < 100, elapsed_when_finished=True),
        TextColumn("{task.fields[item]}", markup=False,
                   table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1, min_width=1)),
        console=console, redirect_stdout=False, redirect_stderr=False, expand=True, transient=False,
        refresh_per_second=4,
    )


class JsonLinesReporter(Reporter):
    """``--json-lines``: every progress event, log line, record and run event as one JSON object."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def write(self, line: Any) -> None:
        data = line.wire()
        data = {"schemaVersion": data.pop("schemaVersion"), "event": data.pop("event"), **data}  # first: easy to grep
        text = json.dumps(data, default=str, ensure_ascii=False)
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def emit_progress(self, payload: dict[str, Any]) -> None:
        self.write(ProgressLine.model_validate(payload))

    def log(self, level: LogLevel, message: str) -> None:
        self.write(LogLine(level=level, message=message))

    def record(self, record_type: str, data: dict[str, Any]) -> None:
        self.write(RecordLine(type=record_type, data=data))

    def event(self, name: str, level: RunLogLevel, fields: dict[str, Any]) -> None:
        self.write(RunEventLine(name=name, level=level, fields=fields))

    def clear(self) -> None:
        pass


def make_reporter(*, verbose: bool = False, no_progress: bool = False, json_lines: bool = False) -> Any:
    if json_lines:
        return JsonLinesReporter()
    if not no_progress and sys.stdout.isatty() and sys.stderr.isatty():
        return LiveReporter(verbose=verbose)
    return PlainReporter(verbose=verbose)
