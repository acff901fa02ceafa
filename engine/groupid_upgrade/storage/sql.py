"""Every SQL statement the engine sends, per dialect, and the one way to open a database.

Two dialects: ``sqlite`` (the embedded default, through Python's sqlite3 or through pyodbc with the
SQLite3 ODBC driver) and ``tsql`` (SQL Server through pyodbc). Both drivers take ``?`` placeholders,
so a statement differs between dialects only in its text; the parameter order is fixed per
statement. Table names are written ``{Schema.Table}`` and rendered per dialect: ``Svc_IdentityStore``
on SQLite (which has no schemas), ``[Svc].[IdentityStore]`` on SQL Server.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import EngineError

Dialect = Literal["sqlite", "tsql"]

_TABLE_REF = re.compile(r"\{([A-Za-z]+)\.([A-Za-z0-9]+)\}")


def table_name(schema: str, table: str, dialect: Dialect) -> str:
    if dialect == "sqlite":
        return f"{schema}_{table}"
    return f"[{schema}].[{table}]"


def table_ref(table: str, dialect: Dialect) -> str:
    """A ``Schema.Table`` name (as ``Table.name`` holds it) rendered for the dialect, each part a plain identifier."""
    schema, _, tbl = table.partition(".")
    return table_name(_check_identifier(schema), _check_identifier(tbl), dialect)


def render(sql: str, dialect: Dialect) -> str:
    """Replace ``{Schema.Table}`` references with the dialect's table name."""
    return _TABLE_REF.sub(lambda m: table_name(m.group(1), m.group(2), dialect), sql)


# --- statements --------------------------------------------------------------------------------
# Each entry: name -> {dialect: text}. Statements the tests cannot run on SQLite (BACKUP DATABASE)
# are listed in TSQL_ONLY. Keyset paging: rows after a key, ordered by it, a page at a time; never
# OFFSET, never fetchall.

STATEMENTS: dict[str, dict[Dialect, str]] = {
    "count_rows": {
        "sqlite": "SELECT COUNT(*) FROM {table}",
        "tsql": "SELECT COUNT_BIG(*) FROM {table}",
    },
    "count_rows_by": {
        "sqlite": "SELECT {column}, COUNT(*) FROM {table} GROUP BY {column} ORDER BY {column}",
        "tsql": "SELECT {column}, COUNT_BIG(*) FROM {table} GROUP BY {column} ORDER BY {column}",
    },
    "select_all_ordered": {
        "sqlite": "SELECT {columns} FROM {table} ORDER BY {key}",
        "tsql": "SELECT {columns} FROM {table} ORDER BY {key}",
    },
    "select_page_after": {
        # params: (after_key, page_size)
        "sqlite": "SELECT {columns} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?",
        "tsql": "SELECT TOP (?) {columns} FROM {table} WHERE {key} > ? ORDER BY {key}",
    },
    "select_page_first": {
        # params: (page_size,)
        "sqlite": "SELECT {columns} FROM {table} ORDER BY {key} LIMIT ?",
        "tsql": "SELECT TOP (?) {columns} FROM {table} ORDER BY {key}",
    },
    "select_page_where_after": {
        # params: (where_value, after_key, page_size)
        "sqlite": "SELECT {columns} FROM {table} WHERE {column} = ? AND {key} > ? ORDER BY {key} LIMIT ?",
        "tsql": "SELECT TOP (?) {columns} FROM {table} WHERE {column} = ? AND {key} > ? ORDER BY {key}",
    },
    "count_rows_where_by": {
        # params: (where_value,); counts per value of {key} among the rows where {column} = ?
        "sqlite": "SELECT {key}, COUNT(*) FROM {table} WHERE {column} = ? GROUP BY {key} ORDER BY {key}",
        "tsql": "SELECT {key}, COUNT_BIG(*) FROM {table} WHERE {column} = ? GROUP BY {key} ORDER BY {key}",
    },
    "delete_where_key_in_range": {
        # params: (first_key, last_key)
        "sqlite": "DELETE FROM {table} WHERE {key} >= ? AND {key} <= ?",
        "tsql": "DELETE FROM {table} WHERE {key} >= ? AND {key} <= ?",
    },
    "delete_where_key": {
        "sqlite": "DELETE FROM {table} WHERE {key} = ?",
        "tsql": "DELETE FROM {table} WHERE {key} = ?",
    },
    "select_keys_not_like": {
        # params: (like_pattern,); the keys that do not match it, ordered
        "sqlite": "SELECT {key} FROM {table} WHERE {key} NOT LIKE ? ORDER BY {key}",
        "tsql": "SELECT {key} FROM {table} WHERE {key} NOT LIKE ? ORDER BY {key}",
    },
    "select_where_key": {
        "sqlite": "SELECT {columns} FROM {table} WHERE {key} = ?",
        "tsql": "SELECT {columns} FROM {table} WHERE {key} = ?",
    },
    "count_keys_like": {
        # params: (like_pattern,)
        "sqlite": "SELECT COUNT(*) FROM {table} WHERE {key} LIKE ?",
        "tsql": "SELECT COUNT_BIG(*) FROM {table} WHERE {key} LIKE ?",
    },
    "select_keys_like": {
        # params: (like_pattern,); the keys that match it, ordered
        "sqlite": "SELECT {key} FROM {table} WHERE {key} LIKE ? ORDER BY {key}",
        "tsql": "SELECT {key} FROM {table} WHERE {key} LIKE ? ORDER BY {key}",
    },
    "end_run": {
        # params: (finished_on, status, run_id)
        "sqlite": "UPDATE {table} SET FinishedOn = ?, Status = ? WHERE RunId = ?",
        "tsql": "UPDATE {table} SET FinishedOn = ?, Status = ? WHERE RunId = ?",
    },
    "select_open_runs": {
        "sqlite": "SELECT RunId, StartedOn FROM {table} WHERE FinishedOn IS NULL ORDER BY StartedOn",
        "tsql": "SELECT RunId, StartedOn FROM {table} WHERE FinishedOn IS NULL ORDER BY StartedOn",
    },
    "select_ended_runs": {
        "sqlite": "SELECT Modules, Status FROM {table} WHERE FinishedOn IS NOT NULL ORDER BY StartedOn",
        "tsql": "SELECT Modules, Status FROM {table} WHERE FinishedOn IS NOT NULL ORDER BY StartedOn",
    },
    "table_exists": {
        "sqlite": "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        "tsql": "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
    },
}

