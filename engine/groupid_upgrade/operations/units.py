"""The operations of the Configuration, Synchronize, Schedules and Reports modules: one class per unit
kind, with typed fields; ``prepare`` builds the rows (secrets re-encrypted, PFX files read) and the file
copies, each checked; the base class's ``commit`` writes them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..crypto import PREFIX as ENC_PREFIX
from ..errors import EngineError
from ..model.installation import (
    IdentityStore,
    JobCollection,
    MessagingProvider,
    Provider,
    Report,
    Schedule,
    SyncJob,
    WorkflowApprover,
)
from ..model.settings import Credential, PfxCredentials
from ..planning.planner import data_source_identity
from ..target import schema as t
from ..target.writer import as_json, pfx_columns
from .base import FileCopy, Operation, Prepared, RunContext


@dataclass
class StoreOperation(Operation):
    kind = "store"
    store: IdentityStore
    entra: PfxCredentials | None
    entra_question: str

    def prepare(self, ctx: RunContext) -> Prepared:
        store = self.store
        row = {
            "IdentityStoreId": store.id, "Name": store.name, "StoreType": store.type.value,
            "DomainName": store.domain, "IsEnabled": 1, "Origin": "Upgraded", "SourceIdentityStoreId": store.id,
            "ConnectionString": store.connection_string, "ServiceAccount": store.service_account,
            "ServiceAccountPassword": ctx.reencrypt(
                store.service_account_password.get_secret_value() if store.service_account_password else None,
                f"the service account password of {store.label}"),
            "ApplicationId": store.application_id, "Cloud": store.cloud, "PrimaryDomainName": store.primary_domain,
        }
        row.update(pfx_columns(ctx.target_box, self.entra,
                               ctx.blueprint.facts.credential_thumbprints.get(self.entra_question)))
        return Prepared(rows=[(t.IDENTITY_STORE, row)])


@dataclass
class MessagingOperation(Operation):
    kind = "messaging"
    provider: MessagingProvider
    store_id: int
    o365: PfxCredentials | None

    def prepare(self, ctx: RunContext) -> Prepared:
        provider = self.provider
        row = {
            "MessagingProviderId": provider.id, "IdentityStoreId": self.store_id,
            "ProviderType": provider.type.value, "Domain": provider.domain, "UserName": provider.user_name,
            "Password": ctx.reencrypt(provider.password.get_secret_value() if provider.password else None,
                                      f"the password of {self.name}"),
            "ApplicationId": provider.application_id, "Cloud": provider.cloud,
        }
        row.update(pfx_columns(ctx.target_box, self.o365,
                               ctx.blueprint.facts.credential_thumbprints.get(f"o365:{self.store_id}:credentials")))
        return Prepared(rows=[(t.MESSAGING_PROVIDER, row)])


@dataclass
class SettingOperation(Operation):
    kind = "setting"
    setting: str
    value: str

    def prepare(self, ctx: RunContext) -> Prepared:
        return Prepared(rows=[(t.SETTING, {"Name": self.setting, "Value": self.value})])


@dataclass
class ApproverOperation(Operation):
    kind = "approver"
    approver: WorkflowApprover
    fixed: str | None

    def prepare(self, ctx: RunContext) -> Prepared:
        a = self.approver
        return Prepared(rows=[(t.WORKFLOW_APPROVER, {
            "WorkflowApproverId": a.id, "IdentityStoreId": a.store_id, "WorkflowName": a.workflow_name,
            "ApproverKind": "Fixed", "Approver": self.fixed or a.approver, "SourceApprover": a.approver})])


@dataclass
class DataSourceOperation(Operation):
    kind = "datasource"
    data_source_id: str
    connection_string: str
    provider: str

    def prepare(self, ctx: RunContext) -> Prepared:
        text = ctx.reencrypt_connection_string(self.connection_string, f"data source {self.name}")
        return Prepared(rows=[(t.DATA_SOURCE, {"DataSourceId": self.data_source_id, "Name": self.name,
                                               "ProviderType": self.provider, "ConnectionString": text})])


@dataclass
class ReplicationFileOperation(Operation):
    kind = "file"
    relative: str

    def prepare(self, ctx: RunContext) -> Prepared:
        copy = FileCopy(ctx.source.layout.replication_attributes / self.relative,
                        ctx.target.layout.replication_attributes / self.relative, f"replication attributes {self.name}")
        copy.check()
        return Prepared(copies=[copy])


@dataclass
class PasswordListFolderOperation(Operation):
    kind = "folder"
    relative: str

    def prepare(self, ctx: RunContext) -> Prepared:
        copy = FileCopy(ctx.source.layout.password_exception_lists / self.relative,
                        ctx.target.layout.password_exception_lists / self.relative,
                        f"password exception list folder {self.name}", folder=True)
        copy.check()
        return Prepared(copies=[copy])


def _job_of(ctx: RunContext, job_id: str) -> SyncJob | None:
    for op_unit in ctx.blueprint.units:
        job = op_unit.payload.get("job")
        if job is not None and job.id == job_id:
            return job
        collection = op_unit.payload.get("collection")
        if collection is not None:
            for member in collection.jobs:
                if member.id == job_id:
                    return member
    return None


@dataclass
class NewStoreOperation(Operation):
    kind = "new-store"
    store_id: int
    root: str
    domains: list[str]
    credential: Credential
    password_from_job: str | None
    jobs_by_id: dict[str, SyncJob]

    def prepare(self, ctx: RunContext) -> Prepared:
        password = self.credential.password.get_secret_value() if self.credential.password else None
        if password is None and self.password_from_job:
            job = self.jobs_by_id.get(self.password_from_job) or _job_of(ctx, self.password_from_job)
            if job is None:
                raise EngineError("AnswerInvalid", f"passwordFromJob of forest:{self.root}:serviceAccount names "
                                  f"job {self.password_from_job}, which is not a job of this installation.",
                                  target=f"answers.forest:{self.root}:serviceAccount",
                                  recommended_action="Give the id of a job whose destination is in this forest.")
            side = job.destination if job.destination.is_directory else job.source
            from_side = side.connection.get("Password")
            password = ctx.source_box.decrypt(from_side, what=f"the password of job {job.name!r}") \
                if from_side and from_side.startswith(ENC_PREFIX) else from_side
        origin = "CreatedForReports" if self.module == "Reports" else (
            "CreatedForForest" if len(self.domains) > 1 or self.root not in self.domains else "CreatedForDomain")
        return Prepared(rows=[(t.IDENTITY_STORE, {
            "IdentityStoreId": self.store_id, "Name": self.name, "StoreType": "ActiveDirectory",
            "DomainName": self.root, "ForestDomains": ",".join(self.domains), "IsEnabled": 1, "Origin": origin,
            "ServiceAccount": self.credential.user_name,
            "ServiceAccountPassword": ctx.target_box.encrypt(password) if password else None,
        })])


def _side(ctx: RunContext, provider: Provider, store_id: int | None, what: str) -> dict[str, Any]:
    conn = ctx.reencrypt_connection(provider.connection, what)
    if provider.is_directory:
        return {"kind": "IdentityStore", "identityStoreId": store_id, "provider": provider.provider,
                "connection": conn}
    text = ";".join(f"{k}={v}" for k, v in provider.connection.items())
    ds_id = hashlib.sha256(data_source_identity(f"Provider={provider.provider};{text}").encode()).hexdigest()[:16]
    return {"kind": "DataSource", "dataSourceId": ds_id, "provider": provider.provider, "connection": conn}


def job_row(ctx: RunContext, job: SyncJob, store_id: int | None, o365: PfxCredentials | None,
            question: str) -> dict[str, Any]:
    what = f"job {job.name!r}"
    messaging = None
    if job.messaging is not None:
        messaging = {"provider": job.messaging.provider.value, "domain": job.messaging.domain}
        messaging.update(pfx_columns(ctx.target_box, o365, ctx.blueprint.facts.credential_thumbprints.get(question)))
    return {
        "JobId": job.id, "IdentityStoreId": store_id, "CollectionId": job.collection_id, "Name": job.name,
        "Kind": "JobTemplate" if job.kind == "jobTemplate" else "Job", "IsEnabled": int(job.enabled),
        "SourceJson": as_json(_side(ctx, job.source, store_id, what)),
        "DestinationJson": as_json(_side(ctx, job.destination, store_id, what)),
        "MessagingJson": as_json(messaging) if messaging else None, "Script": job.script, "SourceFile": job.file,
    }


@dataclass
class JobOperation(Operation):
    kind = "job"
    job: SyncJob
    store_id: int | None
    o365: PfxCredentials | None
    o365_question: str

    def prepare(self, ctx: RunContext) -> Prepared:
        return Prepared(rows=[(t.SYNC_JOB, job_row(ctx, self.job, self.store_id, self.o365, self.o365_question))])


@dataclass
class CollectionOperation(Operation):
    kind = "collection"
    collection: JobCollection
    store_id: int | None
    job_stores: dict[str, int | None]
    o365: dict[str, PfxCredentials | None]

    def prepare(self, ctx: RunContext) -> Prepared:
        c = self.collection
        rows: list[Any] = [(t.JOB_COLLECTION, {
            "CollectionId": c.id, "IdentityStoreId": self.store_id, "Name": c.name,
            "Kind": "CollectionTemplate" if c.kind == "collectionTemplate" else "Collection",
            "SourceFile": c.file})]
        for job in c.jobs:
            rows.append((t.SYNC_JOB, job_row(ctx, job, self.job_stores.get(job.id), self.o365.get(job.id),
                                             f"job:{job.id}:o365Credentials")))
        return Prepared(rows=rows)


@dataclass
class JobFileOperation(Operation):
    """A job whose file cannot be read: it always carries its plan-time error (R16), so it is never prepared."""

    kind = "job-file"

    def prepare(self, ctx: RunContext) -> Prepared:
        raise self.plan_error or EngineError("DestinationUnparseable", f"The job file of {self.name} cannot be "
                                             "read.", target=self.key)


@dataclass
class ScheduleOperation(Operation):
    kind = "schedule"
    schedule: Schedule
    store_id: int | None
    new_name: str
    job_type: str
    jobs: list[str]
    collections: list[str]

    def prepare(self, ctx: RunContext) -> Prepared:
        s = self.schedule
        sid = str(s.id)
        rows: list[Any] = [(t.SCHEDULE, {"ScheduleId": sid, "SourceScheduleId": s.id, "IdentityStoreId": self.store_id,
                                         "Name": self.new_name, "JobType": self.job_type,
                                         "TriggerType": s.trigger_type, "TriggerData": s.trigger_data,
                                         "IsEnabled": int(s.enabled)})]
        for kind, ids in (("Job", self.jobs), ("JobCollection", self.collections)):
            for target_id in ids:
                rows.append((t.SCHEDULE_TARGET, {"ScheduleTargetId": f"{sid}:{kind}:{target_id}",
                                                 "ScheduleId": sid, "TargetKind": kind, "TargetId": target_id}))
        return Prepared(rows=rows)


@dataclass
class NewScheduleOperation(Operation):
    kind = "new-schedule"
    store_id: int
    schedule_name: str

    def prepare(self, ctx: RunContext) -> Prepared:
        return Prepared(rows=[(t.SCHEDULE, {
            "ScheduleId": f"Entitlement:{self.schedule_name}:{self.store_id}", "SourceScheduleId": None,
            "IdentityStoreId": self.store_id, "Name": self.schedule_name, "JobType": "Entitlement",
            "TriggerType": "Daily", "TriggerData": "00:00", "IsEnabled": 1})])


@dataclass
class ReportOperation(Operation):
    kind = "report"
    report: Report
    store_id: int | None

    def prepare(self, ctx: RunContext) -> Prepared:
        report = self.report
        if self.store_id is None:
            raise EngineError("QuestionsOpen", f"Report {report.name!r} has no identity store to be bound to.",
                              target="answers.reports:store", recommended_action="Answer reports:store.")
        copy = FileCopy(ctx.source.layout.reports / report.file_name,
                        ctx.target.layout.reports / str(self.store_id) / report.file_name, f"report {report.name!r}")
        copy.check()
        return Prepared(copies=[copy], rows=[(t.REPORT_BINDING, {
            "ReportId": report.id, "IdentityStoreId": self.store_id, "Name": report.name,
            "Category": report.category, "FileName": report.file_name,
            "GeneratedOn": report.generated_on.isoformat()})])
