"""What a run reports per module and in all (``upgrade.run``'s result)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..errors import EngineError
from ..model.base import Result, WireModel

ModuleStatus = Literal["Succeeded", "PartiallySucceeded", "Failed", "Skipped"]


class UnitFailure(WireModel):
    unit: str
    name: str
    error: dict[str, Any]


class ModuleResult(WireModel):
    module: str
    status: ModuleStatus
    done: int = 0
    already_done: int = 0
    failed: int = 0
    failures: list[UnitFailure] = Field(default_factory=list)
    reason: str | None = None
    notes: list[str] = Field(default_factory=list, description="What an admin should know of the result.")


class RunResult(Result):
    run_id: str
    status: ModuleStatus
    what_if: bool = False
    modules: list[ModuleResult]
    log_path: str


def module_status(result: ModuleResult) -> ModuleStatus:
    if result.failed == 0:
        return "Succeeded"
    if result.done + result.already_done == 0:
        return "Failed"
    return "PartiallySucceeded"


def overall_status(results: list[ModuleResult]) -> ModuleStatus:
    statuses = {r.status for r in results if r.status != "Skipped"}
    if not statuses or statuses == {"Succeeded"}:
        return "Succeeded"
    if statuses == {"Failed"}:
        return "Failed"
    return "PartiallySucceeded"


def failure(unit: str, name: str, error: EngineError) -> UnitFailure:
    return UnitFailure(unit=unit, name=name, error=error.to_error_object())
