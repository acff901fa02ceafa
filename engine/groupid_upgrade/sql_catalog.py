"""Every SQL statement the engine can send, rendered by the builders that send it, over the real schemas.

No SQL Server runs where the tests run, so the T-SQL texts are proved by parsing them (tests/test_tsql_scriptdom.py
parses each with Microsoft's own parser under the SQL Server 2016 and 2022 grammars). The catalog is built, never
written out: each producer below calls the builders of ``storage/sql.py`` exactly as the engine's code does, over
every table of the source (``source/schema.py``) and target (``target/schema.py``) schemas, so a new table, column,
builder or dialect change is in the catalog the moment it is in the engine.

To add a statement: add one producer line to ``PRODUCERS`` (or one ``yield`` in the producer of its room) that calls
the builder the engine calls. No SQL is written anywhere else (tests/test_tsql_scriptdom.py scans the engine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from .source import schema as source_schema
from .storage.sql import (
    SQLITE_ONLY,
    STATEMENTS,
    TSQL_ONLY,
    Dialect,
    Table,
    create_index,
    create_table,
    insert,
    sqlite_count_table,
    statement,
    table_ref,
    tsql_backup_statement,
)
from .target import schema as target_schema

StatementKind = Literal["select", "insert", "update", "delete", "create table", "create index", "backup", "restore",
                        "dbcc", "pragma"]


@dataclass(frozen=True)
class EmittedStatement:
    """One statement as the engine sends it: ``?`` markers for parameters, identifiers filled in."""

    name: str  # unique within the catalog, says what and over which table
    sql: str
    kind: StatementKind
    sent_by: str  # where the engine sends it (module, function), for the reader of a failure


Producer = Callable[[Dialect], Iterable[EmittedStatement]]

#: Every table the engine reads or writes, with the room that owns it.
SCHEMA_TABLES: tuple[tuple[str, Table], ...] = (
    *(("source", table) for table in source_schema.TABLES),
    *(("target", table) for table in target_schema.TABLES),
)

# The kind of each catalogued statement of storage/sql.py; a new entry there needs its kind here (a test says so).
STATEMENT_KINDS: dict[str, StatementKind] = {
    "count_rows": "select", "count_rows_by": "select", "select_all_ordered": "select", "select_page_after": "select",
    "select_page_first": "select", "select_page_where_after": "select", "count_rows_where_by": "select",
    "delete_where_key_in_range": "delete", "delete_where_key": "delete", "select_keys_not_like": "select",
    "count_keys_like": "select", "select_keys_like": "select", "end_run": "update", "select_open_runs": "select",
    "select_ended_runs": "select",
    "select_where_key": "select", "table_exists": "select",
}
TSQL_ONLY_KINDS: dict[str, StatementKind] = {
    "backup_database": "backup", "restore_verifyonly": "restore", "restore_database": "restore",
    "integrity_check": "dbcc",
}
SQLITE_ONLY_KINDS: dict[str, StatementKind] = {
    "list_tables": "select", "integrity_check": "pragma", "journal_mode_delete": "pragma", "data_version": "pragma",
}

# Statements that name their columns (not filled in per table): the one table they are sent to.
STATEMENT_TABLE: dict[str, str] = {"end_run": target_schema.RUN.name, "select_open_runs": target_schema.RUN.name,
                                   "select_ended_runs": target_schema.RUN.name}
SENT_TSQL_ONLY = ("backup_database", "restore_verifyonly", "restore_database")
# Database names and paths as a user may write them: a ']' and a quote must stay inside their identifier and
# literal (backup/database.py quotes them with tsql_identifier and tsql_literal).
BACKUP_DATABASES = ("GroupID10", "Group]ID 10 'prod'")
BACKUP_PATHS = (r"D:\SQL Backups\GroupID10.bak", r"\\backup01\sql$\GroupID 'nightly' ]2024[.bak")


def _uses(text: str, slot: str) -> bool:
    return "{" + slot + "}" in text


def catalogued_statements(dialect: Dialect) -> Iterator[EmittedStatement]:
    """``storage/sql.py``'s ``STATEMENTS`` over every table, each identifier slot filled with each column, as
    ``Database``'s methods (count, count_by, select_all, keyset_pages, keyset_pages_where, count_where_by,
    keys_not_like, has_key, has_table) and the history pipeline's outbox delete send them."""
    for name, texts in STATEMENTS.items():
        kind = STATEMENT_KINDS[name]
        text = texts[dialect]
        if not _uses(text, "table"):
            yield EmittedStatement(name, text, kind, "storage/sql.py Database.has_table")
            continue
        for room, table in SCHEMA_TABLES:
            if name in STATEMENT_TABLE and STATEMENT_TABLE[name] != table.name:
                continue  # its columns are that table's own (the ledger's run rows)
            slots = [slot for slot in ("key", "column") if _uses(text, slot)]
            columns = table.column_names
            fillings: list[dict[str, str]] = [{}]
            if len(slots) == 1:  # each column in the slot: any column may be a key or a count's "by"
                fillings = [{slots[0]: column} for column in columns]
            elif slots:
                fillings = [{"key": table.key, "column": column} for column in columns]
                fillings += [{"key": column, "column": table.key} for column in columns if column != table.key]
            for filling in fillings:
                sql = statement(name, dialect, table=table.name, columns=table.column_names,
                                key=filling.get("key"), column=filling.get("column"))
                detail = ", ".join(f"{slot}={value}" for slot, value in sorted(filling.items()))
                yield EmittedStatement(f"{name} {table.name}" + (f" ({detail})" if detail else ""), sql, kind,
                                       f"storage/sql.py Database ({room} tables)")


