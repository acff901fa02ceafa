"""What the engine streams while it works, as models: the protocol's notifications and ``--json-lines``.

One payload per kind: ``Progress`` is what ``Reporter.progress`` builds, what ``$/progress`` carries
(with ``requestId``) and what a ``--json-lines`` progress line holds (with ``schemaVersion`` and
``event``). docs/schemas/ holds the JSON Schema of each, generated from these models (schemas.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, Union

from pydantic import ConfigDict, Field

from .base import OutputModel

# Raised when a line's meaning changes (a field renamed or removed); new optional fields keep it.
SCHEMA_VERSION: Final = 1

LogLevelName = Literal["verbose", "information", "warning"]
RunLogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Progress(OutputModel):
    activity_id: str = Field(description="Stable per activity; a module of upgrade.run is upgrade/<Module>.")
    parent_activity_id: str | None = Field(None, description="The activity this one is part of.")
    activity: str = Field(description="What is being done (Write-Progress -Activity).")
    status: str = Field(description="The current item (Write-Progress -Status).")
    current: int = Field(description="Units done so far.")
    total: int | None = Field(None, description="Units in all, when known.")
    percent: int | None = Field(None, description="current / total, 0..100, when total is known.")
    completed: bool = Field(False, description="The activity has ended.")


class ErrorObject(OutputModel):
    code: int
    message: str
    data: dict[str, Any] = Field(description="errorId, category, targetObject, recommendedAction, and more.")


# --- protocol notifications (engine to client) -------------------------------------------------------
class ProgressNotification(Progress):
    """``$/progress`` params."""

    request_id: int | float | str


class LogNotification(OutputModel):
    """``$/log`` params."""

    request_id: int | float | str
    level: LogLevelName
    message: str


class RecordNotification(OutputModel):
    """``$/record`` params: one result object as soon as it exists."""

    request_id: int | float | str
    type: str = Field(description="ModuleResult, UnitFailed, WhatIf, GroupUpgrade, backupPart, restorePart, ...")
    data: dict[str, Any]


# --- --json-lines: one object a line on stdout ----------------------------------------------------------
def _line_keys_required(schema: dict[str, Any]) -> None:
    # Defaults make pydantic call them optional; every line has both, so the schema requires them.
    schema["required"] = sorted({*schema.get("required", []), "schemaVersion", "event"})


class _Line(OutputModel):
    model_config = ConfigDict(**OutputModel.model_config, json_schema_extra=_line_keys_required)

    schema_version: Literal[1] = SCHEMA_VERSION


class ProgressLine(_Line, Progress):
    event: Literal["progress"] = "progress"


class LogLine(_Line):
    event: Literal["log"] = "log"
    level: LogLevelName
    message: str


class RecordLine(_Line):
    event: Literal["record"] = "record"
    type: str
    data: dict[str, Any]


class RunEventLine(_Line):
    """A run-log event as it is written (docs/logs.md): unit-done, unit-failed, unit-already-done, ..."""

    event: Literal["runEvent"] = "runEvent"
    name: str = Field(description="The run-log event (run_log.RUN_EVENTS).")
    level: RunLogLevel
    fields: dict[str, Any]


class ResultLine(_Line):
    """The last line of a command that finished: its result (the same object --json prints)."""

    event: Literal["result"] = "result"
    command: str
    exit_code: int
    result: dict[str, Any]


class ErrorLine(_Line):
    """The last line of a command that stopped with an error."""

    event: Literal["error"] = "error"
    command: str
    exit_code: int
    error: ErrorObject


# Any one line of ``--json-lines`` output (the schema of the stream).
JsonLine = Annotated[Union[ProgressLine, LogLine, RecordLine, RunEventLine, ResultLine, ErrorLine],  # noqa: UP007
                     Field(discriminator="event")]


class RunLogEntry(OutputModel):
    """One line of the run log (directorymanager11_Upgrade.log); the event's own fields follow these."""

    model_config = {**OutputModel.model_config, "extra": "allow"}

    time: str = Field(description="UTC, milliseconds, ISO 8601 with Z.")
    level: RunLogLevel
    run_id: str
    event: str
