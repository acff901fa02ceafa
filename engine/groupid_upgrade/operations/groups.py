"""The Groups module of ``upgrade.run``: every managed group of each enabled AD store with a directory,
through the same pipeline as ``group.upgrade`` (R13). The groups come from the directory, not from the
Plan, so the module is one operation whose groups are prepared (read, converted) and committed (written
to AD, the index and the target with their ledger rows) by the group pipeline; a what-if runs the same
pipeline with nothing committed."""

from __future__ import annotations

from ..errors import EngineError
from ..groups import selection as sel
from ..groups.pipeline import GroupPipeline, StoreInfo
from ..groups.stores import directories_for
from .base import RunContext
from .module_run import ModuleRun

NO_DIRECTORY_REASON = ("the answer file lists no directory: the Groups module reads and writes group definitions "
                       "in Active Directory (R13); add the domain controllers under directories to upgrade groups")


def _stores_of_plan(ctx: RunContext) -> tuple[list[StoreInfo], dict[int, str], dict[int, str]]:
    stores: list[StoreInfo] = []
    store_unit: dict[int, str] = {}
    history_unit: dict[int, str] = {}
    for unit in ctx.blueprint.units:
        store = unit.payload.get("store") if unit.kind == "store" else None
        if store is not None and store.type.value == "ActiveDirectory":
            stores.append(StoreInfo(id=store.id, name=store.name, domains=[store.domain.strip().rstrip(".").lower()]))
            store_unit[store.id] = unit.key
        elif unit.kind == "new-store":
            root = unit.payload["root"]
            domains = [root, *[d for d in unit.payload["domains"] if d != root]]
            stores.append(StoreInfo(id=unit.payload["storeId"], name=unit.name, domains=domains, origin="Created"))
            store_unit[unit.payload["storeId"]] = unit.key
        elif unit.kind == "history":
            history_unit[unit.payload["storeId"]] = unit.key
    return stores, store_unit, history_unit


def run_groups_module(ctx: RunContext, module: ModuleRun) -> None:
    answers = ctx.answers
    result = module.result
    if not answers.directories:
        module.skip(NO_DIRECTORY_REASON)
        return
    stores, store_unit, history_unit = _stores_of_plan(ctx)
    ready: list[StoreInfo] = []
    for store in stores:
        if not any(d in answers.directories for d in store.domains):
            continue
        missing = [k for k in (store_unit.get(store.id), history_unit.get(store.id)) if k and k not in ctx.done]
        if missing:
            module.fail(f"Groups/store:{store.id}", f"groups of {store.name}", EngineError(
                "PrerequisiteNotMet", f"The groups of {store.name} need {', '.join(missing)}, which was not "
                "upgraded.", target=f"Groups/store:{store.id}",
                recommended_action="Fix the failed item it depends on, then run again."))
            continue
        ready.append(store)
    if not ready:
        if result.failed == 0:
            module.skip("no enabled Active Directory identity store has its directory in the answer file")
        return
    selection = sel.Selection(group_types=sel.MANAGED_TYPES, what_if=ctx.what_if)
    pipeline = GroupPipeline(answers, ctx.target, ready, selection, ctx.reporter, run_id=ctx.run_id,
                             directories=directories_for(answers, ready, None),
                             search=None if ctx.what_if else ctx.search, index_prefix=ctx.index_prefix,
                             parent_activity="upgrade")
    try:
        summary = pipeline.run()
    except EngineError as error:
        module.fail("Groups", "groups", error)
        return
    result.done += summary.upgraded + summary.would_upgrade
    result.already_done += summary.already_upgraded
    result.failed += summary.failed
    result.notes.append(f"{summary.upgraded + summary.would_upgrade} groups upgraded"
                        f"{' (what-if)' if ctx.what_if else ''}, {summary.already_upgraded} already upgraded, "
                        f"{summary.failed} failed, {summary.skipped} skipped")
    module.log.write("groups-finished", upgraded=summary.upgraded, alreadyUpgraded=summary.already_upgraded,
                     failed=summary.failed, skipped=summary.skipped)