# Statements whose parameter order differs between dialects: a map from dialect to how to reorder
# the caller's (logical) parameters.
_PARAM_ORDER: dict[str, dict[Dialect, tuple[int, ...]]] = {
    "select_page_after": {"sqlite": (0, 1), "tsql": (1, 0)},
    "select_page_where_after": {"sqlite": (0, 1, 2), "tsql": (2, 0, 1)},
}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def quote_identifier(name: str, dialect: Dialect) -> str:
    """A plain identifier quoted for the dialect, so a column or index named like a keyword (Order, Key,
    Percent) stays a name: ``[Name]`` on SQL Server, ``"Name"`` on SQLite."""
    _check_identifier(name)
    return f"[{name}]" if dialect == "tsql" else f'"{name}"'


def statement(
    name: str,
    dialect: Dialect,
    *,
    table: str | None = None,
    columns: Sequence[str] = (),
    key: str | None = None,
    column: str | None = None,
) -> str:
    """The text of a catalogued statement for a dialect, with its identifiers filled in."""
    text = STATEMENTS[name][dialect]
    fills: dict[str, str] = {}
    if table is not None:
        fills["table"] = table_ref(table, dialect)
    if columns:
        fills["columns"] = ", ".join(quote_identifier(c, dialect) for c in columns)
    if key is not None:
        fills["key"] = quote_identifier(key, dialect)
    if column is not None:
        fills["column"] = quote_identifier(column, dialect)
    return text.format(**fills)


def order_params(name: str, dialect: Dialect, params: Sequence[Any]) -> tuple[Any, ...]:
    order = _PARAM_ORDER.get(name, {}).get(dialect)
    if order is None:
        return tuple(params)
    return tuple(params[i] for i in order)


# --- connections ---------------------------------------------------------------------------------


