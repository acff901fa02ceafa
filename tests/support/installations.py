"""Generated GroupID 9.0/10.0 installations for tests: a hypothesis strategy and a writer.

``estates()`` draws an ``Estate`` (plain data: stores, jobs, collections, templates, schedules,
reports, history, and how the answer file answers); ``write_estate`` writes it in the documented
format (docs/formats.md) with the engine's own format writers (``source.schema`` tables through
``storage.sql``, ``.dtmconfig`` through ``source.dtmconfig``), so the engine reads it exactly as it
reads an installation written by GroupID. Every draw shrinks: fewer stores, fewer jobs, plainer
domain spellings, so a failing estate is reported at its smallest.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from groupid_upgrade.crypto import SecretBox
from groupid_upgrade.source import schema
from groupid_upgrade.source.dtmconfig import render_collection, render_job
from groupid_upgrade.source.layout import InstallationLayout, version_folder_name
from groupid_upgrade.storage.sql import create_table, insert, open_sqlite, transaction

# One passphrase and salt for every generated installation: the key derivation is cached, so a
# thousand estates cost one PBKDF2 (the secrets still differ per estate: random nonces).
SOURCE_PASSPHRASE = "generated-source-passphrase-1!Aa"
TARGET_PASSPHRASE = "generated-target-passphrase-1!Aa"
SOURCE_SALT = "c2FsdC1vZi1nZW5lcmF0ZWQtZXN0YXRlcw=="
PFX_PASSWORD = "generated-pfx-password-1!Aa"

# Forests several levels deep: siblings (a/b.corp.com), a grandchild, cousins (eu/us.example.org
# whose parent may or may not be a destination), and look-alikes of corp.com.
DOMAINS = (
    "corp.com", "a.corp.com", "b.corp.com", "x.a.corp.com",
    "xcorp.com", "b.xcorp.com", "corp.com.au",
    "example.org", "eu.example.org", "us.example.org",
)
ENTRA_DOMAINS = ("tenant.onmicrosoft.com",)
LDAP_DOMAINS = ("ldap.example.net",)
DIRECTORY_PROVIDERS = ("ActiveDirectory", "MicrosoftAzure", "GenericLdap", "GoogleWorkspace")
DATA_PROVIDERS = ("Text", "Excel", "Access", "Odbc", "SqlServer", "Oracle", "Scim")
STORE_TYPES = ("ActiveDirectory", "MicrosoftAzure", "GenericLdap", "GoogleWorkspace")
STORE_MESSAGING = (None, "Exchange2016", "Office365", "GoogleWorkspace", "Other")
STORE_BOUND_SCHEDULES = ("SmartGroupUpdate", "GroupLifeCycle", "Reports", "HistoryRetention", "Insights")
HISTORY_ROWS = (("IdentityStore", "OwnershipChange"), ("AdminCenter", "AdminCenterChange"),
                ("Helpdesk", "PasswordReset"), ("Synchronize", "JobRun"), ("IdentityStore", "SomethingNew"))


@dataclass
class Side:
    provider: str
    domain: str | None = None  # as written (case, trailing dot); directory providers only
    variant: int = 0  # which of a few connection strings of a data provider

    @property
    def is_directory(self) -> bool:
        return self.provider in DIRECTORY_PROVIDERS


@dataclass
class JobSpec:
    id: str
    name: str
    source: Side
    destination: Side
    office365: bool = False
    script: str | None = None


@dataclass
class CollectionSpec:
    id: str
    name: str
    jobs: list[JobSpec]


@dataclass
class StoreSpec:
    id: int
    name: str
    type: str
    domain: str  # as written
    enabled: bool
    messaging: str | None = None
    history: list[tuple[str, str]] = field(default_factory=list)
    approvers: list[tuple[str, str]] = field(default_factory=list)  # (kind, approver)


@dataclass
class ScheduleSpec:
    id: int
    name: str
    job_type: str
    store_id: int | None
    targets: list[tuple[str, str]]  # (Job | JobCollection, id)


@dataclass
class AnswerPolicy:
    """How the answer file answers the plan's questions: ``all``, ``some`` (per-question flags,
    cycled) or ``none``; ``picks`` choose among a question's choices; ``wrong_reports`` answers
    the reports question with a store of the wrong type."""

    mode: str = "all"
    flags: list[bool] = field(default_factory=lambda: [True])
    picks: list[int] = field(default_factory=lambda: [0])
    gmsa: bool = True
    wrong_reports: str | None = None  # None | "entra" | "otherStore"


@dataclass
class Estate:
    version: str = "10.0"
    version_written: str = "10.0"
    product_version: str = "10.0.2416.1 SR1"
    server_domain: str | None = "corp.com"
    stores: list[StoreSpec] = field(default_factory=list)
    jobs: list[JobSpec] = field(default_factory=list)
    collections: list[CollectionSpec] = field(default_factory=list)
    templates: list[JobSpec] = field(default_factory=list)
    collection_templates: list[CollectionSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    answers: AnswerPolicy = field(default_factory=AnswerPolicy)
    default_folders: bool = False  # the answer file omits programFiles/programData (R1 defaults)
    ldap_roots: dict[str, str] = field(default_factory=dict)  # facts: domain -> forest root (rootDSE)

    def all_jobs(self) -> list[JobSpec]:
        return self.jobs + [j for c in self.collections for j in c.jobs]


# --- the strategy ------------------------------------------------------------------------------
@st.composite
def written_domain(draw: st.DrawFn, pool: tuple[str, ...]) -> str:
    """A domain as someone typed it: any case, maybe a trailing dot (both ignored by R8)."""
    domain = draw(st.sampled_from(pool))
    spelling = draw(st.sampled_from(("lower", "upper", "title", "mixed")))
    if spelling == "upper":
        domain = domain.upper()
    elif spelling == "title":
        domain = ".".join(label.capitalize() for label in domain.split("."))
    elif spelling == "mixed":
        domain = "".join(c.upper() if i % 2 else c for i, c in enumerate(domain))
    return domain + ("." if draw(st.booleans()) else "")


@st.composite
def sides(draw: st.DrawFn, domains: tuple[str, ...]) -> Side:
    if draw(st.booleans()):
        provider = draw(st.sampled_from(DIRECTORY_PROVIDERS))
        return Side(provider, draw(written_domain(domains)))
    return Side(draw(st.sampled_from(DATA_PROVIDERS)), None, draw(st.integers(0, 2)))


class _Ids:
    def __init__(self, prefix: str) -> None:
        self.prefix, self.n = prefix, 0

    def next(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n:04d}-0000-4000-8000-{self.n:012d}"


@st.composite
def jobs(draw: st.DrawFn, ids: _Ids, domains: tuple[str, ...], label: str) -> JobSpec:
    job_id = ids.next()
    script = draw(st.sampled_from((None, 'Return Source("Id")', 'Dim p = "C:\\Scripts\\map.vb"')))
    return JobSpec(id=job_id, name=f"{label} {ids.n}", source=draw(sides(domains)),
                   destination=draw(sides(domains)), office365=draw(st.booleans()), script=script)


@st.composite
def collections(draw: st.DrawFn, ids: _Ids, domains: tuple[str, ...], label: str) -> CollectionSpec:
    coll_id = ids.next()
    members = draw(st.lists(jobs(ids, domains, f"{label} job"), min_size=1, max_size=3))
    return CollectionSpec(id=coll_id, name=f"{label} {coll_id[:8]}", jobs=members)


@st.composite
def estates(draw: st.DrawFn, *, with_ldap_facts: bool = True) -> Estate:
    version = draw(st.sampled_from(("10.0", "9.0")))
    version_written = draw(st.sampled_from((version, version.split(".")[0])))
    product = draw(st.sampled_from(("10.0.2416.1 SR1", "10.0.2100.0", "10.0.2600.3 SR2"))) \
        if version == "10.0" else "9.0.1152.0"
    store_domains = draw(st.lists(st.sampled_from(DOMAINS + ENTRA_DOMAINS + LDAP_DOMAINS), max_size=5, unique=True))
    stores = []
    for n, domain in enumerate(store_domains, start=1):
        if domain in ENTRA_DOMAINS:
            kind = "MicrosoftAzure"
        elif domain in LDAP_DOMAINS:
            kind = "GenericLdap"
        else:
            kind = draw(st.sampled_from(STORE_TYPES))
        history = draw(st.lists(st.sampled_from(HISTORY_ROWS), max_size=3))
        approvers = draw(st.lists(st.tuples(st.sampled_from(("Variable", "Fixed")),
                                            st.sampled_from(("managedBy", "additionalOwner",
                                                             "0b6f4e7a-3f3c-4d2b-8a51-2c9e1d7f6a30"))),
                                  max_size=2))
        stores.append(StoreSpec(id=n, name=f"Store {n}", type=kind,
                                domain=draw(written_domain((domain,))), enabled=draw(st.booleans()),
                                messaging=draw(st.sampled_from(STORE_MESSAGING)), history=history,
                                approvers=approvers))
    job_domains = DOMAINS + tuple(store_domains)
    ids = _Ids("6f1c")
    standalone = draw(st.lists(jobs(ids, job_domains, "Job"), max_size=6))
    colls = draw(st.lists(collections(ids, job_domains, "Collection"), max_size=2))
    templates = draw(st.lists(jobs(ids, job_domains, "Template"), max_size=2))
    coll_templates = draw(st.lists(collections(ids, job_domains, "Collection template"), max_size=1))
    schedules: list[ScheduleSpec] = []
    targets = [("Job", j.id) for j in standalone] + [("JobCollection", c.id) for c in colls]
    for n in range(draw(st.integers(0, 4))):
        chosen = draw(st.lists(st.sampled_from(targets), max_size=3, unique=True)) if targets else []
        schedules.append(ScheduleSpec(id=n + 1, name=f"Sync schedule {n + 1}", job_type="Synchronize",
                                      store_id=None, targets=chosen))
    if stores:
        for job_type in draw(st.lists(st.sampled_from(STORE_BOUND_SCHEDULES), max_size=3)):
            sid = len(schedules) + 1
            schedules.append(ScheduleSpec(id=sid, name=f"{job_type} {sid}", job_type=job_type,
                                          store_id=draw(st.sampled_from([s.id for s in stores])), targets=[]))
    reports = [f"Report {n}" for n in range(draw(st.integers(0, 2)))]
    server_domain = draw(written_domain(DOMAINS))
    mode = draw(st.sampled_from(("all", "all", "some", "none")))
    policy = AnswerPolicy(mode=mode, flags=draw(st.lists(st.booleans(), min_size=1, max_size=6)),
                          picks=draw(st.lists(st.integers(0, 7), min_size=1, max_size=4)), gmsa=draw(st.booleans()),
                          wrong_reports=draw(st.sampled_from((None, None, None, "entra", "otherStore"))))
    ldap_roots: dict[str, str] = {}
    if with_ldap_facts and draw(st.booleans()):
        # rootDSE facts consistent with DNS: a domain's forest root is itself or one of its DNS parents
        for domain in draw(st.lists(st.sampled_from(DOMAINS), max_size=3, unique=True)):
            labels = domain.split(".")
            roots = [".".join(labels[i:]) for i in range(len(labels) - 1)]
            ldap_roots[domain] = draw(st.sampled_from(roots))
    return Estate(version=version, version_written=version_written, product_version=product,
                  server_domain=server_domain, stores=stores, jobs=standalone, collections=colls,
                  templates=templates, collection_templates=coll_templates, schedules=schedules,
                  reports=reports, answers=policy, default_folders=draw(st.booleans()), ldap_roots=ldap_roots)


# --- the writer ----------------------------------------------------------------------------------
def _box() -> SecretBox:
    return SecretBox(SOURCE_PASSPHRASE, SOURCE_SALT, owner="source")


def _bare(domain: str) -> str:
    return domain.rstrip(".").lower()


def _connection(side: Side, box: SecretBox, job: JobSpec) -> str:
    if side.is_directory and side.domain is None:  # a source may name no Domain (only destinations must)
        return "Server=dc01.example.com;UserName=SVC\\reader"
    if side.is_directory:
        assert side.domain is not None
        bare = _bare(side.domain)
        user = bare.split(".")[0].upper() + "\\svc-" + job.id[:8]
        return (f"Domain={side.domain};Server=dc01.{bare};UserName={user};"
                f"Password={box.encrypt('job-secret-' + job.id)}")
    paths = {
        "Text": r"Provider=Text;Path=\\fs01\feeds\staff-{v}.csv;Delimiter=,",
        "Excel": r"Provider=Excel;Path=\\fs01\feeds\book-{v}.xlsx;Sheet=S{v}",
        "Access": r"Provider=Access;Path=\\fs01\feeds\db-{v}.accdb",
        "Odbc": "Provider=Odbc;Dsn=Feed{v};Table=T",
        "SqlServer": "Provider=SqlServer;Server=sql0{v}.example.com;Database=HR;Table=Staff",
        "Oracle": "Provider=Oracle;Server=ora0{v}.example.com;Service=HR",
        "Scim": "Provider=Scim;Url=https://scim{v}.example.com/v2",
    }
    return paths[side.provider].format(v=side.variant)


def _job_dict(job: JobSpec, box: SecretBox) -> dict[str, Any]:
    return {"id": job.id, "name": job.name,
            "source": {"provider": job.source.provider, "connectionString": _connection(job.source, box, job)},
            "destination": {"provider": job.destination.provider,
                            "connectionString": _connection(job.destination, box, job)},
            "messaging": {"Provider": "Office365", "Domain": "corp.com"} if job.office365 else None,
            "script": job.script}


def _safe(name: str) -> str:
    return "".join(c if c in string.ascii_letters + string.digits + " -" else "_" for c in name)


@dataclass
class WrittenEstate:
    root: Path
    answer_file: Path
    source: Path  # the folder holding the source database and both source roots
    settings: dict[str, Any]  # the answer file as written (answers added later by the tests)


def write_estate(estate: Estate, root: Path) -> WrittenEstate:
    """Write the installation under ``root/source`` and an answer file without answers."""
    box = _box()
    version = estate.version
    folder = version_folder_name(version)
    source = root / "source"
    layout = InstallationLayout(source / "Program Files" / "Imanami" / folder,
                                source / "ProgramData" / "Imanami" / folder)
    for sub in ("Jobs", "Group Jobs", "Job Templates", "Job Group Templates"):
        layout.job_folder(sub).mkdir(parents=True)
    layout.reports.mkdir(parents=True)
    layout.replication_attributes.mkdir(parents=True)
    layout.password_exception_lists.mkdir(parents=True)
    for job in estate.jobs:
        (layout.job_folder("Jobs") / f"{_safe(job.name)}.dtmconfig").write_bytes(render_job(_job_dict(job, box), version))
    for job in estate.templates:
        (layout.job_folder("Job Templates") / f"{_safe(job.name)}.dtmconfig").write_bytes(
            render_job(_job_dict(job, box), version))
    for sub, colls in (("Group Jobs", estate.collections), ("Job Group Templates", estate.collection_templates)):
        for coll in colls:
            data = {"id": coll.id, "name": coll.name, "jobs": [_job_dict(j, box) for j in coll.jobs]}
            (layout.job_folder(sub) / f"{_safe(coll.name)}.dtmconfig").write_bytes(render_collection(data, version))
    for store in estate.stores:
        name = layout.replication_attribute_file(_bare(store.domain), store.id)
        (layout.replication_attributes / name).write_text("<Attributes/>\n", encoding="utf-8")
    db_path = source / f"GroupID{version.split('.')[0]}.db"
    _write_database(estate, db_path, box, layout)
    settings: dict[str, Any] = {
        "formatVersion": 1,
        "source": {"version": estate.version_written, "database": {"kind": "sqlite", "path": f"source/{db_path.name}"},
                   "passphrase": SOURCE_PASSPHRASE},
        "target": {"version": "11.1" if version == "10.0" else "11.0",
                   "database": {"kind": "sqlite", "path": "target/GroupID11.db"},
                   "programFiles": "target/Program Files/Imanami/GroupID 11.0",
                   "programData": "target/ProgramData/Imanami/GroupID 11.0",
                   "passphrase": TARGET_PASSPHRASE},
        "modules": ["Everything"],
        "answers": {},
    }
    if not estate.default_folders:
        settings["source"]["programFiles"] = layout.program_files.relative_to(root).as_posix()
        settings["source"]["programData"] = layout.program_data.relative_to(root).as_posix()
    answer_file = root / "answers.json"
    answer_file.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return WrittenEstate(root=root, answer_file=answer_file, source=source, settings=settings)


def default_folder_environment(written: WrittenEstate) -> dict[str, str]:
    """``ProgramFiles``/``ProgramData`` as Windows sets them, pointing into the estate (R1 defaults)."""
    return {"ProgramFiles": str(written.source / "Program Files"), "ProgramData": str(written.source / "ProgramData")}


def _write_database(estate: Estate, path: Path, box: SecretBox, layout: InstallationLayout) -> None:
    db = open_sqlite(path, read_only=False, create=True)
    try:
        for table in schema.TABLES:
            db.execute(create_table(table.name, table.columns, (table.key,), "sqlite"))
        rows: dict[Any, list[dict[str, Any]]] = {t: [] for t in schema.TABLES}
        settings = {schema.SETTING_PRODUCT_VERSION: estate.product_version,
                    schema.SETTING_PASSPHRASE_SALT: SOURCE_SALT, schema.SETTING_PASSPHRASE_CHECK: box.check_value(),
                    schema.SETTING_REPLICATION_LOG_LEVEL: "Verbose", schema.SETTING_DATA_LOG_LEVEL: "Information"}
        if estate.server_domain is not None:
            settings[schema.SETTING_SERVER_DOMAIN] = estate.server_domain
        rows[schema.SETTING] = [{"Name": k, "Value": v} for k, v in settings.items()]
        history_id = approver_id = 0
        for store in estate.stores:
            entra = store.type == "MicrosoftAzure"
            rows[schema.IDENTITY_STORE].append({
                "IdentityStoreId": store.id, "Name": store.name, "StoreType": store.type, "DomainName": store.domain,
                "IsEnabled": int(store.enabled), "ConnectionString": f"Server=dc01.{_bare(store.domain)};Port=389",
                "ServiceAccount": None if entra else f"SVC{store.id}\\groupid",
                "ServiceAccountPassword": None if entra else box.encrypt(f"store-secret-{store.id}"),
                "ApplicationId": "3f0d9b5e-7c1a-4d8e-9a51-0c2b6d4e8f10" if entra else None,
                "Cloud": "AzurePublic" if entra and estate.version == "10.0" else None,
                "PrimaryDomainName": None, "CreatedOn": "2021-03-04T10:00:00+00:00"})
            if store.messaging is not None:
                rows[schema.MESSAGING_PROVIDER].append({
                    "MessagingProviderId": 100 + store.id, "IdentityStoreId": store.id,
                    "ProviderType": store.messaging, "Domain": _bare(store.domain),
                    "UserName": None if store.messaging == "Office365" else "mail",
                    "Password": None if store.messaging == "Office365" else box.encrypt(f"mail-{store.id}"),
                    "ApplicationId": None, "Cloud": None})
            for category, action in store.history:
                history_id += 1
                rows[schema.HISTORY].append({
                    "HistoryId": history_id, "IdentityStoreId": store.id, "Category": category, "Action": action,
                    "ObjectGuid": None, "ObjectDn": f"CN=G{history_id}", "ActorDn": "CN=Admin", "OldValue": "a",
                    "NewValue": "b", "Description": None, "OccurredOn": "2024-04-30T23:05:00-05:00"})
            for kind, approver in store.approvers:
                approver_id += 1
                rows[schema.WORKFLOW_APPROVER].append({
                    "WorkflowApproverId": approver_id, "IdentityStoreId": store.id,
                    "WorkflowName": f"Workflow {approver_id}", "ApproverKind": kind, "Approver": approver})
        target_id = 0
        for sched in estate.schedules:
            rows[schema.SCHEDULE].append({
                "ScheduleId": sched.id, "Name": sched.name, "JobType": sched.job_type, "IdentityStoreId": sched.store_id,
                "TriggerType": "Daily", "TriggerData": "02:00", "IsEnabled": 1})
            for kind, tid in sched.targets:
                target_id += 1
                rows[schema.SCHEDULE_TARGET].append({"ScheduleTargetId": target_id, "ScheduleId": sched.id,
                                                     "TargetKind": kind, "TargetId": tid})
        for n, name in enumerate(estate.reports, start=1):
            file_name = f"Groups/{name}.pdf"
            (layout.reports / "Groups").mkdir(exist_ok=True)
            (layout.reports / file_name).write_bytes(b"%PDF-1.4 " + name.encode())
            rows[schema.REPORT].append({"ReportId": n, "Name": name, "Category": "Groups", "FileName": file_name,
                                        "Domain": estate.server_domain or "", "GeneratedOn": "2024-04-30T23:00:00+00:00"})
        with transaction(db) as cur:
            for table, table_rows in rows.items():
                if table_rows:
                    cur.executemany(insert(table.name, table.column_names, "sqlite"),
                                    [tuple(r.get(c) for c in table.column_names) for r in table_rows])
        # as GroupID hands its database over, and as the sample does: one file, no WAL beside it (a reader
        # of a WAL database writes its -shm, which R4's check of the source would rightly see)
        db.execute("PRAGMA journal_mode=DELETE")
    finally:
        db.close()
