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
from ..model.settings import AnswerFile
from ..planning.planner import Unit
from ..reporting import Reporter
from ..target import schema as t
from ..target.ledger import GROUP_UNIT_PREFIX, Ledger
from ..target.writer import TargetInstallation
from .blueprint import compute_blueprint


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


def read_runs(ledger: Ledger) -> list[RunSummary]:
    return [RunSummary(run_id=run.run_id, started_on=run.started_on, finished_on=run.finished_on,
                       status=run.status or "NotFinished", modules=run.modules, stopped_by=run.stopped_by,
                       error_id=run.error_id) for run in ledger.runs()]


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
    target = TargetInstallation(answers.target, read_only=True)
    try:
        log_path = target.log_path()
        db = target.db
        exists = db is not None and db.has_table(t.LEDGER.name)
        report = StatusReport(target=db.display_name if db is not None else f"target database "
                              f"{getattr(answers.target.database, 'path', '')}", exists=exists,
                              log_path=str(log_path))
        done: set[str] = set()
        if exists and db is not None:
            report.runs = read_runs(target.ledger)
            done = target.ledger.done_keys()
            report.groups_upgraded = target.ledger.count_like(GROUP_UNIT_PREFIX)
            if db.has_table(t.SEARCH_OUTBOX.name):
                report.outbox = [OutboxStore(identity_store_id=int(k), documents=v) for k, v in
                                 sorted(db.count_by(t.SEARCH_OUTBOX.name, "IdentityStoreId").items())]
        last_event, errors = read_log(Path(log_path))
        report.last_errors = [errors[m] for m in sorted(errors)]
        try:
            blueprint = compute_blueprint(answers, reporter)
        except EngineError as error:
            report.plan_error = error.to_error_object()
        else:
            report.units = unit_counts(blueprint.units, done, last_event)
        return report
    finally:
        target.close()
