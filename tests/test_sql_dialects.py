"""The SQL room: the same rows through sqlite3 and pyodbc, every T-SQL statement parsed as T-SQL.

Needs unixODBC with the SQLite3 and FreeTDS drivers (installed by scripts/install-system-packages).
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from groupid_upgrade.errors import EngineError
from groupid_upgrade.source import schema
from groupid_upgrade.storage import sql
from groupid_upgrade.storage.sql import (
    STATEMENTS,
    create_table,
    insert,
    open_sqlite,
    open_sqlserver,
    order_params,
    sqlserver_connection_string,
    statement,
)
from support import leaks

ROWS = [
    (1, "Zoë Ørsted", "2024-04-30T23:05:00-05:00", b"\x00\xff\x10\x80", None),
    (2, None, None, None, 5),
    (3, "日本語のグループ", "2024-01-01T00:00:00+05:30", b"", -2),
    (4, "O'Brien; DROP TABLE", "2019-12-31T23:59:59.123456+00:00", bytes(range(256)), 2**40),
] + [(i, f"row {i} — ünïcode", f"2020-01-01T00:00:{i % 60:02d}+01:00", bytes([i % 256]) * 3, i) for i in
     range(5, 1206)]
COLUMNS = ("Id", "Name", "At", "Data", "N")


@pytest.fixture(scope="module")
def mixed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A space and a non-ASCII letter in the path, as in "C:\\Program Files\\Imanami\\GroupID 10.0".
    folder = tmp_path_factory.mktemp("sql") / "GroupID 10.0 Ü"
    folder.mkdir()
    path = folder / "mixed.db"
    conn = sqlite3.connect(path)
    conn.execute(create_table("Test.Mixed", [("Id", "int", False), ("Name", "text", True), ("At", "datetime", True),
                                             ("Data", "blob", True), ("N", "int", True)], ("Id",), "sqlite"))
    conn.executemany(insert("Test.Mixed", COLUMNS, "sqlite"), ROWS)
    conn.commit()
    conn.close()
    return path


def _all_rows(db: sql.Database, page_size: int) -> list[tuple]:
    return [row for page in db.keyset_pages("Test.Mixed", COLUMNS, "Id", page_size) for row in page]


@pytest.mark.parametrize("page_size", [1, 7, 1205, 5000])
def test_keyset_reader_returns_the_same_rows_through_sqlite3_and_pyodbc(mixed_db: Path, page_size: int) -> None:
    native = open_sqlite(mixed_db, read_only=True)
    odbc = open_sqlite(mixed_db, read_only=True, via="odbc")
    try:
        assert odbc.driver == "pyodbc"
        through_sqlite3 = _all_rows(native, page_size)
        through_pyodbc = _all_rows(odbc, page_size)
    finally:
        native.close()
        odbc.close()
    assert through_sqlite3 == [tuple(r) for r in ROWS]
    assert through_pyodbc == through_sqlite3
    assert [type(v) for v in through_pyodbc[3]] == [int, str, str, bytes, int]


def test_read_only_sqlite_refuses_writes_through_both_drivers(mixed_db: Path) -> None:
    for via in ("sqlite3", "odbc"):
        db = open_sqlite(mixed_db, read_only=True, via=via)
        try:
            with pytest.raises(Exception, match="(?i)read.?only|readonly|attempt to write"):
                db.execute("DELETE FROM Test_Mixed")
                db.connection.commit()
        finally:
            db.close()
    check = sqlite3.connect(mixed_db)
    assert check.execute("SELECT COUNT(*) FROM Test_Mixed").fetchone()[0] == len(ROWS)


def test_sqlite_odbc_on_garbage_file_is_database_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EngineError) as err:
        open_sqlite(bad, read_only=True, via="odbc")
    assert err.value.error_id == "DatabaseUnreadable"
    assert str(bad) in err.value.message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sql_server_through_freetds_to_a_refused_port_is_a_clear_connection_error() -> None:
    password = "Pw-for-refused-port-9f3a"
    port = _closed_port()
    conn_str = sqlserver_connection_string(driver="FreeTDS", server="127.0.0.1", database="GroupID10",
                                           user="sa", password=password, port=port)
    assert "Driver={FreeTDS}" in conn_str and f"Port={port}" in conn_str
    with pytest.raises(EngineError) as err:
        open_sqlserver(conn_str, display_name=f"source database GroupID10 on 127.0.0.1,{port}", timeout=5)
    assert err.value.error_id == "DatabaseConnectionFailed"
    assert f"127.0.0.1,{port}" in err.value.message
    leaks.assert_no_leaks({"the SQL password": password},
                          texts={"message": err.value.message, "error": str(err.value.to_error_object())})


def test_sqlserver_connection_string_quotes_a_password_with_braces() -> None:
    conn = sqlserver_connection_string(driver="ODBC Driver 18 for SQL Server", server="sql01", database="GroupID",
                                       user="sa", password="a}b;c")
    assert "PWD={a}}b;c};" in conn
    assert "Encrypt=yes" in conn and "TrustServerCertificate=no" in conn


# --- every T-SQL statement the engine can send -----------------------------------------------------

def _rendered_tsql() -> list[tuple[str, str, type[exp.Expression]]]:
    """(name, text, expected statement type) for every T-SQL statement the engine can produce."""
    kinds = {"count_rows": exp.Select, "count_rows_by": exp.Select, "select_all_ordered": exp.Select,
             "select_page_after": exp.Select, "select_page_first": exp.Select, "table_exists": exp.Select,
             "select_page_where_after": exp.Select, "count_rows_where_by": exp.Select,
             "delete_where_key_in_range": exp.Delete, "delete_where_key": exp.Delete, "select_where_key": exp.Select,
             "select_keys_not_like": exp.Select, "count_keys_like": exp.Select, "select_keys_like": exp.Select,
             "end_run": exp.Update, "select_open_runs": exp.Select, "select_ended_runs": exp.Select}
    assert set(kinds) == set(STATEMENTS), "a new statement needs its expected type here"
    out = []
    for name in STATEMENTS:
        text = statement(name, "tsql", table="Hist.History", columns=("HistoryId", "Action"), key="HistoryId",
                         column="IdentityStoreId")
        out.append((name, text, kinds[name]))
    from groupid_upgrade.target import schema as target_schema

    out.append(("create index", sql.create_index("Hist_History_Store", "Hist.History", ("IdentityStoreId", "HistoryId"),
                                                 "tsql"), exp.Create))
    for table in (*schema.TABLES, *target_schema.TABLES):
        out.append((f"create {table.name}", create_table(table.name, table.columns, (table.key,), "tsql"), exp.Create))
        out.append((f"insert {table.name}", insert(table.name, table.column_names, "tsql"), exp.Insert))
    return out


@pytest.mark.parametrize(("name", "text", "kind"), _rendered_tsql(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_tsql_statement_parses_as_tsql_to_its_statement_type(name: str, text: str,
                                                                   kind: type[exp.Expression]) -> None:
    parsed = sqlglot.parse(text, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    assert len(parsed) == 1
    tree = parsed[0]
    assert isinstance(tree, kind), f"{name}: parsed as {type(tree).__name__}"
    # sqlglot falls back to Command for text it does not understand: nothing may be left unparsed.
    assert not list(tree.find_all(exp.Command)), f"{name}: part of the statement was not parsed"


@pytest.mark.parametrize("name", ["count_rows", "count_rows_by", "select_all_ordered", "select_page_first",
                                  "select_page_after", "select_page_where_after", "count_rows_where_by",
                                  "select_where_key"])
def test_tsql_statements_transpiled_to_sqlite_give_the_sqlite_variant_rows(mixed_db: Path, name: str) -> None:
    kwargs = {"table": "Test.Mixed", "columns": ("Id", "Name", "N"), "key": "Id", "column": "N"}
    tsql_text = statement(name, "tsql", **kwargs)
    sqlite_text = statement(name, "sqlite", **kwargs)
    logical_params = {"select_page_first": (50,), "select_page_after": (100, 50),
                      "select_page_where_after": (5, 3, 50), "count_rows_where_by": (5,),
                      "select_where_key": (7,)}.get(name, ())
    # Bind the T-SQL-ordered values as literals, then transpile: this checks the T-SQL parameter
    # order too (sqlglot moves TOP to a trailing LIMIT, so placeholders cannot be compared).
    bound = tsql_text.replace("[Test].[Mixed]", "Test_Mixed")
    for value in order_params(name, "tsql", logical_params):
        bound = bound.replace("?", str(int(value)), 1)
    transpiled = sqlglot.transpile(bound, read="tsql", write="sqlite")[0]
    conn = sqlite3.connect(mixed_db)
    try:
        expected = conn.execute(sqlite_text, order_params(name, "sqlite", logical_params)).fetchall()
        got = conn.execute(transpiled).fetchall()
    finally:
        conn.close()
    assert expected, f"{name}: the SQLite variant returned nothing, the comparison would prove nothing"
    assert got == expected


def test_statement_refuses_identifiers_that_are_not_plain() -> None:
    with pytest.raises(ValueError, match="identifier"):
        statement("count_rows", "tsql", table="Hist.History; DROP TABLE x")
