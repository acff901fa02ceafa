"""The one place where the planner's units become typed operations: each unit kind and its class."""

from __future__ import annotations

from ..planning.planner import Unit
from . import units as u
from .base import Operation
from .history import HistoryStoreOperation


def operation_for(unit: Unit) -> Operation:
    """The typed operation of a unit (``KeyError`` for a kind no operation exists for: a planner bug)."""
    p = unit.payload
    base = Operation.base_fields(unit)
    kind = unit.kind
    if kind == "store":
        return u.StoreOperation(**base, store=p["store"], entra=p["entra"], entra_question=p["entraQuestion"])
    if kind == "messaging":
        return u.MessagingOperation(**base, provider=p["provider"], store_id=p["storeId"], o365=p["o365"])
    if kind == "setting":
        return u.SettingOperation(**base, setting=p["name"], value=p["value"])
    if kind == "approver":
        return u.ApproverOperation(**base, approver=p["approver"], fixed=p["fixed"])
    if kind == "datasource":
        return u.DataSourceOperation(**base, data_source_id=p["dataSourceId"],
                                     connection_string=p["connectionString"], provider=p["provider"])
    if kind == "file":
        return u.ReplicationFileOperation(**base, relative=p["relative"])
    if kind == "folder":
        return u.PasswordListFolderOperation(**base, relative=p["relative"])
    if kind == "new-store":
        account = p["serviceAccount"]
        return u.NewStoreOperation(**base, store_id=p["storeId"], root=p["root"], domains=list(p["domains"]),
                                   credential=account["credential"], password_from_job=account.get("passwordFromJob"),
                                   jobs_by_id=dict(p["jobsById"]))
    if kind == "job":
        return u.JobOperation(**base, job=p["job"], store_id=p["storeId"], o365=p["o365"],
                              o365_question=p["o365Question"])
    if kind == "collection":
        return u.CollectionOperation(**base, collection=p["collection"], store_id=p["storeId"],
                                     job_stores=dict(p["jobStores"]), o365=dict(p["o365"]))
    if kind == "job-file":
        return u.JobFileOperation(**base)
    if kind == "schedule":
        return u.ScheduleOperation(**base, schedule=p["schedule"], store_id=p["storeId"], new_name=p["newName"],
                                   job_type=p["jobType"], jobs=list(p["jobs"]), collections=list(p["collections"]))
    if kind == "new-schedule":
        return u.NewScheduleOperation(**base, store_id=p["storeId"], schedule_name=p["name"])
    if kind == "report":
        return u.ReportOperation(**base, report=p["report"], store_id=p["storeId"])
    if kind == "history":
        return HistoryStoreOperation(**base, store_id=p["storeId"], store_name=p["storeName"], rows=p["rows"])
    raise KeyError(f"no operation for unit kind {kind!r} ({unit.key})")
