"""The SQL layer on sqlite3: keyset paging returns exactly the rows of a plain SELECT; statements
render per dialect and refuse what is not an identifier; the T-SQL page statement's parameters."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from groupid_upgrade.errors import EngineError
from groupid_upgrade.sql_catalog import emitted_statements
from groupid_upgrade.storage.sql import (
    SQLITE_ONLY,
    STATEMENTS,
    Database,
    create_table,
    insert,
    open_sqlite,
    order_params,
    render,
    sqlite_count_table,
    statement,
    transaction,
)

TABLE = "Test.Rows"
COLUMNS = ("Id", "Name", "Payload", "Amount", "Note")


def make_rows(n: int) -> list[tuple[Any, ...]]:
    names = ["plain", "Zoë", "Ørsted", "Nguyễn", "密码", "emoji 🔑", "", "quote ' \" ;", "tab\tnew\nline"]
    rows = []
    for i in range(n):
        key = (i * 7919) % 1_000_003 + 1  # not inserted in key order
        rows.append(
            (
                key,
                None if i % 5 == 0 else f"{names[i % len(names)]} {i}",
                None
                if i % 4 == 1
                else bytes([(i * 37 + b) % 256 for b in range(i % 17)]) + b"\x00\xff"[: i % 3],
                None if i % 3 == 2 else (i - n // 2) * 2**40,  # negative and beyond 32 bits
                None,
            )
        )
    return rows


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_sqlite(tmp_path / "t.db", read_only=False, create=True)
    database.execute(
        create_table(
            TABLE,
            [
                ("Id", "int", False),
                ("Name", "text", True),
                ("Payload", "blob", True),
                ("Amount", "int", True),
                ("Note", "text", True),
            ],
            ("Id",),
            "sqlite",
        )
    )
    yield database
    database.close()


def fill(db: Database, rows: list[tuple[Any, ...]]) -> None:
    with transaction(db) as cur:
        cur.executemany(insert(TABLE, COLUMNS, "sqlite"), rows)


def plain_select(db: Database, key: str = "Id") -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in db.connection.execute(
            f"SELECT Id, Name, Payload, Amount, Note FROM Test_Rows ORDER BY {key}"
        )
    ]


N = 60


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 10, 20, 30, 59, 60, 61, 1000])
def test_keyset_pages_equal_a_plain_ordered_select(db: Database, page_size: int) -> None:
    fill(db, make_rows(N))
    expected = plain_select(db)
    pages = list(db.keyset_pages(TABLE, COLUMNS, "Id", page_size))
    assert [r for page in pages for r in page] == expected
    assert all(1 <= len(p) <= page_size for p in pages)
    assert all(len(p) == page_size for p in pages[:-1])
    # an exact multiple ends after the last full page at most one empty read later, never with an empty page
    assert len(pages) == -(-N // page_size)


def test_keyset_pages_keep_nulls_non_ascii_and_binary(db: Database) -> None:
    rows = make_rows(N)
    fill(db, rows)
    got = [r for page in db.keyset_pages(TABLE, COLUMNS, "Id", 8) for r in page]
    assert got == sorted(rows, key=lambda r: r[0])
    assert any(r[1] is None for r in got) and any(r[2] is None for r in got)
    assert any(isinstance(r[2], bytes) and b"\x00" in r[2] for r in got)
    assert any(r[1] and "密码" in r[1] for r in got)
    assert {r[0]: r for r in got} == {r[0]: r for r in rows}


def test_keyset_pages_of_an_empty_table(db: Database) -> None:
    assert list(db.keyset_pages(TABLE, COLUMNS, "Id", 5)) == []


@pytest.mark.parametrize("page_size", [1, 4, 5])
def test_keyset_pages_after_a_key(db: Database, page_size: int) -> None:
    fill(db, make_rows(20))
    expected = plain_select(db)
    after = expected[9][0]
    got = [r for page in db.keyset_pages(TABLE, COLUMNS, "Id", page_size, after=after) for r in page]
    assert got == expected[10:]


@pytest.mark.parametrize("page_size", [1, 3, 16])
def test_keyset_pages_on_a_text_key(tmp_path: Path, page_size: int) -> None:
    database = open_sqlite(tmp_path / "k.db", read_only=False, create=True)
    database.execute(
        create_table("Test.Keys", [("Name", "key", False), ("Value", "blob", True)], ("Name",), "sqlite")
    )
    keys = [
        "a",
        "B",
        "b",
        "Zoë",
        "zoe",
        "Ørsted",
        "密码",
        "🔑",
        "a b",
        "a\u0301",
        "á",
        "",
        " ",
        "0",
        "10",
        "9",
    ]
    with transaction(database) as cur:
        cur.executemany(
            insert("Test.Keys", ("Name", "Value"), "sqlite"),
            [(k, k.encode("utf-16-le") or None) for k in keys],
        )
    expected = [
        tuple(r) for r in database.connection.execute('SELECT "Name", "Value" FROM Test_Keys ORDER BY Name')
    ]
    got = [
        r for page in database.keyset_pages("Test.Keys", ("Name", "Value"), "Name", page_size) for r in page
    ]
    database.close()
    assert got == expected
    assert len(got) == len(keys)


def test_keyset_pages_read_one_page_at_a_time(db: Database) -> None:
    fill(db, make_rows(N))
    pages = db.keyset_pages(TABLE, COLUMNS, "Id", 10)
    first = next(pages)
    # rows added after the first page was read, with keys beyond it, are seen: each page is its own query
    db.execute(insert(TABLE, COLUMNS, "sqlite"), (2_000_000, "late", None, None, None))
    rest = [r for page in pages for r in page]
    assert len(first) == 10 and rest[-1][0] == 2_000_000


def test_select_all_equals_a_plain_select(db: Database) -> None:
    fill(db, make_rows(1234))
    assert list(db.select_all(TABLE, COLUMNS, "Id")) == plain_select(db)


def test_count_and_count_by(db: Database) -> None:
    rows = make_rows(N)
    fill(db, rows)
    assert db.count(TABLE) == N
    nulls = sum(1 for r in rows if r[4] is None)
    assert db.count_by(TABLE, "Note") == {None: nulls}
    assert db.has_table(TABLE) and not db.has_table("Test.Missing")


# --- statements --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("sqlite", "SELECT * FROM Svc_IdentityStore JOIN Hist_History ON 1 = 1"),
        ("tsql", "SELECT * FROM [Svc].[IdentityStore] JOIN [Hist].[History] ON 1 = 1"),
    ],
)
def test_render_replaces_table_references(dialect: str, expected: str) -> None:
    assert render("SELECT * FROM {Svc.IdentityStore} JOIN {Hist.History} ON 1 = 1", dialect) == expected


@pytest.mark.parametrize("dialect", ["sqlite", "tsql"])
def test_statement_fills_identifiers_per_dialect(dialect: str) -> None:
    text = statement(
        "select_page_first",
        dialect,
        table="Svc.IdentityStore",
        columns=["IdentityStoreId", "Name"],
        key="IdentityStoreId",
    )
    if dialect == "sqlite":
        assert (
            text == 'SELECT "IdentityStoreId", "Name" FROM Svc_IdentityStore ORDER BY "IdentityStoreId" LIMIT ?'
        )
    else:
        assert (
            text
            == "SELECT TOP (?) [IdentityStoreId], [Name] FROM [Svc].[IdentityStore] ORDER BY [IdentityStoreId]"
        )
    assert "{" not in text and "}" not in text
    count = statement("count_rows", dialect, table="Hist.History")
    assert ("Hist_History" if dialect == "sqlite" else "[Hist].[History]") in count


@pytest.mark.parametrize(
    "bad",
    [
        {"table": "Svc.Identity Store"},
        {"table": "Svc.IdentityStore; DROP TABLE x"},
        {"table": "IdentityStore"},
        {"table": "Svc.[x]"},
        {"table": "1Svc.Store"},
        {"table": "Svc.Store", "columns": ["Name", "a b"]},
        {"table": "Svc.Store", "columns": ['Name"; --']},
        {"table": "Svc.Store", "key": "Id DESC"},
        {"table": "Svc.Store", "key": "Id--"},
        {"table": "Svc.Store", "column": "x)"},
    ],
)
@pytest.mark.parametrize("dialect", ["sqlite", "tsql"])
def test_statement_refuses_a_non_identifier(dialect: str, bad: dict[str, Any]) -> None:
    name = "count_rows_by" if "column" in bad else "select_page_after"
    kwargs = {"columns": ["Name"], "key": "Id", **bad} if name == "select_page_after" else bad
    with pytest.raises(ValueError):
        statement(name, dialect, **kwargs)


def test_create_table_and_insert_refuse_a_non_identifier() -> None:
    with pytest.raises(ValueError):
        create_table("Svc.T", [("a b", "text", True)], ("a b",), "sqlite")
    with pytest.raises(ValueError):
        insert("Svc.T", ["x;y"], "tsql")


def test_tsql_page_statement_puts_top_first_and_orders_params() -> None:
    text = statement(
        "select_page_after", "tsql", table="Hist.History", columns=["HistoryId", "Action"], key="HistoryId"
    )
    assert text.startswith("SELECT TOP (?) ")
    assert "LIMIT" not in text and "OFFSET" not in text
    # placeholders in text order: TOP (?) first, then the key comparison
    top, where = text.index("TOP (?)"), text.index("[HistoryId] > ?")
    assert top < where and text.count("?") == 2
    after_key, page_size = 12345, 500
    assert order_params("select_page_after", "tsql", (after_key, page_size)) == (page_size, after_key)


def test_sqlite_page_statement_keeps_the_logical_param_order(db: Database) -> None:
    text = statement("select_page_after", "sqlite", table=TABLE, columns=COLUMNS, key="Id")
    assert text.index('"Id" > ?') < text.index("LIMIT ?")
    assert order_params("select_page_after", "sqlite", (7, 3)) == (7, 3)
    fill(db, make_rows(20))
    expected = plain_select(db)
    after = expected[4][0]
    rows = db.execute(text, order_params("select_page_after", "sqlite", (after, 3))).fetchall()
    assert [tuple(r) for r in rows] == expected[5:8]


def test_statements_without_reordering_keep_params() -> None:
    assert order_params("select_page_first", "tsql", (10,)) == (10,)
    assert order_params("table_exists", "tsql", ("Svc", "T")) == ("Svc", "T")


def test_every_statement_has_both_dialects() -> None:
    for name, texts in STATEMENTS.items():
        assert set(texts) == {"sqlite", "tsql"}, name


# --- opening -------------------------------------------------------------------------------------------
def test_read_only_open_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE Test_Rows (Id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    database = open_sqlite(path, read_only=True)
    with pytest.raises(sqlite3.OperationalError):
        database.execute("INSERT INTO Test_Rows VALUES (1)")
    database.close()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.db"]


def test_open_missing_file_is_database_unreadable(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        open_sqlite(tmp_path / "none.db", read_only=True)
    assert info.value.error_id == "DatabaseUnreadable"
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("content", [b"", b"SQLite format 3\x00" + b"\xff" * 200, b"hello world" * 500])
def test_open_non_database_is_database_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    if not content:
        # an empty file is a valid empty SQLite database; the source reader then finds no tables
        open_sqlite(path, read_only=True).close()
        return
    with pytest.raises(EngineError) as info:
        open_sqlite(path, read_only=True)
    assert info.value.error_id == "DatabaseUnreadable"
    assert str(path) in info.value.message


def test_every_sqlite_statement_of_the_catalog_compiles_against_the_real_schemas() -> None:
    """The SQLite half of groupid_upgrade.sql_catalog (the T-SQL half is parsed by ScriptDom,
    tests/test_tsql_scriptdom.py): the DDL runs, and SQLite compiles every other statement against the
    tables it made (a wrong table or a syntax error fails here, not in a user's run)."""
    catalog = emitted_statements("sqlite")
    conn = sqlite3.connect(":memory:")
    try:
        ddl = [s for s in catalog if s.kind in ("create table", "create index")]
        for emitted in ddl:
            conn.execute(emitted.sql)
        failures = []
        for emitted in catalog:
            if emitted in ddl:
                continue
            try:
                conn.execute(f"EXPLAIN {emitted.sql}", [None] * emitted.sql.count("?")).fetchall()
            except sqlite3.Error as exc:
                failures.append(f"{emitted.name} ({emitted.sent_by}): {emitted.sql}: {exc}")
        # The check can fail: a catalogued read with its keyword misspelled does not compile.
        read = next(s for s in catalog if s.name.startswith("select_page_after Gid.History"))
        with pytest.raises(sqlite3.OperationalError, match="syntax error"):
            conn.execute(f"EXPLAIN {read.sql.replace('SELECT', 'SELEC')}", [None] * read.sql.count("?"))
    finally:
        conn.close()
    assert len(catalog) > 1000 and not failures, "\n".join(failures[:20])


def test_a_backed_up_table_is_counted_whatever_its_name_holds(tmp_path: Path) -> None:
    """The backup counts the tables of a copy it did not create: a name with a quote, a space or a keyword is
    one identifier (the quote doubled), never text that ends the statement."""
    conn = sqlite3.connect(tmp_path / "copy.db")
    try:
        names = ['we"ird', "two words", "Order", 'x"; DROP TABLE "Order']
        for i, name in enumerate(names):
            conn.execute(f'CREATE TABLE "{name.replace(chr(34), chr(34) * 2)}" (Id INTEGER)')
            conn.executemany(f'INSERT INTO "{name.replace(chr(34), chr(34) * 2)}" VALUES (?)', [(n,) for n in range(i)])
        listed = [row[0] for row in conn.execute(SQLITE_ONLY["list_tables"])]
        counts = {name: conn.execute(sqlite_count_table(name)).fetchone()[0] for name in listed}
    finally:
        conn.close()
    assert counts == {name: i for i, name in enumerate(names)}
    with pytest.raises(ValueError):
        sqlite_count_table("a\x00b")
