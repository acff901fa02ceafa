"""Reading a GroupID 9/10 installation: its database and its folders, never writing to either (R4)."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..crypto import SecretBox
from ..errors import EngineError
from ..model.installation import (
    GroupType,
    IdentityStore,
    JobCollection,
    ManagedGroup,
    MessagingProvider,
    Report,
    Schedule,
    StoreType,
    SyncJob,
    WorkflowApprover,
)
from ..model.settings import SourceSettings, SqliteDatabase, SqlServerDatabase
from ..planning.versions import normalize_source_version
from ..storage.sql import Database, open_sqlite, open_sqlserver, sqlserver_connection_string
from . import schema
from .dtmconfig import read_dtmconfig
from .layout import DTMCONFIG_SUFFIX, JOB_FOLDERS, InstallationLayout, default_folders


def open_database(settings: SqliteDatabase | SqlServerDatabase, *, read_only: bool, role: str,
                  create: bool = False) -> Database:
    """Open the source or target database the settings describe."""
    if isinstance(settings, SqliteDatabase):
        return open_sqlite(Path(settings.path), read_only=read_only, via=settings.via,
                           display_name=f"{role} database {settings.path}", create=create)
    conn_str = sqlserver_connection_string(
        driver=settings.driver,
        server=settings.server,
        database=settings.database,
        user=settings.user_name if settings.authentication == "sql" else None,
        password=settings.password.get_secret_value() if settings.password else None,
        encrypt=settings.encrypt,
        trust_server_certificate=settings.trust_server_certificate,
        port=settings.port,
    )
    return open_sqlserver(conn_str, display_name=f"{role} database {settings.database} on {settings.server}")


class SourceDatabase:
    """The source database as the engine reads it: a driver error in the middle of a read (a page
    of the file corrupted, not just a truncated file) is ``DatabaseUnreadable`` naming the database
    (R16), not an unexpected crash. Everything else is the wrapped ``Database``'s."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _errors(self) -> tuple[type[BaseException], ...]:
        if self._db.driver == "pyodbc":
            import pyodbc

            return (pyodbc.Error,)
        return (sqlite3.DatabaseError,)

    def _unreadable(self, exc: BaseException) -> EngineError:
        # sqlite3 says what is wrong; an ODBC message may echo its connection string: its SQLSTATE only.
        detail = str(exc) if isinstance(exc, sqlite3.Error) else f"ODBC state {exc.args[0] if exc.args else '?'}"
        return EngineError(
            "DatabaseUnreadable",
            f"The {self._db.display_name} cannot be read ({detail}).",
            target=self._db.display_name,
            recommended_action="Check that the database is intact (restore it from a backup if it is damaged).",
        )

    def _guarded(self, iterator: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from iterator
        except self._errors() as exc:
            raise self._unreadable(exc) from None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._db, name)
        if name == "close" or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                result = attr(*args, **kwargs)
            except self._errors() as exc:
                raise self._unreadable(exc) from None
            return self._guarded(result) if inspect.isgenerator(result) else result

        return call


@dataclass
class JobFileProblem:
    file: str
    error: EngineError


@dataclass
class SynchronizeContent:
    jobs: list[SyncJob] = field(default_factory=list)
    collections: list[JobCollection] = field(default_factory=list)
    templates: list[SyncJob] = field(default_factory=list)
    collection_templates: list[JobCollection] = field(default_factory=list)
    problems: list[JobFileProblem] = field(default_factory=list)

    def all_jobs(self) -> Iterator[SyncJob]:
        """Standalone jobs and the jobs embedded in collections."""
        yield from self.jobs
        for coll in self.collections:
            yield from coll.jobs


