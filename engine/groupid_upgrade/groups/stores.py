"""The target's side of a groups request: its Active Directory stores, the prerequisite (R13), and the
directories of the answer file that serve them."""

from __future__ import annotations

from typing import Any

from ..errors import EngineError
from ..model.settings import AnswerFile, Credential, DirectorySettings
from ..target import schema as t
from ..target.writer import TargetInstallation
from .pipeline import StoreInfo


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
        finished = target.ledger.ended_modules()
        missing = [m for m in ("Configuration", "History") if m not in finished]
        if not missing:
            for store in stores:
                if store.origin == "Upgraded" and not target.ledger.is_done(f"History/store:{store.id}"):
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


