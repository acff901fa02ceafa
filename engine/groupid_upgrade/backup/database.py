"""The Database part: SQLite through its online backup API, SQL Server through ``BACKUP DATABASE ...
WITH CHECKSUM, COPY_ONLY`` (the file stays on the server's disk). Statements live in storage/sql.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import EngineError
from ..model.settings import SqliteDatabase, SqlServerDatabase
from ..reporting import Reporter
from ..source.installation import open_database
from ..storage.sql import SQLITE_ONLY, open_sqlite, run_tsql_to_end, sqlite_count_table, tsql_backup_statement
from .manifest import DatabasePart

PAGES_PER_STEP = 2048


def _table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [r[0] for r in conn.execute(SQLITE_ONLY["list_tables"])]
    return {name: int(conn.execute(sqlite_count_table(name)).fetchone()[0]) for name in names}


# SQLite result codes of a failed write to the copy (the source is only read): SQLITE_READONLY,
# SQLITE_CANTOPEN, SQLITE_FULL, and SQLITE_IOERR other than its read codes (IOERR_READ, IOERR_SHORT_READ).
_WRITE_PRIMARY = {8, 13, 14}
_READ_IOERR = {266, 522}


def _write_side(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return False
    return (code & 0xFF) in _WRITE_PRIMARY or ((code & 0xFF) == 10 and code not in _READ_IOERR)


def _destination_error(dest: Path, exc: sqlite3.DatabaseError) -> EngineError:
    return EngineError("BackupDestinationInvalid", f"The database copy {dest} could not be written ({exc}: the "
                       "destination is full, read-only or over a file-size limit); nothing of this set was kept.",
                       target=str(dest), recommended_action="Check the free space, the file-size limits and the "
                       "permissions of the destination, then back up again.")


def check_sqlite(settings: SqliteDatabase) -> None:
    """The source database opens (read-only, its schema read) as the backup opens it. Its pages are not read
    ahead: SQLite's backup API copies them as they are, so no read-ahead check would fail where it fails."""
    open_sqlite(Path(settings.path), read_only=True, via="sqlite3",
                display_name=f"source database {settings.path}").close()


def backup_sqlite(settings: SqliteDatabase, dest: Path, reporter: Reporter) -> DatabasePart:
    """Copy the database with SQLite's online backup API: a consistent copy while GroupID runs."""
    source = open_sqlite(Path(settings.path), read_only=True, via="sqlite3",
                         display_name=f"source database {settings.path}")
    target = sqlite3.connect(str(dest))
    try:
        def progress(_status: int, remaining: int, total: int) -> None:
            reporter.check_cancelled("the backup")
            reporter.progress("backup-database", "Backing up the database", f"{total - remaining} of {total} pages",
                              total - remaining, total)

        try:
            source.connection.backup(target, pages=PAGES_PER_STEP, progress=progress)
        except sqlite3.DatabaseError as exc:
            if _write_side(exc):
                raise _destination_error(dest, exc) from None
            raise EngineError("DatabaseUnreadable", f"The source database {settings.path} could not be backed up "
                              f"({exc}).", target=str(settings.path),
                              recommended_action="Check that the database is intact and readable.") from None
        try:
            target.execute(SQLITE_ONLY["journal_mode_delete"])  # one self-contained file in the set
            counts = _table_counts(target)
        except sqlite3.DatabaseError as exc:
            raise _destination_error(dest, exc) from None
    finally:
        target.close()
        source.close()
    return DatabasePart(kind="sqlite", file=None, source_path=str(Path(settings.path).resolve()), tables=counts)


def backup_sqlserver(settings: SqlServerDatabase, server_path: str, label: str) -> DatabasePart:
    """``BACKUP DATABASE`` to ``server_path`` on the SQL Server's own disk, then ``RESTORE VERIFYONLY``."""
    db = open_database(settings, read_only=False, role="source")
    try:
        run_tsql_to_end(db, tsql_backup_statement("backup_database", database=settings.database, path=server_path,
                                                  label=label))
        run_tsql_to_end(db, tsql_backup_statement("restore_verifyonly", path=server_path))
    except EngineError:
        raise
    except Exception as exc:  # pyodbc.Error: the message can echo the connection string; the state only
        state = exc.args[0] if getattr(exc, "args", None) else "unknown"
        raise EngineError("DatabaseUnreadable", f"SQL Server {settings.server} could not back up {settings.database} "
                          f"to {server_path} (ODBC state {state}).", target=f"{settings.database} on {settings.server}",
                          recommended_action="Check that the login may back up the database (db_backupoperator) "
                          "and that the folder exists on the SQL Server and is writable by its service.") from None
    finally:
        db.close()
    return DatabasePart(kind="sqlserver", server=settings.server, database=settings.database, backup_file=server_path,
                        external=True, note="The backup file was written by SQL Server on its own disk, not into "
                        "this set; keep it with the set. It was checked with RESTORE VERIFYONLY.")


def integrity_problem(path: Path) -> str | None:
    """None when the SQLite file opens and passes ``PRAGMA integrity_check``; else what is wrong."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return f"does not open as a SQLite database ({exc})"
    try:
        rows = [r[0] for r in conn.execute(SQLITE_ONLY["integrity_check"]).fetchmany(5)]
        if rows != ["ok"]:
            return "fails the integrity check: " + "; ".join(str(r) for r in rows)
        return None
    except sqlite3.DatabaseError as exc:
        return f"fails the integrity check ({exc})"
    finally:
        conn.close()


def table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return _table_counts(conn)
    finally:
        conn.close()


def verify_sqlserver(settings: SqlServerDatabase, server_path: str) -> None:
    db = open_database(settings, read_only=False, role="source")
    try:
        run_tsql_to_end(db, tsql_backup_statement("restore_verifyonly", path=server_path))
    except Exception as exc:
        state = exc.args[0] if getattr(exc, "args", None) else "unknown"
        raise EngineError("BackupSetInvalid", f"RESTORE VERIFYONLY of {server_path} on {settings.server} failed "
                          f"(ODBC state {state}).", target=server_path,
                          recommended_action="Take a new backup of the database.") from None
    finally:
        db.close()


def restore_sqlserver(settings: SqlServerDatabase, server_path: str) -> None:
    # A database cannot be restored over while this connection uses it: connect to master.
    db = open_database(settings.model_copy(update={"database": "master"}), read_only=False, role="source")
    try:
        run_tsql_to_end(db, tsql_backup_statement("restore_database", database=settings.database, path=server_path))
    except Exception as exc:
        state = exc.args[0] if getattr(exc, "args", None) else "unknown"
        raise EngineError("TargetWriteFailed", f"RESTORE DATABASE {settings.database} from {server_path} on "
                          f"{settings.server} failed (ODBC state {state}).", target=f"{settings.database} on "
                          f"{settings.server}", recommended_action="Stop the GroupID services that hold the database "
                          "open, check the login may restore it (dbcreator), and run again.") from None
    finally:
        db.close()