@dataclass
class Database:
    """An open database: a DB-API connection, its dialect and a name for messages."""

    connection: Any
    dialect: Dialect
    display_name: str
    driver: Literal["sqlite3", "pyodbc"]

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self.connection.cursor()
        cursor.execute(sql, tuple(params))
        return cursor

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def count(self, table: str) -> int:
        return int(self.scalar(statement("count_rows", self.dialect, table=table)))

    def count_by(self, table: str, column: str) -> dict[Any, int]:
        cursor = self.execute(statement("count_rows_by", self.dialect, table=table, column=column))
        return {row[0]: int(row[1]) for row in cursor}

    def has_table(self, table: str) -> bool:
        schema, _, tbl = table.partition(".")
        if self.dialect == "sqlite":
            return bool(self.scalar(STATEMENTS["table_exists"]["sqlite"], (f"{schema}_{tbl}",)))
        return bool(self.scalar(STATEMENTS["table_exists"]["tsql"], (schema, tbl)))

    def keys_not_like(self, table: str, key: str, pattern: str) -> Iterator[Any]:
        """The values of ``key`` that do not match the LIKE ``pattern``, ordered, streamed from the cursor."""
        cursor = self.execute(statement("select_keys_not_like", self.dialect, table=table, key=key), (pattern,))
        while rows := cursor.fetchmany(500):
            for row in rows:
                yield row[0]

    def has_key(self, table: str, key: str, value: Any) -> bool:
        return self.execute(statement("select_where_key", self.dialect, table=table, columns=(key,), key=key),
                            (value,)).fetchone() is not None

    def select_all(self, table: str, columns: Sequence[str], key: str) -> Iterator[tuple[Any, ...]]:
        """All rows of a small table, ordered by its key, streamed from the cursor."""
        cursor = self.execute(statement("select_all_ordered", self.dialect, table=table, columns=columns, key=key))
        while True:
            rows = cursor.fetchmany(500)
            if not rows:
                return
            for row in rows:
                yield tuple(row)

    def keyset_pages(
        self, table: str, columns: Sequence[str], key: str, page_size: int = 5000, after: Any = None
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Pages of rows ordered by ``key`` (which must be among ``columns``), each after the last.

        Memory is one page; each page is one indexed range read, so the cost does not grow with the
        position in the table the way OFFSET does.
        """
        key_index = list(columns).index(key)
        last = after
        while True:
            if last is None:
                sql = statement("select_page_first", self.dialect, table=table, columns=columns, key=key)
                params: tuple[Any, ...] = (page_size,)
            else:
                sql = statement("select_page_after", self.dialect, table=table, columns=columns, key=key)
                params = order_params("select_page_after", self.dialect, (last, page_size))
            rows = [tuple(r) for r in self.execute(sql, params).fetchall()]
            if not rows:
                return
            yield rows
            if len(rows) < page_size:
                return
            last = rows[-1][key_index]

    def keyset_pages_where(
        self, table: str, columns: Sequence[str], key: str, column: str, value: Any, page_size: int = 5000,
        after: Any = None,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Like ``keyset_pages``, over the rows where ``column = value`` (one partition, e.g. a store)."""
        key_index = list(columns).index(key)
        last = after
        sql = statement("select_page_where_after", self.dialect, table=table, columns=columns, key=key,
                        column=column)
        while True:
            # A key below every real one stands for "from the start", so one statement serves both.
            params = order_params("select_page_where_after", self.dialect,
                                  (value, -(2**62) if last is None else last, page_size))
            rows = [tuple(r) for r in self.execute(sql, params).fetchall()]
            if not rows:
                return
            yield rows
            if len(rows) < page_size:
                return
            last = rows[-1][key_index]

    def count_where_by(self, table: str, column: str, value: Any, by: str) -> dict[Any, int]:
        cursor = self.execute(statement("count_rows_where_by", self.dialect, table=table, column=column, key=by),
                              (value,))
        return {row[0]: int(row[1]) for row in cursor}

    def data_version(self) -> int | None:
        """SQLite's count of commits by other connections (None for SQL Server)."""
        if self.dialect != "sqlite":
            return None
        return int(self.scalar(SQLITE_ONLY["data_version"]))

    def close(self) -> None:
        # Closing must never mask the error that led here.
        with contextlib.suppress(Exception):
            self.connection.close()


def read_only_uri(path: Path) -> str:
    """A ``file:`` URI SQLite itself opens read-only. With no ``-wal`` beside the file it is also
    ``immutable``: SQLite then takes no lock and creates no side file (``-wal``, ``-shm``), so reading
    writes nothing at all. With a ``-wal`` (a writer that was killed, or one still running) the WAL holds
    committed data and must be read, and SQLite rebuilds its ``-shm`` index (docs/decisions.md)."""
    uri = f"{path.resolve().as_uri()}?mode=ro"
    if not Path(f"{path}-wal").exists():
        uri += "&immutable=1"
    return uri


def open_sqlite(path: Path, *, read_only: bool, via: Literal["sqlite3", "odbc"] = "sqlite3",
                display_name: str | None = None, create: bool = False) -> Database:
    """Open a SQLite database file; ``read_only`` opens it so no write can reach it (R4)."""
    name = display_name or str(path)
    if not create and not path.is_file():
        raise EngineError(
            "DatabaseUnreadable",
            f"The database file {path} does not exist.",
            target=name,
            recommended_action="Check the database path in the answer file.",
        )
    if via == "odbc":
        return _open_sqlite_odbc(path, read_only=read_only, display_name=name)
    try:
        if read_only:
            conn = sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False)
        else:
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Reading the schema proves the file is a database and not, say, a truncated copy.
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise EngineError(
            "DatabaseUnreadable",
            f"The database {name} cannot be read as a SQLite database ({exc}).",
            target=name,
            recommended_action="Check that the path points at the GroupID database and that the file is intact.",
        ) from None
    return Database(conn, "sqlite", name, "sqlite3")


