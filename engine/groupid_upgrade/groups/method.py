"""``group.upgrade`` (Update-GroupIDGroup / Upgrade-Group) and the Groups module of ``upgrade.run`` (R13).

Order of a request: parameters checked (pure), then the prerequisite read from the target's ledger
(no directory is contacted before it holds), then the stores and their directories, then the groups.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field, field_validator

from ..api import MethodSpec
from ..errors import EngineError
from ..model.base import Result
from ..model.settings import AnswerFile, Credential, DirectorySettings
from ..reporting import Reporter
from ..safety.paths import source_guard
from ..storage.sql import table_name
from ..target import schema as t
from ..target.writer import TargetInstallation
from ..upgrade.plan_method import SettingsParams, load_settings
from . import selection as sel
from .pipeline import GroupPipeline, StoreInfo, Summary, history_of_groups

RequestStatus = Literal["Succeeded", "PartiallySucceeded", "Failed"]


class GroupUpgradeParams(SettingsParams):
    """The parameters of the vendor's Upgrade-Group, camelCase; target and directories from the settings."""

    identity_store_id: int | None = Field(None, description="The identity store of the target whose groups to "
                                                            "upgrade; default: every AD store with a directory.")
    identity: list[str] | None = Field(None, description="Groups by DN, objectGUID, CN, name or sAMAccountName.")
    search_container: list[str] | None = Field(None, description="Containers (DNs) to search for groups.")
    search_container_scope_list: list[int | str] | None = Field(
        None, description="Per container: 1 this container only, 2 subtree (default); one value applies to all.",
        json_schema_extra={"aliases": ["searchContainersScopeList"]})
    group_type: list[int | str] | None = Field(None, description="1 non-managed, 2 Smart Group, 3 parent Dynasty, "
                                                                 "6 password-expiry Smart Group (4 and 5 refused).")
    keep_user_history: bool = Field(False, description="Also upgrade the history of the groups.")
    credential: Credential | None = Field(None, description="Binds to the directories instead of the answer "
                                                            "file's credentials.")
    what_if: bool = Field(False, description="Read and convert, write nothing; one record per group it would upgrade.")
    extension_data_attributes: list[str] | None = Field(None, description="The attribute holding the definitions "
                                                                          "when not extensionData.")
    group_id_version: int | float | str | None = Field(None, description="9, 10, \"9.0\" or \"10.0\": the version "
                                                                         "of definitions that do not name theirs.")

    @field_validator("identity", "search_container", "search_container_scope_list", "group_type",
                     "extension_data_attributes", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | int) else value


class GroupUpgradeResult(Result):
    status: RequestStatus
    what_if: bool = False
    selected: int = 0
    upgraded: int = 0
    already_upgraded: int = 0
    skipped: int = 0
    failed: int = 0
    would_upgrade: int = 0
    history_rows: int | None = None


def selection_of(params: GroupUpgradeParams) -> sel.Selection:
    """The request's selection (pure; every parameter error is raised here, before any I/O)."""
    identities = tuple(i.strip() for i in params.identity or [] if i and i.strip())
    containers = sel.containers(params.search_container, params.search_container_scope_list)
    types = sel.group_types(params.group_type)
    if not identities and not containers and not params.group_type:
        types = sel.MANAGED_TYPES  # a whole domain: its managed groups, never every built-in group
    return sel.Selection(
        identities=identities,
        containers=containers,
        group_types=types,
        data_attributes=sel.data_attributes(params.extension_data_attributes),
        source_version=sel.source_version(params.group_id_version),
        keep_user_history=params.keep_user_history,
        what_if=params.what_if,
        named_types=bool(params.group_type),
    )


