"""``group.upgrade`` (Update-GroupIDGroup / Upgrade-Group) and the Groups module of ``upgrade.run`` (R13).

Order of a request: parameters checked (pure), then the prerequisite read from the target's ledger
(no directory is contacted before it holds), then the stores and their directories, then the groups.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ..api import MethodSpec
from ..errors import EngineError
from ..model.base import Result
from ..model.settings import AnswerFile, Credential
from ..reporting import Reporter
from ..safety.paths import source_guard
from ..settings_params import SettingsParams, load_settings
from ..storage.connections import index_prefix, search_client
from ..target.kept import KEPT, OpenTarget
from ..target.lock import exclusive, target_lock
from ..target.writer import TargetInstallation
from . import selection as sel
from .pipeline import GroupPipeline, StoreInfo, Summary, history_of_groups
from .stores import check_prerequisite, directories_for, target_stores

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


def request_status(summary: Summary) -> RequestStatus:
    if summary.failed == 0:
        return "Succeeded"
    return "Failed" if summary.failed == summary.selected else "PartiallySucceeded"


# --- group.upgrade ---------------------------------------------------------------------------------------
def upgrade_groups(answers: AnswerFile, params: GroupUpgradeParams, reporter: Reporter) -> GroupUpgradeResult:
    selection = selection_of(params)  # parameter errors first: they need no lock
    run_id = str(uuid.uuid4())
    with exclusive(target_lock(answers.target), run_id, "group.upgrade", what_if=selection.what_if):
        return _upgrade_groups(answers, params, selection, reporter, run_id)


def _upgrade_groups(answers: AnswerFile, params: GroupUpgradeParams, selection: sel.Selection, reporter: Reporter,
                    run_id: str) -> GroupUpgradeResult:
    opened = _open_target(answers, selection.what_if)
    healthy = False
    try:
        result = _upgrade_in_target(answers, params, selection, reporter, run_id, opened)
        healthy = True
        return result
    finally:
        KEPT.release(opened, healthy=healthy)


def _open_target(answers: AnswerFile, what_if: bool) -> OpenTarget:
    """The target, opened once for the request (or kept from the last one by ``serve``: target/kept.py). A
    SQLite target that does not exist yet is not created (the prerequisite fails on it); else the write
    guard holds before the file is opened for writing, and no table is created before the prerequisite
    was read (``create_schema=False``)."""
    settings = answers.target
    if settings.database.kind == "sqlite" and not Path(settings.database.path).exists():
        return OpenTarget(TargetInstallation(settings, read_only=True))
    return KEPT.open(settings, read_only=what_if, guard=lambda: source_guard(answers), create_schema=False)


def _checked_stores(opened: OpenTarget) -> list[StoreInfo]:
    """The target's stores, the R13 prerequisite held and the schema in place; read again unless the target
    was kept and nobody else wrote it since this engine's last request."""
    stores: list[StoreInfo] | None = opened.derived.get("stores") if opened.unchanged else None
    if stores is None:
        stores = target_stores(opened.target)
        check_prerequisite(opened.target, stores)
        opened.derived["stores"] = stores
        opened.derived.pop("schema", None)
    return stores


def _upgrade_in_target(answers: AnswerFile, params: GroupUpgradeParams, selection: sel.Selection,
                       reporter: Reporter, run_id: str, opened: OpenTarget) -> GroupUpgradeResult:
    target = opened.target
    all_stores = _checked_stores(opened)
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
    if "schema" not in opened.derived:
        target.ensure_schema()
        opened.derived["schema"] = True
    es = answers.target.elasticsearch
    search = search_client(es) if es is not None and not selection.what_if else None
    prefix = index_prefix(es)
    try:
        pipeline = GroupPipeline(answers, target, stores, selection, reporter, run_id=run_id,
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
    keeps_target=True,
    summary="Upgrade chosen groups (Update-GroupIDGroup / Upgrade-Group); one $/record per group.",
    supports_what_if=True,
)