def _open_sqlite_odbc(path: Path, *, read_only: bool, display_name: str) -> Database:
    import pyodbc

    # The driver ignores ReadOnly=1 and SQL_MODE_READ_ONLY (a DELETE goes through): only a file: URI
    # with mode=ro makes SQLite itself refuse writes, which R4 relies on. NoCreat: a wrong path is
    # an error, not a new empty database.
    database = read_only_uri(path) if read_only else str(path)
    if ";" in database or database.startswith("{"):
        # The SQLite3 ODBC driver takes no braces (a braced value fails to open), so such a path has no
        # quoting that keeps it one value: refused rather than let it add keywords.
        raise EngineError("ConnectionStringInvalid", f"The database path {path} holds ';' (or begins with '{{'), "
                          "which the SQLite3 ODBC driver cannot take.", target=display_name,
                          recommended_action="Move the database to a path without ';', or use via: sqlite3.")
    conn_str = f"Driver=SQLite3;Database={database};NoCreat=1;Timeout=5000;"
    try:
        conn = pyodbc.connect(conn_str, autocommit=not read_only)
        conn.cursor().execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except pyodbc.Error as exc:
        raise EngineError(
            "DatabaseUnreadable",
            f"The database {display_name} cannot be opened through ODBC ({exc.args[-1] if exc.args else exc}).",
            target=display_name,
            recommended_action="Check that the SQLite3 ODBC driver is installed and the path is right.",
        ) from None
    return Database(conn, "sqlite", display_name, "pyodbc")


def odbc_value(value: str, *, always: bool = False) -> str:
    """One value of an ODBC connection string, quoted as ODBC requires: in braces, ``}`` doubled, when
    it holds ``;``, ``{``, ``}`` or ``=``, or begins or ends with a space (or ``always``), so no user
    name, password or database name can end its value and add a keyword of its own."""
    if "\x00" in value:
        raise EngineError("ConnectionStringInvalid", "A value of the database connection holds a NUL character.",
                          recommended_action="Correct the database settings in the answer file.")
    if always or any(c in value for c in ";{}=") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def sqlserver_connection_string(
    *, driver: str, server: str, database: str, user: str | None, password: str | None,
    encrypt: bool = True, trust_server_certificate: bool = False, port: int | None = None,
) -> str:
    """An ODBC connection string for SQL Server (Microsoft ODBC 17/18 or FreeTDS)."""
    host = f"{server},{port}" if port else server
    parts = [f"Driver={odbc_value(driver, always=True)}", f"Server={odbc_value(host)}",
             f"Database={odbc_value(database)}"]
    if user:
        parts += [f"UID={odbc_value(user)}", f"PWD={odbc_value(password or '', always=True)}"]
    else:
        parts.append("Trusted_Connection=yes")
    if "freetds" not in driver.lower():
        parts.append(f"Encrypt={'yes' if encrypt else 'no'}")
        parts.append(f"TrustServerCertificate={'yes' if trust_server_certificate else 'no'}")
    else:
        parts.append(f"Port={port or 1433}")
        parts.append("TDS_Version=7.4")
    return ";".join(parts) + ";"