# --- the target: prerequisite and stores -------------------------------------------------------------
def _rows(target: TargetInstallation, table: Any, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    db = target.db
    if db is None or not db.has_table(table.name):
        return []
    return list(db.select_all(table.name, columns, table.key))


def target_stores(target: TargetInstallation) -> list[StoreInfo]:
    """The enabled Active Directory stores of the target, with every domain each serves."""
    stores = []
    for sid, name, stype, domain, forest, enabled, origin in _rows(
            target, t.IDENTITY_STORE, ("IdentityStoreId", "Name", "StoreType", "DomainName", "ForestDomains",
                                       "IsEnabled", "Origin")):
        if stype != "ActiveDirectory" or not enabled:
            continue
        domains = [d.strip().rstrip(".").lower() for d in (forest or "").split(",") if d.strip()]
        root = domain.strip().rstrip(".").lower()
        stores.append(StoreInfo(id=int(sid), name=name, domains=[root, *[d for d in domains if d != root]],
                                origin=origin))
    return stores


def check_prerequisite(target: TargetInstallation, stores: list[StoreInfo]) -> None:
    """R13: Configuration and History upgraded in this target (its ledger and runs say so)."""
    missing: list[str] = []
    db = target.db
    if db is None or not db.has_table(t.RUN.name):
        missing = ["Configuration", "History"]
        where = "the target database, which does not exist yet,"
    else:
        where = db.display_name
        runs = db.execute(f"SELECT Modules, Status FROM {table_name('Upg', 'Run', db.dialect)} "
                          "WHERE FinishedOn IS NOT NULL").fetchall()
        finished = {m for modules, status in runs if status in ("Succeeded", "PartiallySucceeded")
                    for m in str(modules).split(",")}
        missing = [m for m in ("Configuration", "History") if m not in finished]
        if not missing:
            for store in stores:
                if store.origin == "Upgraded" and not target.unit_done(f"History/store:{store.id}"):
                    missing.append(f"History of identity store {store.name} ({store.id})")
    if missing:
        raise EngineError(
            "PrerequisiteNotMet",
            f"Upgrade-Group needs {' and '.join(missing)} upgraded in the target first ({where} does not show "
            "it); no group was read or changed.",
            target="target", extra={"missing": missing},
            recommended_action="Run the upgrade with the Configuration and History modules first "
                               "(groupid-upgrade run --answer-file FILE), then upgrade the groups.")


def directories_for(answers: AnswerFile, stores: list[StoreInfo], credential: Credential | None
                    ) -> dict[str, DirectorySettings]:
    out: dict[str, DirectorySettings] = {}
    for store in stores:
        for domain in store.domains:
            settings = answers.directories.get(domain)
            if settings is not None:
                out[domain] = settings.model_copy(update={"credential": credential}) if credential else settings
    return out


def request_status(summary: Summary) -> RequestStatus:
    if summary.failed == 0:
        return "Succeeded"
    return "Failed" if summary.failed == summary.selected else "PartiallySucceeded"


def search_client(answers: AnswerFile) -> tuple[Any, str]:
    settings = answers.target.elasticsearch
    if settings is None:
        return None, "groupid11"
    from ..storage.search import SearchClient

    return SearchClient(settings.url, settings.user_name, settings.password,
                        str(settings.ca_file) if settings.ca_file else None, max_retries=settings.max_retries,
                        initial_backoff=settings.initial_backoff_seconds), settings.index_prefix


# --- group.upgrade ---------------------------------------------------------------------------------------
def upgrade_groups(answers: AnswerFile, params: GroupUpgradeParams, reporter: Reporter) -> GroupUpgradeResult:
    selection = selection_of(params)
    target = TargetInstallation(answers.target, read_only=True)
    try:
        all_stores = target_stores(target)
        check_prerequisite(target, all_stores)
    finally:
        target.close()
    stores = all_stores
    if params.identity_store_id is not None:
        stores = [s for s in all_stores if s.id == params.identity_store_id]
        if not stores:
            raise EngineError("IdentityStoreNotFound", f"identityStoreId {params.identity_store_id} is no enabled "
                              "Active Directory identity store of the target; its stores are "
                              f"{', '.join(f'{s.id} ({s.name})' for s in all_stores) or 'none'}.",
                              target="identityStoreId", recommended_action="Give the id of one of those stores.")
    directories = directories_for(answers, stores, params.credential)
    if not directories:
        raise EngineError("DirectoryNotConfigured", "No directory of the selected identity store(s) "
                          f"({', '.join(d for s in stores for d in s.domains)}) is in the answer file's directories.",
                          target="directories", recommended_action="Add the domain controller of the store's domain "
                          "under directories: {\"<domain>\": {\"url\": \"ldaps://...\", ...}}.")
    for dn, _scope in selection.containers:
        if sel.dn_domain(dn) not in directories:
            raise EngineError("DirectoryNotConfigured", f"searchContainer {dn} is in {sel.dn_domain(dn)}, which is no "
                              "directory of the selected identity store(s) in the answer file.", target=dn,
                              recommended_action="Add that domain under directories, or give its identityStoreId.")
    target = TargetInstallation(answers.target, read_only=selection.what_if, guard=source_guard(answers))
    search, prefix = (None, "groupid11") if selection.what_if else search_client(answers)
    try:
        pipeline = GroupPipeline(answers, target, stores, selection, reporter, run_id=str(uuid.uuid4()),
                                 directories=directories, search=search,
                                 index_prefix=prefix)
        summary = pipeline.run()
        history_rows: int | None = None
        if selection.keep_user_history and not selection.what_if:
            counts = history_of_groups(answers, target, stores, summary.upgraded_groups, reporter, search=search,
                                       index_prefix=prefix)
            for dn, rows in sorted(counts.items()):
                reporter.record("GroupHistory", {"distinguishedName": dn, "historyRows": rows})
            history_rows = sum(counts.values())
    finally:
        target.close()
        if search is not None:
            search.close()
    return GroupUpgradeResult(status=request_status(summary), what_if=selection.what_if, selected=summary.selected,
                              upgraded=summary.upgraded, already_upgraded=summary.already_upgraded,
                              skipped=summary.skipped, failed=summary.failed, would_upgrade=summary.would_upgrade,
                              history_rows=history_rows)


def group_upgrade_handler(params: GroupUpgradeParams, reporter: Reporter) -> GroupUpgradeResult:
    return upgrade_groups(load_settings(params, reporter), params, reporter)


GROUP_METHOD = MethodSpec(
    name="group.upgrade",
    params=GroupUpgradeParams,
    result=GroupUpgradeResult,
    handler=group_upgrade_handler,
    summary="Upgrade chosen groups (Update-GroupIDGroup / Upgrade-Group); one $/record per group.",
    supports_what_if=True,
)


# --- the Groups module of upgrade.run ----------------------------------------------------------------------
NO_DIRECTORY_REASON = ("the answer file lists no directory: the Groups module reads and writes group definitions "
                       "in Active Directory (R13); add the domain controllers under directories to upgrade groups")


def run_groups_module(executor: Any, done: set[str], result: Any, log: Any) -> None:
    """Every managed group of each enabled AD store with a directory, through the same pipeline."""
    answers: AnswerFile = executor.answers
    if not answers.directories:
        result.status = "Skipped"
        result.reason = NO_DIRECTORY_REASON
        return
    stores: list[StoreInfo] = []
    store_unit: dict[int, str] = {}
    history_unit: dict[int, str] = {}
    for unit in executor.blueprint.units:
        if unit.kind == "store" and getattr(unit.payload.get("store"), "type", None) is not None \
                and unit.payload["store"].type.value == "ActiveDirectory":
            store = unit.payload["store"]
            stores.append(StoreInfo(id=store.id, name=store.name, domains=[store.domain.strip().rstrip(".").lower()]))
            store_unit[store.id] = unit.key
        elif unit.kind == "new-store":
            domains = [unit.payload["root"], *[d for d in unit.payload["domains"] if d != unit.payload["root"]]]
            stores.append(StoreInfo(id=unit.payload["storeId"], name=unit.name, domains=domains, origin="Created"))
            store_unit[unit.payload["storeId"]] = unit.key
        elif unit.kind == "history":
            history_unit[unit.payload["storeId"]] = unit.key
    ready: list[StoreInfo] = []
    for store in stores:
        if not any(d in answers.directories for d in store.domains):
            continue
        missing = [k for k in (store_unit.get(store.id), history_unit.get(store.id)) if k and k not in done]
        if missing:
            error = EngineError("PrerequisiteNotMet", f"The groups of {store.name} need {', '.join(missing)}, which "
                                "was not upgraded.", target=f"Groups/store:{store.id}",
                                recommended_action="Fix the failed item it depends on, then run again.")
            from ..upgrade.run_method import UnitFailure

            executor._fail(UnitFailure(unit=f"Groups/store:{store.id}", name=f"groups of {store.name}",
                                       error=error.to_error_object()), error, result, log, "Groups")
            continue
        ready.append(store)
    if not ready:
        if result.failed == 0:
            result.status = "Skipped"
            result.reason = "no enabled Active Directory identity store has its directory in the answer file"
        return
    selection = sel.Selection(group_types=sel.MANAGED_TYPES, what_if=executor.what_if)
    directories = directories_for(answers, ready, None)
    settings = answers.target.elasticsearch
    pipeline = GroupPipeline(answers, executor.target, ready, selection, executor.reporter, run_id=executor.run_id,
                             directories=directories, search=None if executor.what_if else executor.search,
                             index_prefix=settings.index_prefix if settings else "groupid11",
                             parent_activity="upgrade")
    try:
        summary = pipeline.run()
    except EngineError as error:
        from ..upgrade.run_method import UnitFailure

        executor._fail(UnitFailure(unit="Groups", name="groups", error=error.to_error_object()), error, result, log,
                       "Groups")
        return
    result.done += summary.upgraded + summary.would_upgrade
    result.already_done += summary.already_upgraded
    result.failed += summary.failed
    result.notes.append(f"{summary.upgraded + summary.would_upgrade} groups upgraded"
                        f"{' (what-if)' if executor.what_if else ''}, {summary.already_upgraded} already upgraded, "
                        f"{summary.failed} failed, {summary.skipped} skipped")
    log.write("groups-finished", upgraded=summary.upgraded, alreadyUpgraded=summary.already_upgraded,
              failed=summary.failed, skipped=summary.skipped)
