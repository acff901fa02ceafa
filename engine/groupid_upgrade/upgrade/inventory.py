"""Counting what a source installation holds (the first part of the Plan)."""

from __future__ import annotations

from ..model.plan import Inventory, StoreInventory
from ..source.installation import SourceInstallation, SynchronizeContent


def take_inventory(source: SourceInstallation, sync: SynchronizeContent) -> Inventory:
    stores = source.identity_stores()
    groups = source.group_counts_by_store()
    history = source.history_counts_by_store()
    return Inventory(
        identity_stores=len(stores),
        enabled_identity_stores=sum(1 for s in stores if s.enabled),
        messaging_providers=sum(1 for s in stores if s.messaging is not None),
        jobs=len(sync.jobs),
        job_collections=len(sync.collections),
        job_templates=len(sync.templates),
        job_collection_templates=len(sync.collection_templates),
        jobs_in_collections=sum(len(c.jobs) for c in sync.collections),
        unreadable_job_files=len(sync.problems),
        schedules=len(source.schedules()),
        reports=len(source.reports()),
        managed_groups=sum(groups.values()),
        history_rows=sum(history.values()),
        stores=[
            StoreInventory(
                id=s.id, name=s.name, type=s.type.value, domain=s.domain, enabled=s.enabled,
                messaging=s.messaging.type.value if s.messaging else None,
                managed_groups=groups.get(s.id, 0), history_rows=history.get(s.id, 0),
            )
            for s in stores
        ],
    )
