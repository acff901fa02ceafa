"""The one executor: walks the Plan's operations module by module, through the ledger (R12, R15, R16).

For each operation: already in the ledger -> AlreadyDone; its plan-time error or a prerequisite not done
-> Failed; else ``prepare`` (a failure there -> Failed); then, unless this is a what-if, ``commit``. A
what-if runs exactly this path and stops before ``commit``, so its outcomes, counts and events are those
the run would have; it only adds a ``WhatIf`` record per unit (``WouldWrite``, ``WouldFail``,
``AlreadyDone``). Errors that say the target cannot be written at all stop the run (every next unit would
fail the same way); its ledger is consistent and the next run resumes.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..errors import Cancelled, EngineError
from ..planning.planner import Unit
from ..run_log import RunLog
from .base import Operation, RunContext
from .catalog import operation_for
from .groups import run_groups_module
from .history import HistoryRecheck, drain_outbox, outbox_pending
from .module_run import ModuleRun
from .results import ModuleResult, RunResult, module_status, overall_status

RUN_STOPPING_ERRORS = frozenset({"TargetLocked", "TargetWriteFailed", "TargetInUse"})


class Executor:
    def __init__(self, ctx: RunContext, log: RunLog) -> None:
        self.ctx = ctx
        self.log = log
        self._run_started = False

    def run(self) -> RunResult:
        ctx = self.ctx
        operations = [(unit, operation_for(unit)) for unit in ctx.blueprint.units]
        ctx.done = ctx.ledger.done_keys()
        modules = ctx.blueprint.plan.modules
        results: list[ModuleResult] = []
        log = self.log
        try:
            _ = ctx.target_box  # the target passphrase is verified (or set) before anything else
            if not ctx.what_if:
                interrupted = ctx.ledger.start_run(ctx.run_id, modules)
                self._run_started = True
                for run_id in interrupted:
                    log.write("run-closed-as-interrupted", interruptedRunId=run_id)
            log.write("run-started", modules=modules, whatIf=ctx.what_if)
            self._log_plan()
            total = len(operations)
            position = 0
            for module in modules:
                module_ops = [(u, op) for u, op in operations if u.module == module]
                run = ModuleRun(ctx, log, module)
                log.write("module-started", module=module, units=len(module_ops))
                if module == "History":
                    self._history_before(run, [u for u, _ in module_ops])
                if module == "Groups":  # no planned units: the groups come from the directory (R13)
                    run_groups_module(ctx, run)
                for index, (unit, op) in enumerate(module_ops, start=1):
                    position += 1
                    ctx.reporter.check_cancelled("the upgrade")
                    ctx.reporter.progress("upgrade", "Upgrading GroupID", f"{module}: {unit.name}", position, total)
                    ctx.reporter.progress(f"upgrade/{module}", module, unit.name, index - 1, len(module_ops),
                                          parent_activity_id="upgrade")
                    self._run_operation(op, run)
                if module_ops:
                    ctx.reporter.progress(f"upgrade/{module}", module, "Done", len(module_ops), len(module_ops),
                                          parent_activity_id="upgrade", completed=True)
                result = run.result
                if module == "History" and ctx.target.db is not None:
                    result.notes = self._history_notes()
                if result.status != "Skipped":
                    result.status = module_status(result)
                else:
                    log.write("module-skipped", module=module, reason=result.reason)
                results.append(result)
                log.write("module-finished", module=module, status=result.status, done=result.done,
                          alreadyDone=result.already_done, failed=result.failed)
                ctx.reporter.record("ModuleResult", result.wire())
            status = overall_status(results)
            if not ctx.what_if:
                ctx.ledger.end_run(ctx.run_id, status)
            log.write("run-finished", status=status, modules=len(results))
            ctx.reporter.progress("upgrade", "Upgrading GroupID", "Done", total, total, completed=True)
        except Cancelled:
            self._stopped("run-cancelled", "Cancelled", ctx.reporter.cancelled_by or "the caller")
            raise
        except KeyboardInterrupt:
            self._stopped("run-interrupted", "Interrupted", f"{_user()} (Ctrl+C)")
            raise
        except EngineError as error:
            self._stopped("run-failed", "Failed", None, error)
            raise
        except Exception as exc:
            self._stopped("run-interrupted", "Interrupted", f"an unexpected {type(exc).__name__}")
            raise
        return RunResult(run_id=ctx.run_id, status=status, what_if=ctx.what_if, modules=results,
                         log_path=str(ctx.target.log_path()))

    # --- one operation ---------------------------------------------------------------------------------
    def _run_operation(self, op: Operation, module: ModuleRun) -> None:
        ctx = self.ctx
        if op.key in ctx.done:
            module.already_done(op.key, op.name)
            return
        error = op.plan_error
        if error is None:
            missing = [r for r in op.requires if r not in ctx.done]
            if missing:
                error = EngineError("PrerequisiteNotMet", f"{op.name} needs {', '.join(missing)}, which was not "
                                    "upgraded.", target=op.key,
                                    recommended_action="Fix the failed item it depends on, then run again.")
        if error is None:
            try:
                prepared = op.prepare(ctx)
                if not ctx.what_if:
                    op.commit(ctx, prepared)
            except EngineError as exc:
                if exc.error_id in RUN_STOPPING_ERRORS:
                    raise  # not this unit's fault: every next unit would fail the same way
                error = exc
        if error is not None:
            module.fail(op.key, op.name, error)
            return
        ctx.done.add(op.key)  # in a what-if too: what depends on it is shown as it would run
        module.done(op.key, op.name)

    # --- History: the outbox first, then the stores done earlier checked again -----------------------
    def _history_before(self, module: ModuleRun, units: list[Unit]) -> None:
        ctx = self.ctx
        if ctx.search is None:
            return
        try:
            if outbox_pending(ctx):
                sent = drain_outbox(ctx)
                self.log.write("outbox-drained", documents=sent, whatIf=ctx.what_if)
        except EngineError as error:
            module.fail("History/outbox", "history kept for Elasticsearch", error)
        for unit in units:
            if unit.key not in ctx.done:
                continue
            recheck = HistoryRecheck(key=unit.key, name=unit.payload["storeName"], store_id=unit.payload["storeId"])
            try:
                recheck.run(ctx)
            except EngineError as error:
                module.fail(unit.key, unit.name, error)

    def _history_notes(self) -> list[str]:
        from ..target import schema as target_schema

        db = self.ctx.target.db
        assert db is not None
        if not db.has_table(target_schema.HISTORY.name):
            return []
        rows = db.count(target_schema.HISTORY.name)
        waiting = db.count(target_schema.SEARCH_OUTBOX.name)
        notes = [f"{rows:,} history rows in the target database"]
        if waiting:
            notes.append(f"{waiting:,} history documents wait in the outbox: a run with target.elasticsearch in the "
                         "answer file sends them")
        return notes

    # --- the log -----------------------------------------------------------------------------------------
    def _log_plan(self) -> None:
        """What the plan said before anything ran: its warnings and the items it skips, with why."""
        plan = self.ctx.blueprint.plan
        for warning in plan.warnings:
            self.log.write("plan-warning", module=warning.module, message=warning.message,
                           objectName=warning.object_name)
        for item in plan.items:
            if item.action == "skip":
                self.log.write("item-skipped", module=item.module, objectType=item.object_type,
                               objectId=item.object_id, name=item.name, reason=item.reason)

    def _stopped(self, event: str, status: str, by: str | None, error: EngineError | None = None) -> None:
        """A run that did not reach its end says so: in the log and in its Upg.Run row (status shows it)."""
        fields: dict[str, Any] = {"status": status}
        if by:
            fields["by"] = by
        if error is not None:
            fields.update(errorId=error.error_id, message=error.message)
        self.log.write(event, **fields)
        if not self._run_started:  # stopped before its Upg.Run row (a wrong passphrase): the log says it
            return
        # The reason the run stopped is the error to report, not a failure to record it.
        with contextlib.suppress(Exception):
            self.ctx.ledger.stop_run(self.ctx.run_id, status, by, error.error_id if error else None)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name (no USER, no passwd entry) must not hide why the run stopped
        return "the user"
