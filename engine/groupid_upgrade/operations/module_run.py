"""One module's tally while the executor runs it, and the one way an outcome is reported."""

from __future__ import annotations

from ..errors import EngineError
from ..run_log import RunLog
from .base import RunContext
from .results import ModuleResult, failure


class ModuleRun:
    """One module's tally while it runs: its result, and the one way a failure is reported."""

    def __init__(self, ctx: RunContext, log: RunLog, module: str) -> None:
        self.ctx = ctx
        self.log = log
        self.result = ModuleResult(module=module, status="Succeeded")

    def fail(self, unit: str, name: str, error: EngineError) -> None:
        item = failure(unit, name, error)
        self.result.failed += 1
        self.result.failures.append(item)
        self.log.write("unit-failed", module=self.result.module, unit=unit, name=name, errorId=error.error_id,
                       message=error.message)
        if self.ctx.what_if:
            self.ctx.reporter.record("WhatIf", {"unit": unit, "name": name, "action": "WouldFail",
                                                "error": item.error})
            return
        self.ctx.reporter.record("UnitFailed", item.wire())
        self.ctx.reporter.log("warning", f"{self.result.module}: {name} failed: {error.message}")

    def done(self, unit: str, name: str) -> None:
        self.result.done += 1
        self.log.write("unit-done", module=self.result.module, unit=unit, name=name)
        if self.ctx.what_if:
            self.ctx.reporter.record("WhatIf", {"unit": unit, "name": name, "action": "WouldWrite"})

    def already_done(self, unit: str, name: str) -> None:
        self.result.already_done += 1
        self.log.write("unit-already-done", module=self.result.module, unit=unit, name=name)
        if self.ctx.what_if:
            self.ctx.reporter.record("WhatIf", {"unit": unit, "name": name, "action": "AlreadyDone"})

    def skip(self, reason: str) -> None:
        self.result.status = "Skipped"
        self.result.reason = reason
