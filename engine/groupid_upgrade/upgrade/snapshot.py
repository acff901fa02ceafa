"""Reading what the planner needs from the source, once, into a ``SourceSnapshot``."""

from __future__ import annotations

from ..planning.planner import SourceSnapshot
from ..source import schema
from ..source.installation import SourceInstallation, SynchronizeContent


def take_snapshot(source: SourceInstallation, sync: SynchronizeContent) -> SourceSnapshot:
    lay = source.layout
    data_sources: list[str] = []
    scripts: list[tuple[str, str]] = []
    for group in source.managed_groups():
        if group.data_source_connection_string:
            data_sources.append(group.data_source_connection_string)
        if group.script:
            scripts.append((group.name, group.script))
    replication = sorted(p.name for p in lay.replication_attributes.glob("*.xml")) \
        if lay.replication_attributes.is_dir() else []
    exceptions = sorted(p.name for p in lay.password_exception_lists.iterdir() if p.is_dir()) \
        if lay.password_exception_lists.is_dir() else []
    portals: list[str] = []
    for folder in (lay.self_service_portals, lay.password_center_portal, lay.password_center_helpdesk):
        if folder.is_dir():
            portals.extend(p.name for p in sorted(folder.iterdir()) if p.is_dir())
    settings = {name: source.setting(name) or "" for name in (
        schema.SETTING_PRODUCT_VERSION, schema.SETTING_SERVER_DOMAIN, schema.SETTING_REPLICATION_LOG_LEVEL,
        schema.SETTING_DATA_LOG_LEVEL)}
    return SourceSnapshot(
        version=source.version,
        product_version=settings[schema.SETTING_PRODUCT_VERSION],
        server_domain=settings[schema.SETTING_SERVER_DOMAIN] or None,
        stores=source.identity_stores(),
        jobs=sync.jobs,
        collections=sync.collections,
        templates=sync.templates,
        collection_templates=sync.collection_templates,
        job_file_problems=[(p.file, p.error) for p in sync.problems],
        schedules=source.schedules(),
        reports=source.reports(),
        approvers=source.workflow_approvers(),
        settings=settings,
        smart_group_data_sources=data_sources,
        smart_group_scripts=scripts,
        replication_files=replication,
        password_exception_folders=exceptions,
        portals=portals,
    )