def open_sqlserver(connection_string: str, *, display_name: str, timeout: int = 15) -> Database:
    import pyodbc

    try:
        conn = pyodbc.connect(connection_string, timeout=timeout, autocommit=False)
    except pyodbc.Error as exc:
        # The driver's message can echo the connection string; keep only its SQLSTATE.
        state = exc.args[0] if exc.args else "unknown"
        raise EngineError(
            "DatabaseConnectionFailed",
            f"Could not connect to SQL Server {display_name} (ODBC state {state}).",
            target=display_name,
            recommended_action="Check the server name and port, that SQL Server accepts TCP connections, "
            "and the credentials in the answer file.",
        ) from None
    return Database(conn, "tsql", display_name, "pyodbc")


#: How long a write waits for another process's lock on a SQLite file before it gives up.
BUSY_TIMEOUT_MS = 10_000


def database_locked(db: Database) -> EngineError:
    """The error for a database another process holds locked (only the target is ever written)."""
    return EngineError(
        "TargetLocked",
        f"The {db.display_name} is locked by another process (waited {BUSY_TIMEOUT_MS // 1000} s).",
        target=db.display_name,
        recommended_action="Close the program holding it (another run, a database browser) and run again; "
                           "the run resumes where it stopped.",
    )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _rollback(cursor: Any) -> None:
    # After a full disk or an I/O error SQLite may have rolled back already ("cannot rollback - no
    # transaction is active"): that must not replace the error that says what happened.
    with contextlib.suppress(sqlite3.Error):
        cursor.execute("ROLLBACK")


@contextmanager
def transaction(db: Database) -> Iterator[Any]:
    """One transaction: everything inside commits together or not at all."""
    if db.driver == "sqlite3":
        cursor = db.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise database_locked(db) from None
            raise
        try:
            yield cursor
        except BaseException:
            _rollback(cursor)
            raise
        try:
            cursor.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(cursor)
            if _is_busy(exc):
                raise database_locked(db) from None
            raise
    else:
        cursor = db.connection.cursor()
        try:
            yield cursor
        except BaseException:
            db.connection.rollback()
            raise
        db.connection.commit()


# --- DDL ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table of a storage's format: its name (``Schema.Table``), keyset key and columns."""

    name: str
    key: str  # the single-column key that orders keyset paging
    columns: tuple[tuple[str, str, bool], ...]  # (name, type, nullable)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c[0] for c in self.columns)


_COLUMN_TYPES: dict[str, dict[Dialect, str]] = {
    # BIGINT, not INTEGER: the SQLite3 ODBC driver reads a column declared INTEGER as 32-bit
    # (2**40 comes back as 0); SQLite gives both the same integer affinity.
    "int": {"sqlite": "BIGINT", "tsql": "BIGINT"},
    "text": {"sqlite": "TEXT", "tsql": "NVARCHAR(MAX)"},
    "key": {"sqlite": "TEXT", "tsql": "NVARCHAR(400)"},
    "bool": {"sqlite": "INTEGER", "tsql": "BIT"},
    "datetime": {"sqlite": "TEXT", "tsql": "DATETIMEOFFSET"},
    "blob": {"sqlite": "BLOB", "tsql": "VARBINARY(MAX)"},
}


def create_table(table: str, columns: Sequence[tuple[str, str, bool]], primary_key: Sequence[str],
                 dialect: Dialect) -> str:
    """``CREATE TABLE`` for (name, type, nullable) columns; types are keys of ``_COLUMN_TYPES``."""
    cols = []
    for name, col_type, nullable in columns:
        cols.append(f"{quote_identifier(name, dialect)} {_COLUMN_TYPES[col_type][dialect]}"
                    f"{'' if nullable else ' NOT NULL'}")
    pk = ", ".join(quote_identifier(c, dialect) for c in primary_key)
    return f"CREATE TABLE {table_ref(table, dialect)} ({', '.join(cols)}, PRIMARY KEY ({pk}))"