class SourceInstallation:
    """An open 9/10 installation. Use as a context manager; it closes its database."""

    def __init__(self, settings: SourceSettings) -> None:
        self.settings = settings
        self.version = normalize_source_version(settings.version)
        default_files, default_data = default_folders(self.version)
        program_files = settings.program_files if settings.program_files is not None else default_files
        program_data = settings.program_data if settings.program_data is not None else default_data
        self.layout = InstallationLayout(Path(program_files), Path(program_data))
        for label, folder in (("programFiles", self.layout.program_files), ("programData", self.layout.program_data)):
            if not folder.is_dir():
                raise EngineError(
                    "SourceFolderNotFound",
                    f"The source folder {folder} (source.{label}) does not exist.",
                    target=str(folder),
                    recommended_action=f"Point source.{label} at the GroupID {self.version} folder (without "
                    "it, the default folder of the version is used); on a different box, copy it from the old "
                    "server first.",
                )
        self.db = SourceDatabase(open_database(settings.database, read_only=True, role="source"))
        try:
            if not self.db.has_table(schema.IDENTITY_STORE.name):
                raise EngineError(
                    "DatabaseSchemaUnknown",
                    f"The {self.db.display_name} has no {schema.IDENTITY_STORE.name} table: it is not a "
                    f"GroupID {self.version} database.",
                    target=self.db.display_name,
                    recommended_action="Check the database named in the answer file.",
                )
            self._settings_cache: dict[str, str] | None = None
            self._check_product_version()
        except EngineError:
            self.db.close()
            raise
        except Exception as exc:  # driver errors on a file that is not a database
            self.db.close()
            raise EngineError(
                "DatabaseUnreadable",
                f"The {self.db.display_name} cannot be read ({type(exc).__name__}).",
                target=self.db.display_name,
                recommended_action="Check that the database is intact and readable.",
            ) from None

    def __enter__(self) -> SourceInstallation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    def _check_product_version(self) -> None:
        """``source.version`` must be what the database says it is (its ProductVersion setting): the
        upgrade reads the source by the layout of that version, and a 9.0 read as 10.0 is misread."""
        product = self.setting(schema.SETTING_PRODUCT_VERSION)
        if not product:
            return  # a database without the setting: nothing to check against
        major_minor = ".".join(product.strip().split(" ")[0].split(".")[:2])
        if major_minor.isdigit():
            major_minor += ".0"
        if major_minor != self.version:
            raise EngineError(
                "SourceVersionUnsupported",
                f"source.version is {self.version}, but the {self.db.display_name} says it is GroupID {product} "
                f"(ProductVersion).",
                target="source.version",
                recommended_action=f"Set source.version to {major_minor} if that database is the source, or point "
                "source.database at the GroupID database of the version you named.",
                extra={"sourceVersion": self.version, "productVersion": product},
            )

    # --- settings and secrets ------------------------------------------------------------------
    def setting(self, name: str) -> str | None:
        if self._settings_cache is None:
            t = schema.SETTING
            self._settings_cache = {r[0]: r[1] for r in self.db.select_all(t.name, t.column_names, t.key)}
        return self._settings_cache.get(name)

    def secret_box(self) -> SecretBox:
        if self.settings.passphrase is None:
            raise EngineError(
                "PassphraseMissing",
                "The source passphrase is needed to read the source's secrets and was not given.",
                target="source.passphrase",
                recommended_action="Put source.passphrase in the answer file or its secrets file.",
            )
        salt = self.setting(schema.SETTING_PASSPHRASE_SALT)
        check = self.setting(schema.SETTING_PASSPHRASE_CHECK)
        if not salt or not check:
            raise EngineError("DatabaseSchemaUnknown", f"The {self.db.display_name} holds no passphrase salt.",
                              target=self.db.display_name,
                              recommended_action="Check the database named in the answer file.")
        box = SecretBox(self.settings.passphrase.get_secret_value(), salt, owner="source")
        box.verify(check)
        return box

    # --- configuration -------------------------------------------------------------------------
    def identity_stores(self) -> list[IdentityStore]:
        t = schema.IDENTITY_STORE
        messaging = {m.store_id: m for m in self.messaging_providers()}
        stores = []
        for row in self.db.select_all(t.name, t.column_names, t.key):
            r = dict(zip(t.column_names, row, strict=True))
            stores.append(IdentityStore(
                id=r["IdentityStoreId"], name=r["Name"], type=StoreType(r["StoreType"]),
                domain=r["DomainName"], enabled=bool(r["IsEnabled"]), connection_string=r["ConnectionString"],
                service_account=r["ServiceAccount"], service_account_password=r["ServiceAccountPassword"],
                application_id=r["ApplicationId"], cloud=r["Cloud"], primary_domain=r["PrimaryDomainName"],
                messaging=messaging.get(r["IdentityStoreId"]),
            ))
        return stores

    def messaging_providers(self) -> list[MessagingProvider]:
        t = schema.MESSAGING_PROVIDER
        out = []
        for row in self.db.select_all(t.name, t.column_names, t.key):
            r = dict(zip(t.column_names, row, strict=True))
            out.append(MessagingProvider(
                id=r["MessagingProviderId"], store_id=r["IdentityStoreId"], type=r["ProviderType"],
                domain=r["Domain"], user_name=r["UserName"], password=r["Password"],
                application_id=r["ApplicationId"], cloud=r["Cloud"],
            ))
        return out

    def schedules(self) -> list[Schedule]:
        targets: dict[int, tuple[list[str], list[str]]] = {}
        tt = schema.SCHEDULE_TARGET
        for row in self.db.select_all(tt.name, tt.column_names, tt.key):
            r = dict(zip(tt.column_names, row, strict=True))
            jobs, colls = targets.setdefault(r["ScheduleId"], ([], []))
            (colls if r["TargetKind"] == "JobCollection" else jobs).append(r["TargetId"])
        t = schema.SCHEDULE
        out = []
        for row in self.db.select_all(t.name, t.column_names, t.key):
            r = dict(zip(t.column_names, row, strict=True))
            jobs, colls = targets.get(r["ScheduleId"], ([], []))
            out.append(Schedule(
                id=r["ScheduleId"], name=r["Name"], job_type=r["JobType"], store_id=r["IdentityStoreId"],
                trigger_type=r["TriggerType"], trigger_data=r["TriggerData"], enabled=bool(r["IsEnabled"]),
                job_ids=jobs, collection_ids=colls,
            ))
        return out

    def reports(self) -> list[Report]:
        t = schema.REPORT
        out = []
        for row in self.db.select_all(t.name, t.column_names, t.key):
            r = dict(zip(t.column_names, row, strict=True))
            out.append(Report(id=r["ReportId"], name=r["Name"], category=r["Category"], file_name=r["FileName"],
                              domain=r["Domain"], generated_on=datetime.fromisoformat(r["GeneratedOn"])))
        return out

    def workflow_approvers(self) -> list[WorkflowApprover]:
        t = schema.WORKFLOW_APPROVER
        return [
            WorkflowApprover(id=r[0], store_id=r[1], workflow_name=r[2], approver_kind=r[3], approver=r[4])
            for r in self.db.select_all(t.name, t.column_names, t.key)
        ]

    def managed_groups(self, page_size: int = 2000) -> Iterator[ManagedGroup]:
        t = schema.MANAGED_GROUP
        for page in self.db.keyset_pages(t.name, t.column_names, t.key, page_size):
            for row in page:
                r = dict(zip(t.column_names, row, strict=True))
                yield ManagedGroup(
                    id=r["ManagedGroupId"], store_id=r["IdentityStoreId"], object_guid=r["ObjectGuid"],
                    distinguished_name=r["DistinguishedName"], name=r["Name"], group_type=GroupType(r["GroupType"]),
                    parent_object_guid=r["ParentObjectGuid"],
                    data_source_connection_string=r["DataSourceConnectionString"], script=r["ScriptText"],
                )

    # --- counts (read each time, never stored) ---------------------------------------------------
    def history_counts_by_store(self) -> dict[int, int]:
        return self.db.count_by(schema.HISTORY.name, "IdentityStoreId")

    def group_counts_by_store(self) -> dict[int, int]:
        return self.db.count_by(schema.MANAGED_GROUP.name, "IdentityStoreId")

    # --- Synchronize folders ---------------------------------------------------------------------
    def synchronize(self) -> SynchronizeContent:
        """Every .dtmconfig under the Jobs folder; a bad file is a problem of its own, not the end."""
        content = SynchronizeContent()
        root = self.layout.synchronize_jobs
        for folder, kind in JOB_FOLDERS.items():
            directory = root / folder
            if not directory.is_dir():
                continue
            for path in sorted(p for p in directory.iterdir() if p.suffix.lower() == DTMCONFIG_SUFFIX):
                relative = f"{folder}/{path.name}"
                try:
                    item = read_dtmconfig(path, relative, kind)
                except EngineError as exc:
                    content.problems.append(JobFileProblem(relative, exc))
                    continue
                if isinstance(item, JobCollection):
                    (content.collections if kind == "collection" else content.collection_templates).append(item)
                else:
                    (content.jobs if kind == "job" else content.templates).append(item)
        return content

    def report_files(self) -> list[Path]:
        folder = self.layout.reports
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
