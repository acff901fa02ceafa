"""``groupid-upgrade status``: what a target holds, read only (alembic's ``current``/``history`` for a target).

Runs come from ``Upg.Run`` (and ``Upg.RunStop`` for those that stopped early); done units from
the ledger; failed units and the last error of each module from the run log (the ledger keeps only
what is done); pending units are the current plan's units neither done nor failed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from pydantic import Field

from ..errors import EngineError
from ..model.base import Result, WireModel
from ..model.plan import Plan
from ..model.settings import AnswerFile
from ..planning.planner import Unit
from ..reporting import Reporter
from ..storage.sql import Database, Table, table_name
from ..target import schema as t
from ..target.writer import GROUP_UNIT_PREFIX, TargetInstallation


class RunSummary(WireModel):
    run_id: str
    started_on: str
    finished_on: str | None = None
    status: str = Field(description="Succeeded, PartiallySucceeded, Failed, Cancelled, Interrupted, or "
                                    "NotFinished (still running, or the process was killed).")
    modules: list[str]
    stopped_by: str | None = Field(None, description="Who or what stopped a run that did not reach its end.")
    error_id: str | None = None


class UnitKindStatus(WireModel):
    module: str
    kind: str
    done: int
    failed: int
    pending: int


class ModuleError(WireModel):
    module: str
    time: str | None = None
    unit: str | None = None
    name: str | None = None
    error_id: str
    message: str


class OutboxStore(WireModel):
    identity_store_id: int
    documents: int


class StatusReport(Result):
    target: str
    exists: bool = Field(description="False: no run has written this target yet.")
    runs: list[RunSummary] = Field(default_factory=list)
    units: list[UnitKindStatus] = Field(default_factory=list, description="Against the current plan.")
    groups_upgraded: int = 0
    outbox: list[OutboxStore] = Field(default_factory=list, description="History waiting for Elasticsearch.")
    last_errors: list[ModuleError] = Field(default_factory=list)
    log_path: str
    plan_error: dict[str, Any] | None = Field(None, description="Why the current plan could not be computed "
                                                                  "(pending is then unknown).")


def _rows(db: Database, table: Table, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    if not db.has_table(table.name):
        return []
    schema_name, _, tbl = table.name.partition(".")
    return list(db.execute(f"SELECT {', '.join(columns)} FROM {table_name(schema_name, tbl, db.dialect)}").fetchall())


def read_runs(db: Database) -> list[RunSummary]:
    stops = {row[0]: row for row in _rows(db, t.RUN_STOP, ("RunId", "Status", "StoppedBy", "ErrorId"))}
    runs = []
    for run_id, started, finished, modules, status in _rows(
            db, t.RUN, ("RunId", "StartedOn", "FinishedOn", "Modules", "Status")):
        stop = stops.get(run_id)
        runs.append(RunSummary(run_id=run_id, started_on=str(started), finished_on=None if finished is None
                               else str(finished), status=status or "NotFinished",
                               modules=[m for m in str(modules).split(",") if m],
                               stopped_by=stop[2] if stop else None, error_id=stop[3] if stop else None))
    runs.sort(key=lambda r: r.started_on)
    return runs


def read_log(path: Path) -> tuple[dict[str, str], dict[str, ModuleError]]:
    """From the run log: the last outcome event of each unit key, and the last error of each module."""
    last_event: dict[str, str] = {}
    errors: dict[str, ModuleError] = {}
    if not path.is_file():
        return last_event, errors
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash: the rest of the log still counts
            if not isinstance(entry, dict):
                continue
            event = entry.get("event")
            if event in ("unit-done", "unit-failed", "unit-already-done") and entry.get("unit"):
                last_event[entry["unit"]] = event
            if event in ("unit-failed", "run-failed") and entry.get("errorId"):
                module = entry.get("module") or str(entry.get("unit") or "run").split("/")[0]
                errors[module] = ModuleError(module=module, time=entry.get("time"), unit=entry.get("unit"),
                                             name=entry.get("name"), error_id=entry["errorId"],
                                             message=entry.get("message") or "")
    return last_event, errors


def unit_counts(units: list[Unit], done: set[str], last_event: dict[str, str]) -> list[UnitKindStatus]:
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for unit in units:
        state = "done" if unit.key in done else "failed" if last_event.get(unit.key) == "unit-failed" else "pending"
        counts[(unit.module, unit.kind)][state] += 1
    return [UnitKindStatus(module=module, kind=kind, done=c["done"], failed=c["failed"], pending=c["pending"])
            for (module, kind), c in counts.items()]


def target_status(answers: AnswerFile, reporter: Reporter) -> StatusReport:
    from .plan_method import compute_blueprint
    from .run_method import RUNNABLE_MODULES

    target = TargetInstallation(answers.target, read_only=True)
    try:
        log_path = target.log_path() if target.layout is not None else _log_path_without_target(answers)
        db = target.db
        exists = db is not None and db.has_table(t.LEDGER.name)
        report = StatusReport(target=db.display_name if db is not None else f"target database "
                              f"{getattr(answers.target.database, 'path', '')}", exists=exists,
                              log_path=str(log_path))
        done: set[str] = set()
        if exists and db is not None:
            report.runs = read_runs(db)
            done = target.done_units()
            schema_name, _, tbl = t.LEDGER.name.partition(".")
            report.groups_upgraded = int(db.scalar(
                f"SELECT COUNT(*) FROM {table_name(schema_name, tbl, db.dialect)} WHERE UnitKey LIKE ?",
                (GROUP_UNIT_PREFIX + "%",)))
            if db.has_table(t.SEARCH_OUTBOX.name):
                report.outbox = [OutboxStore(identity_store_id=int(k), documents=v) for k, v in
                                 sorted(db.count_by(t.SEARCH_OUTBOX.name, "IdentityStoreId").items())]
        last_event, errors = read_log(Path(log_path))
        report.last_errors = [errors[m] for m in sorted(errors)]
        try:
            blueprint = compute_blueprint(answers, reporter, available=RUNNABLE_MODULES)
        except EngineError as error:
            report.plan_error = error.to_error_object()
        else:
            report.units = unit_counts(blueprint.units, done, last_event)
        return report
    finally:
        target.close()


def _log_path_without_target(answers: AnswerFile) -> Path:
    from ..run_log import RUN_LOG_NAME

    if answers.target.log_folder is not None:
        return Path(answers.target.log_folder) / RUN_LOG_NAME
    base = answers.target.program_data or answers.target.program_files or Path(
        str(getattr(answers.target.database, "path", "."))).parent
    return Path(base) / "Upgrade Tool" / RUN_LOG_NAME


# --- "already done" in the plan -----------------------------------------------------------------------------
# unit kind -> the plan item's objectType (the planner names items and units separately)
KIND_OBJECT_TYPES = {
    "store": "IdentityStore", "new-store": "IdentityStore", "messaging": "MessagingProvider",
    "approver": "WorkflowApprover", "setting": "Setting", "datasource": "DataSource",
    "file": "ReplicationAttributes", "folder": "PasswordExceptionList", "job": "SyncJob",
    "collection": "JobCollection", "schedule": "Schedule", "new-schedule": "Schedule", "report": "Report",
    "history": "History", "job-file": "SyncJob",
}


def item_key(unit: Unit) -> tuple[str, str, str]:
    """The (module, objectType, objectId) of the plan item a unit carries out."""
    object_id = str(unit.payload["storeId"]) if unit.kind == "new-store" else unit.key.split("/", 1)[1].split(":", 1)[1]
    return unit.module, KIND_OBJECT_TYPES.get(unit.kind, unit.kind), object_id


def mark_already_done(plan: Plan, units: list[Unit], done: set[str]) -> int:
    """Set ``alreadyDone`` on each plan item whose unit the target's ledger holds; the count marked."""
    done_items = {item_key(u) for u in units if u.key in done}
    marked = 0
    for item in plan.items:
        if item.action != "skip" and (item.module, item.object_type, item.object_id) in done_items:
            item.already_done = True
            marked += 1
    return marked


def done_units_of(answers: AnswerFile) -> set[str]:
    """The ledger of the answer file's target, read only; empty when there is no target yet."""
    target = TargetInstallation(answers.target, read_only=True)
    try:
        return target.done_units()
    finally:
        target.close()