def create_index(name: str, table: str, columns: Sequence[str], dialect: Dialect) -> str:
    cols = ", ".join(quote_identifier(c, dialect) for c in columns)
    return f"CREATE INDEX {quote_identifier(name, dialect)} ON {table_ref(table, dialect)} ({cols})"


def insert(table: str, columns: Sequence[str], dialect: Dialect) -> str:
    names = ", ".join(quote_identifier(c, dialect) for c in columns)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table_ref(table, dialect)} ({names}) VALUES ({marks})"


def upsert(cursor: Any, table: Table, row: dict[str, Any], dialect: Dialect) -> None:
    """Replace the row with the same key: a unit written twice leaves one row (idempotent)."""
    cursor.execute(statement("delete_where_key", dialect, table=table.name, key=table.key), (row[table.key],))
    cursor.execute(insert(table.name, table.column_names, dialect), tuple(row.get(c) for c in table.column_names))


# --- backup and restore (T-SQL only; rules R17, R18) ----------------------------------------------
# SQL Server takes no parameter markers for a database name in BACKUP/RESTORE; the name is quoted as
# an identifier ([...], ``]`` doubled) and the path as a Unicode literal (N'...', ``'`` doubled). The
# path is on the SQL Server's own disk, not on the engine's machine.
TSQL_ONLY: dict[str, str] = {
    "backup_database": "BACKUP DATABASE {database} TO DISK = {path} WITH CHECKSUM, COPY_ONLY, INIT, "
                       "NAME = {name}",
    "restore_verifyonly": "RESTORE VERIFYONLY FROM DISK = {path} WITH CHECKSUM",
    "restore_database": "RESTORE DATABASE {database} FROM DISK = {path} WITH CHECKSUM, REPLACE, RECOVERY",
    "integrity_check": "DBCC CHECKDB WITH NO_INFOMSGS",
}


def tsql_identifier(name: str) -> str:
    if not name or "\x00" in name or len(name) > 128:
        raise ValueError("a SQL Server identifier is 1 to 128 characters without NUL")
    return "[" + name.replace("]", "]]") + "]"


def tsql_literal(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a T-SQL string literal cannot hold NUL")
    return "N'" + text.replace("'", "''") + "'"


def tsql_backup_statement(name: str, *, database: str | None = None, path: str, label: str = "") -> str:
    """A T-SQL backup/restore statement of ``TSQL_ONLY`` with its database name and path quoted."""
    fills = {"path": tsql_literal(path), "name": tsql_literal(label or "GroupIDUpgrade backup")}
    if database is not None:
        fills["database"] = tsql_identifier(database)
    return TSQL_ONLY[name].format(**fills)


# --- SQLite only (the embedded database's backup and check, the sample) ----------------------------
SQLITE_ONLY: dict[str, str] = {
    "list_tables": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    "integrity_check": "PRAGMA integrity_check",
    # A database handed over as one file (a backup's copy, the sample): no WAL beside it, so it opens read-only.
    "journal_mode_delete": "PRAGMA journal_mode=DELETE",
    # Changes exactly when another connection committed to the file (target.kept: a kept target noticing).
    "data_version": "PRAGMA data_version",
}


def sqlite_count_table(name: str) -> str:
    """``COUNT(*)`` of a table named as ``sqlite_master`` names it: any text, quoted, ``"`` doubled (a
    backed-up file's table names are not the engine's own)."""
    if "\x00" in name:
        raise ValueError("a SQLite table name cannot hold NUL")
    return 'SELECT COUNT(*) FROM "' + name.replace('"', '""') + '"'


def run_tsql_to_end(db: Database, sql: str) -> None:
    """Run a statement that must not sit in a transaction (BACKUP, RESTORE) and read every result
    and message it returns, so an error in a later batch of its output is raised, not dropped."""
    previous = db.connection.autocommit
    db.connection.autocommit = True
    try:
        cursor = db.connection.cursor()
        cursor.execute(sql)
        while cursor.nextset():
            pass
    finally:
        db.connection.autocommit = previous