def schema_statements(dialect: Dialect) -> Iterator[EmittedStatement]:
    """The DDL and the row writes: every table created (the target's first run, the sample's source, the
    doctor's probe) and every row inserted (target/writer.py upsert, history/pipeline.py, the sample)."""
    for room, table in SCHEMA_TABLES:
        yield EmittedStatement(f"create table {table.name}", create_table(table.name, table.columns, (table.key,),
                                                                          dialect), "create table",
                               "target/writer.py _ensure_schema" if room == "target" else "sample/generator.py")
        yield EmittedStatement(f"insert {table.name}", insert(table.name, table.column_names, dialect), "insert",
                               "target/writer.py upsert, history/pipeline.py" if room == "target"
                               else "sample/generator.py")
    yield EmittedStatement("create index Hist_History_Store",
                           create_index("Hist_History_Store", source_schema.HISTORY.name,
                                        ("IdentityStoreId", "HistoryId"), dialect), "create index",
                           "sample/generator.py")
    yield EmittedStatement("create table doctor probe",
                           create_table("Upg.DoctorProbe0a1b2c3d", (("Id", "key", False),), ("Id",), dialect),
                           "create table", "doctor.py target_database")


def backup_statements(dialect: Dialect) -> Iterator[EmittedStatement]:
    """BACKUP DATABASE ... WITH CHECKSUM, RESTORE VERIFYONLY, RESTORE DATABASE (backup/database.py), DBCC; on
    SQLite the backup's table listing, counts and checks."""
    if dialect == "tsql":
        for name, text in TSQL_ONLY.items():
            databases = BACKUP_DATABASES if _uses(text, "database") else (None,)
            paths = BACKUP_PATHS if _uses(text, "path") else BACKUP_PATHS[:1]
            sent_by = "backup/database.py" if name in SENT_TSQL_ONLY else "storage/sql.py TSQL_ONLY (sent by none yet)"
            for database in databases:
                for path in paths:
                    sql = tsql_backup_statement(name, database=database, path=path,
                                                label=f"GroupIDUpgrade {database or ''}".strip())
                    detail = " ".join(repr(v) for v in (database, path if _uses(text, "path") else None) if v)
                    yield EmittedStatement(f"{name} {detail}".strip(), sql, TSQL_ONLY_KINDS[name], sent_by)
        return
    for name, sql in SQLITE_ONLY.items():
        yield EmittedStatement(name, sql, SQLITE_ONLY_KINDS[name], "backup/database.py, sample/generator.py, target/kept.py")
    for _room, table in SCHEMA_TABLES:
        sqlite_name = table_ref(table.name, "sqlite")
        yield EmittedStatement(f"count table {sqlite_name}", sqlite_count_table(sqlite_name), "select",
                               "backup/database.py _table_counts")


#: The producers, one line each.
PRODUCERS: tuple[Producer, ...] = (
    catalogued_statements,
    schema_statements,
    backup_statements,
)


def emitted_statements(dialect: Dialect = "tsql") -> list[EmittedStatement]:
    """Every statement the engine can send in ``dialect``, each text once (the first name that produced it)."""
    seen: set[str] = set()
    names: set[str] = set()
    out: list[EmittedStatement] = []
    for produce in PRODUCERS:
        for emitted in produce(dialect):
            if emitted.name in names:
                raise ValueError(f"two catalogued statements are named {emitted.name!r}")
            names.add(emitted.name)
            if emitted.sql in seen:
                continue
            seen.add(emitted.sql)
            out.append(emitted)
    return out
