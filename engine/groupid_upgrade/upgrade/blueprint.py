"""The Plan and its units for an answer file: the source read, the facts gathered, then pure planning;
and the plan's items marked with what the target's ledger already holds."""

from __future__ import annotations

from ..model.plan import Plan
from ..model.settings import MODULES, AnswerFile
from ..planning.modules import resolve_modules
from ..planning.planner import Blueprint, Facts, Unit, build_plan
from ..planning.versions import check_upgrade_path
from ..reporting import Reporter
from ..source.installation import SourceInstallation
from ..target.writer import TargetInstallation
from .facts import gather_facts
from .inventory import take_inventory
from .snapshot import take_snapshot


def compute_blueprint(answers: AnswerFile, reporter: Reporter, *, available: tuple[str, ...] = MODULES
                      ) -> Blueprint:
    """The Plan and its units. Planning is pure; what it needs from servers is gathered first."""
    # R1 first: nothing of the source is read for an unsupported pair.
    source_version, target_version = check_upgrade_path(answers.source.version, answers.target.version)
    modules = resolve_modules(answers.modules, available=available)
    reporter.progress("plan", "Planning the upgrade", "Reading the source", 0, 4)
    with SourceInstallation(answers.source) as source:
        sync = source.synchronize()
        reporter.progress("plan", "Planning the upgrade", "Counting", 1, 4)
        inventory = take_inventory(source, sync)
        snapshot = take_snapshot(source, sync)
    reporter.progress("plan", "Planning the upgrade", "Checking credentials and forests", 2, 4)
    first = build_plan(snapshot, answers, Facts(), modules, source_version, target_version, inventory)
    facts = gather_facts(answers, first, reporter)
    blueprint = build_plan(snapshot, answers, facts, modules, source_version, target_version, inventory)
    reporter.progress("plan", "Planning the upgrade", "Done", 4, 4, completed=True)
    return blueprint


def compute_plan(answers: AnswerFile, reporter: Reporter) -> Plan:
    return compute_blueprint(answers, reporter).plan


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
        return target.ledger.done_keys()
    finally:
        target.close()
