"""``groupid-upgrade doctor``: a preflight of every server the answer file names (dbatools' Test-* for GroupID).

Each server is reached with the configured credentials and TLS, then asked for what a run will need
there; every check is timed and says what to do when it fails. Nothing is changed: probes (a
table, an index, a snapshot repository) are made and removed again, table DDL inside a transaction
that is rolled back. A check that needs an earlier one (a bind before a search) is skipped when
that one failed. The CLI exits 3 when any check failed.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from .errors import EngineError
from .model.base import Result, WireModel
from .model.settings import AnswerFile, DirectorySettings, ElasticsearchSettings, SqliteDatabase
from .reporting import Reporter

CheckStatus = Literal["ok", "failed", "skipped"]
PROBE_PREFIX = "groupid-upgrade-doctor-"


class DoctorCheck(WireModel):
    server: str = Field(description="What was reached: the source database, an Elasticsearch URL, a directory.")
    check: str
    status: CheckStatus
    seconds: float
    detail: str
    what_to_do: str | None = None
    error_id: str | None = None


class DoctorReport(Result):
    ok: bool
    checks: list[DoctorCheck]


class _Failed(Exception):
    pass


class Doctor:
    def __init__(self, answers: AnswerFile, reporter: Reporter) -> None:
        self.answers = answers
        self.reporter = reporter
        self.checks: list[DoctorCheck] = []

    def check(self, server: str, name: str, probe: Callable[[], str], *, needs_ok: bool = True) -> bool:
        """Run one check; True when it passed. After a failed check of the same server, the next is skipped."""
        self.reporter.check_cancelled("the preflight")
        self.reporter.progress("doctor", "Checking the servers", f"{server}: {name}", len(self.checks))
        earlier = [c for c in self.checks if c.server == server]
        if needs_ok and earlier and earlier[-1].status != "ok":
            self.checks.append(DoctorCheck(server=server, check=name, status="skipped", seconds=0.0,
                                           detail=f"not checked: {earlier[-1].check} did not pass"))
            return False
        started = time.monotonic()
        try:
            detail = probe()
        except EngineError as error:
            self.checks.append(DoctorCheck(server=server, check=name, status="failed",
                                           seconds=round(time.monotonic() - started, 3), detail=error.message,
                                           what_to_do=error.recommended_action, error_id=error.error_id))
            return False
        except Exception as exc:  # a library error the engine does not map: still one line, never a traceback
            self.checks.append(DoctorCheck(server=server, check=name, status="failed",
                                           seconds=round(time.monotonic() - started, 3),
                                           detail=f"{type(exc).__name__}: {str(exc)[:200]}",
                                           what_to_do="Check the server's address, credentials and permissions."))
            return False
        self.checks.append(DoctorCheck(server=server, check=name, status="ok",
                                       seconds=round(time.monotonic() - started, 3), detail=detail))
        return True

    def skip(self, server: str, name: str, why: str) -> None:
        self.checks.append(DoctorCheck(server=server, check=name, status="skipped", seconds=0.0, detail=why))

    # --- the whole preflight ---------------------------------------------------------------------------
    def run(self) -> DoctorReport:
        self.source_database()
        self.target_database()
        if self.answers.source.elasticsearch is not None:
            self.elasticsearch("source", self.answers.source.elasticsearch, index=False)
        if self.answers.target.elasticsearch is not None:
            self.elasticsearch("target", self.answers.target.elasticsearch, index=True)
        else:
            self.skip("target Elasticsearch", "configured", "target.elasticsearch is not in the answer file: history "
                      "waits in the target's outbox until a run with it")
        for domain, settings in sorted(self.answers.directories.items()):
            self.directory(domain, settings)
        self.reporter.progress("doctor", "Checking the servers", "Done", len(self.checks), len(self.checks),
                               completed=True)
        return DoctorReport(ok=all(c.status != "failed" for c in self.checks), checks=self.checks)

    # --- databases -------------------------------------------------------------------------------------
    def source_database(self) -> None:
        from .source import schema as source_schema
        from .source.installation import open_database

        settings = self.answers.source.database
        server = _database_name("source", settings)
        holder: dict[str, Any] = {}

        def connect() -> str:
            holder["db"] = open_database(settings, read_only=True, role="source")
            return f"opened read-only ({holder['db'].dialect})"

        def read_tables() -> str:
            db = holder["db"]
            missing = [table.name for table in source_schema.TABLES if not db.has_table(table.name)]
            if missing:
                raise EngineError("DatabaseSchemaUnknown", f"The {db.display_name} lacks the tables "
                                  f"{', '.join(missing)} of a GroupID {self.answers.source.version} database.",
                                  target=db.display_name, recommended_action="Point source.database at the "
                                  "GroupID database (and source.version at its version).")
            rows = sum(db.count(table.name) for table in source_schema.TABLES)
            return f"{len(source_schema.TABLES)} tables read, {rows:,} rows"

        try:
            if self.check(server, "connect", connect):
                self.check(server, "read the source tables", read_tables)
            else:
                self.skip(server, "read the source tables", "not checked: connect did not pass")
        finally:
            if "db" in holder:
                holder["db"].close()

    def target_database(self) -> None:
        from .source.installation import open_database
        from .storage.sql import create_table, transaction

        settings = self.answers.target.database
        server = _database_name("target", settings)
        if isinstance(settings, SqliteDatabase) and not Path(settings.path).exists():
            def folder_writable() -> str:
                folder = _existing_parent(Path(settings.path))
                if not os.access(folder, os.W_OK | os.X_OK):
                    raise EngineError("TargetWriteFailed", f"The folder {folder} cannot be written, so the target "
                                      f"database {settings.path} cannot be created.", target=str(folder),
                                      recommended_action="Give this account write rights there, or choose another "
                                                         "target.database.path.")
                return f"{settings.path} does not exist yet; the first run creates it in {folder}"

            self.check(server, "create tables in the target", folder_writable)
            return
        holder: dict[str, Any] = {}

        def connect() -> str:
            holder["db"] = open_database(settings, read_only=False, role="target")
            return f"opened ({holder['db'].dialect})"

        def create_tables() -> str:
            db = holder["db"]
            name = f"Upg.DoctorProbe{uuid.uuid4().hex[:8]}"
            with contextlib.suppress(_RolledBack), transaction(db) as cursor:
                cursor.execute(create_table(name, (("Id", "key", False),), ("Id",), db.dialect))
                raise _RolledBack  # the probe table goes with the transaction
            return "a table was created and rolled back"

        try:
            if self.check(server, "connect", connect):
                self.check(server, "create tables in the target", create_tables)
            else:
                self.skip(server, "create tables in the target", "not checked: connect did not pass")
        finally:
            if "db" in holder:
                holder["db"].close()

    # --- Elasticsearch ---------------------------------------------------------------------------------
    def elasticsearch(self, role: str, settings: ElasticsearchSettings, *, index: bool) -> None:
        from .storage.connections import search_client
        from .storage.search import public_url

        server = f"{role} Elasticsearch {public_url(settings.url)}"
        holder: dict[str, Any] = {}

        def reach() -> str:
            client = search_client(settings, request_timeout=10, max_retries=0)
            holder["client"] = client
            return f"Elasticsearch {client.version()} answered with the configured credentials"

        def create_index() -> str:
            client = holder["client"]
            name = f"{settings.index_prefix}-{PROBE_PREFIX}{uuid.uuid4().hex[:8]}"
            client.ensure_index(name)
            client.delete_index(name)
            return f"index {name} created and deleted"

        def snapshot_repository() -> str:
            client = holder["client"]
            existing = client.get_repository(settings.snapshot_repository)
            if existing is not None:
                return f"repository {settings.snapshot_repository} is registered ({existing.get('type')})"
            if settings.snapshot_location is None:
                raise EngineError("SnapshotRepositoryInvalid", f"The snapshot repository "
                                  f"{settings.snapshot_repository!r} is not registered on {client.url} and "
                                  "snapshotLocation is not given to register it.",
                                  target=f"{role}.elasticsearch.snapshotLocation",
                                  recommended_action="Give snapshotLocation (a folder under path.repo on the "
                                                     "server) in the answer file, or register the repository.")
            probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:8]}"
            client.ensure_fs_repository(probe, settings.snapshot_location)
            with contextlib.suppress(Exception):
                client.client.snapshot.delete_repository(name=probe)
            return f"a repository at {settings.snapshot_location} was registered and removed"

        try:
            ok = self.check(server, "reach with the configured credentials", reach)
            steps = [*([("create an index", create_index)] if index else []),
                     ("register a snapshot repository", snapshot_repository)]
            for name, probe in steps:
                if ok:
                    self.check(server, name, probe, needs_ok=False)
                else:
                    self.skip(server, name, "not checked: Elasticsearch was not reached")
        finally:
            if "client" in holder:
                holder["client"].close()

    # --- directories -----------------------------------------------------------------------------------
    def directory(self, domain: str, settings: DirectorySettings) -> None:
        from .storage.connections import directory_client

        server = f"directory {domain} ({settings.url})"
        holder: dict[str, Any] = {}

        def bind() -> str:
            if settings.credential is None:
                raise EngineError("DirectoryNotConfigured", f"The directory {domain} has no credential in the "
                                  "answer file.", target=f"directories.{domain}.credential",
                                  recommended_action="Add a credential (userName and password) for the domain.")
            client = directory_client(domain, settings, self.reporter)
            holder["client"] = client.connect()
            tls = "LDAPS" if client.use_ssl else "StartTLS" if client.start_tls else "no TLS"
            return f"bound as {settings.credential.user_name} ({tls})"

        def read_forest() -> str:
            client = holder["client"]
            root = client.root_dse()
            if not client.can_read_configuration_partition():
                raise EngineError("ServiceAccountCannotReadForest", f"The account bound to {domain} cannot read "
                                  "the configuration partition of the forest.", target=server,
                                  recommended_action="Give the service account read rights on the forest "
                                                     "(Domain Users have them by default).")
            return f"forest {root.get('rootDomainNamingContext', '?')} readable"

        def group_rights() -> str:
            client = holder["client"]
            base = client.root_dse().get("defaultNamingContext", "")
            entry = next(iter(_first(client.paged_search(base, "(objectClass=group)", ["cn"], page_size=1))), None)
            if entry is None:
                return f"no group under {base} to check rights on"
            rights = client.read_entry(entry["dn"], ["allowedAttributesEffective"]) or {"attributes": {}}
            writable = {v.decode("utf-8", "replace").lower() if isinstance(v, bytes) else str(v).lower()
                        for v in rights["attributes"].get("allowedAttributesEffective", [])}
            if "extensiondata" not in writable:
                raise EngineError("DirectoryOperationFailed", f"The account bound to {domain} may not write "
                                  f"extensionData of groups (checked on {entry['dn']}).", target=server,
                                  recommended_action="Delegate write rights on the group attributes GroupID uses "
                                                     "(extensionData) to the service account.")
            return f"extensionData writable (checked on {entry['dn']}, nothing written)"

        try:
            if self.check(server, "bind with the configured credentials and TLS", bind):
                self.check(server, "read the forest", read_forest, needs_ok=False)
                self.check(server, "write rights on group attributes", group_rights, needs_ok=False)
            else:
                for name in ("read the forest", "write rights on group attributes"):
                    self.skip(server, name, "not checked: the bind did not pass")
        finally:
            if "client" in holder:
                holder["client"].close()


class _RolledBack(Exception):
    pass


def _first(entries: Iterator[Any]) -> list[Any]:
    for entry in entries:
        return [entry]
    return []


def _existing_parent(path: Path) -> Path:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _database_name(role: str, settings: Any) -> str:
    if isinstance(settings, SqliteDatabase):
        return f"{role} database {settings.path}"
    return f"{role} database {settings.database} on {settings.server}"


def run_doctor(answers: AnswerFile, reporter: Reporter) -> DoctorReport:
    return Doctor(answers, reporter).run()
