"""Every T-SQL statement the engine can send, parsed by Microsoft's own T-SQL parser (issue 15, point 5).

No SQL Server runs here, and sqlglot's T-SQL parser accepts ``SELEC * FORM x``: the statements of
``groupid_upgrade.sql_catalog`` (built from the real builders over the real schemas) are parsed by
Microsoft.SqlServer.TransactSql.ScriptDom with the SQL Server 2016 (TSql130) and 2022 (TSql160) grammars,
as the ODBC driver sends them (``?`` markers as ``@P1``...). pwsh and ScriptDom come from NuGet
(scripts/lib/powershell-env.sh); when they cannot be had these tests fail, they never skip.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from groupid_upgrade import sql_catalog
from groupid_upgrade.sql_catalog import EmittedStatement, emitted_statements
from groupid_upgrade.storage import sql
from groupid_upgrade.storage.sql import STATEMENTS, TSQL_ONLY, create_index, create_table, insert, statement
from support.tsql_scriptdom import GRAMMARS, Parsed, ScriptDom, find_scriptdom, odbc_as_sent

ENGINE = Path(sql.__file__).resolve().parents[1]

# ScriptDom's statement class for each kind of the catalog.
SCRIPTDOM_CLASS = {"select": "SelectStatement", "insert": "InsertStatement", "update": "UpdateStatement",
                   "delete": "DeleteStatement", "create table": "CreateTableStatement",
                   "create index": "CreateIndexStatement", "backup": "BackupDatabaseStatement",
                   "restore": "RestoreStatement", "dbcc": "DbccStatement"}


CATALOG = emitted_statements("tsql")

# --- misspelled and broken statements: the parser must report each --------------------------------------------
GOOD_SELECT = statement("select_page_after", "tsql", table="Hist.History", columns=("HistoryId", "Action"),
                        key="HistoryId")
GOOD_BACKUP = sql.tsql_backup_statement("backup_database", database="GroupID10", path=r"D:\b\GroupID10.bak")
GOOD_VERIFY = sql.tsql_backup_statement("restore_verifyonly", path=r"D:\b\GroupID10.bak")
_GOOD_INSERT = insert("Gid.Group", ("ObjectGuid", "Name"), "tsql")
_GOOD_CREATE = create_table("Gid.Setting", (("Name", "key", False),), ("Name",), "tsql")
MISSPELLED = {
    "SELEC": odbc_as_sent(GOOD_SELECT.replace("SELECT", "SELEC", 1)),
    "FORM": odbc_as_sent(GOOD_SELECT.replace(" FROM ", " FORM ", 1)),
    "SELEC * FORM x": "SELEC * FORM x",
    "ODER BY": odbc_as_sent(GOOD_SELECT.replace("ORDER BY", "ODER BY")),
    "INSRT": odbc_as_sent(_GOOD_INSERT.replace("INSERT", "INSRT")),
    "VALUE": odbc_as_sent(_GOOD_INSERT.replace("VALUES", "VALUE")),
    "CREATE TABEL": _GOOD_CREATE.replace("TABLE", "TABEL"),
    "PRIMRY KEY": _GOOD_CREATE.replace("PRIMARY", "PRIMRY"),
    "WITH CHECKSUMM": GOOD_BACKUP.replace("CHECKSUM", "CHECKSUMM"),
    "WIHT CHECKSUM": GOOD_BACKUP.replace("WITH", "WIHT"),
    "BACKUP DATABSE": GOOD_BACKUP.replace("DATABASE", "DATABSE"),
    "RESTORE VERIFYONLY FORM": GOOD_VERIFY.replace(" FROM ", " FORM "),
    "RESTORE VERIFY ONLY": GOOD_VERIFY.replace("VERIFYONLY", "VERIFY ONLY"),
    "unclosed literal": GOOD_VERIFY.replace(".bak'", ".bak"),
    "ODBC ? left in": GOOD_SELECT,  # a marker SQL Server never receives as such: not T-SQL
}
SPELLED_RIGHT = {"select": odbc_as_sent(GOOD_SELECT), "backup": GOOD_BACKUP, "verify": GOOD_VERIFY,
                 "insert": odbc_as_sent(_GOOD_INSERT), "create": _GOOD_CREATE}
# One catalogued statement broken the way a builder could break it: the catalog check must name it.
_VICTIM = next(s for s in CATALOG if s.kind == "backup")
BROKEN_VICTIM = EmittedStatement(_VICTIM.name, _VICTIM.sql.replace("WITH CHECKSUM", "WITH CHEKSUM"), _VICTIM.kind,
                                 _VICTIM.sent_by)

# SQL Server's reserved keywords (Transact-SQL reference, "Reserved keywords"), and ODBC's that are not T-SQL's.
_RESERVED_WORDS = """
ADD ALL ALTER AND ANY AS ASC AUTHORIZATION BACKUP BEGIN BETWEEN BREAK BROWSE BULK BY CASCADE CASE CHECK
CHECKPOINT CLOSE CLUSTERED COALESCE COLLATE COLUMN COMMIT COMPUTE CONSTRAINT CONTAINS CONTAINSTABLE CONTINUE
CONVERT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATABASE DBCC
DEALLOCATE DECLARE DEFAULT DELETE DENY DESC DISK DISTINCT DISTRIBUTED DOUBLE DROP DUMP ELSE END ERRLVL ESCAPE
EXCEPT EXEC EXECUTE EXISTS EXIT EXTERNAL FETCH FILE FILLFACTOR FOR FOREIGN FREETEXT FREETEXTTABLE FROM FULL
FUNCTION GOTO GRANT GROUP HAVING HOLDLOCK IDENTITY IDENTITY_INSERT IDENTITYCOL IF IN INDEX INNER INSERT
INTERSECT INTO IS JOIN KEY KILL LEFT LIKE LINENO LOAD MERGE NATIONAL NOCHECK NONCLUSTERED NOT NULL NULLIF OF
OFF OFFSETS ON OPEN OPENDATASOURCE OPENQUERY OPENROWSET OPENXML OPTION OR ORDER OUTER OVER PERCENT PIVOT PLAN
PRECISION PRIMARY PRINT PROC PROCEDURE PUBLIC RAISERROR READ READTEXT RECONFIGURE REFERENCES REPLICATION
RESTORE RESTRICT RETURN REVERT REVOKE RIGHT ROLLBACK ROWCOUNT ROWGUIDCOL RULE SAVE SCHEMA SECURITYAUDIT SELECT
SEMANTICKEYPHRASETABLE SEMANTICSIMILARITYDETAILSTABLE SEMANTICSIMILARITYTABLE SESSION_USER SET SETUSER
SHUTDOWN SOME STATISTICS SYSTEM_USER TABLE TABLESAMPLE TEXTSIZE THEN TO TOP TRAN TRANSACTION TRIGGER TRUNCATE
TRY_CONVERT TSEQUAL UNION UNIQUE UNPIVOT UPDATE UPDATETEXT USE USER VALUES VARYING VIEW WAITFOR WHEN WHERE
WHILE WITH WITHIN WRITETEXT
ABSOLUTE ACTION ADA ARE ASSERTION AT AVG BIT CASCADED CAST CATALOG CHAR CHARACTER COUNT DATE DAY DEC DECIMAL
DEFERRABLE DESCRIBE DOMAIN EXCEPTION FIRST FLOAT FOUND GET GLOBAL GO HOUR IMMEDIATE INPUT INT INTEGER INTERVAL
LANGUAGE LAST LEVEL LOCAL MAX MIN MINUTE MONTH NAME NAMES NEXT NO NONE OUTPUT PAD PARTIAL POSITION PRIOR
PRIVILEGES REAL SECOND SECTION SIZE SPACE SQL SUM TIME TIMESTAMP TRAILING TRANSLATION TRUE UNKNOWN USAGE VALUE
WORK YEAR ZONE
"""
RESERVED = _RESERVED_WORDS.split()


def _statements_naming(word: str) -> list[tuple[str, str]]:
    """Every builder of storage/sql.py with ``word`` as the table's schema and name, its key, a column and
    the value of every other identifier slot."""
    table = f"{word.title()}.{word.title()}"
    columns = (word, "Other")
    out = [(f"{name} {word}", statement(name, "tsql", table=table, columns=columns, key=word, column=word))
           for name in STATEMENTS]
    out.append((f"create table {word}", create_table(table, ((word, "key", False), ("Other", "text", True)),
                                                       (word,), "tsql")))
    out.append((f"create index {word}", create_index(word, table, (word,), "tsql")))
    out.append((f"insert {word}", insert(table, columns, "tsql")))
    return out


RESERVED_STATEMENTS = [(name, odbc_as_sent(text)) for word in RESERVED for name, text in _statements_naming(word)]


@pytest.fixture(scope="session")
def scriptdom() -> ScriptDom:
    try:
        return find_scriptdom()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def parsed(scriptdom: ScriptDom) -> dict[str, dict[str, Parsed]]:
    """Everything this file parses, in one pwsh process (it takes seconds to start): name -> grammar -> Parsed,
    the names prefixed with the group they belong to."""
    items = [(f"catalog: {s.name}", odbc_as_sent(s.sql)) for s in CATALOG]
    items += [(f"misspelled: {name}", text) for name, text in MISSPELLED.items()]
    items += [(f"right: {name}", text) for name, text in SPELLED_RIGHT.items()]
    items += [(f"broken: {BROKEN_VICTIM.name}", odbc_as_sent(BROKEN_VICTIM.sql))]
    items += [(f"reserved: {name}", text) for name, text in RESERVED_STATEMENTS]
    return scriptdom.parse(items)


def _failures(parsed: dict[str, dict[str, Parsed]], statements: list[EmittedStatement], group: str) -> list[str]:
    out = []
    for emitted in statements:
        for grammar in GRAMMARS:
            result = parsed[f"{group}: {emitted.name}"][grammar]
            expected = SCRIPTDOM_CLASS[emitted.kind]
            if result.errors or result.statements != (expected,):
                out.append(f"{emitted.name} [{grammar}] ({emitted.sent_by}): {emitted.sql}\n    errors: "
                           f"{'; '.join(map(str, result.errors)) or 'none'}; read as {list(result.statements)}, "
                           f"expected one {expected}")
    return out


def test_every_tsql_statement_the_engine_sends_parses_under_sql_server_2016_and_2022(
        parsed: dict[str, dict[str, Parsed]]) -> None:
    failures = _failures(parsed, CATALOG, "catalog")
    assert not failures, f"{len(failures)} parse failures:\n" + "\n".join(failures[:40])


def test_the_catalog_holds_every_kind_and_every_table() -> None:
    kinds = Counter(s.kind for s in CATALOG)
    assert set(kinds) == set(SCRIPTDOM_CLASS), kinds
    texts = "\n".join(s.sql for s in CATALOG)
    for _room, table in sql_catalog.SCHEMA_TABLES:
        rendered = sql.table_ref(table.name, "tsql")
        for needle in (f"CREATE TABLE {rendered} ", f"INSERT INTO {rendered} ", f"FROM {rendered} WHERE",
                       f"SELECT COUNT_BIG(*) FROM {rendered}", "SELECT TOP (?) "):
            assert needle in texts, f"the catalog lacks '{needle}...'"
    for name in STATEMENTS:
        assert name in sql_catalog.STATEMENT_KINDS, f"storage/sql.py statement {name} has no kind in sql_catalog"
    for name in TSQL_ONLY:
        assert any(s.name.startswith(name) for s in CATALOG), f"TSQL_ONLY {name} is not in the catalog"
    assert len({s.name for s in CATALOG}) == len(CATALOG)


def test_backup_and_restore_are_read_with_checksum_as_sql_server_reads_them(
        parsed: dict[str, dict[str, Parsed]]) -> None:
    """Not only no error: BACKUP has the Checksum and CopyOnly options, RESTORE VERIFYONLY is that kind of
    RESTORE with Checksum, whatever quote or bracket the database name and the path hold."""
    seen: Counter[str] = Counter()
    for emitted in CATALOG:
        for grammar in GRAMMARS:
            details = parsed[f"catalog: {emitted.name}"][grammar].details
            if emitted.name.startswith("backup_database"):
                options = details[0].removeprefix("Options=").split(",")
                assert {"Checksum", "CopyOnly", "Init", "Name"} <= set(options), (emitted.sql, details)
                seen["backup"] += 1
            elif emitted.name.startswith("restore_verifyonly"):
                assert details[0] == "Kind=VerifyOnly" and "Checksum" in details[1], (emitted.sql, details)
                seen["verify"] += 1
            elif emitted.name.startswith("restore_database"):
                options = details[1].removeprefix("Options=").split(",")
                assert details[0] == "Kind=Database" and {"Checksum", "Replace"} <= set(options), details
                seen["restore"] += 1
    assert seen["backup"] and seen["verify"] and seen["restore"], seen


def test_a_misspelled_keyword_is_a_parse_error_under_both_grammars(parsed: dict[str, dict[str, Parsed]]) -> None:
    for name, text in MISSPELLED.items():
        for grammar in GRAMMARS:
            errors = parsed[f"misspelled: {name}"][grammar].errors
            assert errors, f"{name!r} parsed without error under {grammar}: {text}"
            assert all(e.line >= 1 and e.column >= 1 and e.message for e in errors)
    # The same texts spelled right parse: the errors above are the misspellings'.
    for name in SPELLED_RIGHT:
        assert all(not parsed[f"right: {name}"][g].errors for g in GRAMMARS), parsed[f"right: {name}"]
    first = parsed["misspelled: SELEC * FORM x"]["TSql160"].errors[0]
    assert (first.line, first.column) == (1, 1) and "SELEC" in first.message


def test_a_broken_builder_fails_the_catalog_check_naming_statement_sender_and_position(
        parsed: dict[str, dict[str, Parsed]]) -> None:
    failures = _failures(parsed, [BROKEN_VICTIM], "broken")
    assert len(failures) == len(GRAMMARS)
    assert all(BROKEN_VICTIM.name in f and "backup/database.py" in f and "CHEKSUM" in f and "1:" in f
               for f in failures), failures


def test_a_reserved_word_as_table_key_or_column_still_gives_statements_sql_server_reads(
        parsed: dict[str, dict[str, Parsed]]) -> None:
    """The builders take any plain identifier (``_check_identifier``); each must reach SQL Server as an
    identifier, quoted, not as the keyword it spells (a column named Order, Key or Percent)."""
    failures = [f"{name}: {text}\n    {parsed[f'reserved: {name}'][g].errors[0]}" for name, text in RESERVED_STATEMENTS
                for g in GRAMMARS if parsed[f"reserved: {name}"][g].errors]
    assert not failures, f"{len(failures)} statements broken by a reserved word:\n" + "\n".join(failures[:30])


# --- the ODBC markers ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sent", "received"), [
    ("SELECT TOP (?) [a] FROM t WHERE k > ?", "SELECT TOP (@P1) [a] FROM t WHERE k > @P2"),
    ("SELECT '?', [x?]], y], \"z?\" FROM t WHERE a = ?", "SELECT '?', [x?]], y], \"z?\" FROM t WHERE a = @P1"),
    ("SELECT 'it''s ?' -- ? here\n, ? /* ? */", "SELECT 'it''s ?' -- ? here\n, @P1 /* ? */"),
])
def test_odbc_markers_become_the_drivers_parameters_outside_literals(sent: str, received: str) -> None:
    assert odbc_as_sent(sent) == received


# --- no SQL outside storage/sql.py that the catalog does not know ---------------------------------------------
_SQL_START = ("SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "MERGE", "BACKUP", "RESTORE",
              "DBCC", "PRAGMA", "BEGIN", "COMMIT", "ROLLBACK", "TRUNCATE", "EXEC", "WITH")
_EXECUTING = {"execute", "executemany", "executescript", "scalar"}
# Call sites allowed to hold SQL text outside storage/sql.py, per file: none (every statement is built there,
# so the catalog has it).
KNOWN_INLINE: dict[str, int] = {}


def _literal_start(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    if isinstance(node, ast.BinOp):
        return _literal_start(node.left)
    return None


def inline_sql_call_sites(root: Path) -> Counter[str]:
    """Per file under ``root`` (but storage/sql.py): the calls of execute/executemany/scalar whose SQL is
    written at the call site (a string or f-string starting with a SQL keyword), not built by storage/sql.py."""
    sites: Counter[str] = Counter()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == "storage/sql.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _EXECUTING
                    and node.args):
                start = _literal_start(node.args[0])
                if start is not None and start.lstrip().upper().startswith(_SQL_START):
                    sites[rel] += 1
    return sites


def test_no_sql_is_written_outside_storage_sql_but_the_inline_statements_the_catalog_knows() -> None:
    sites = inline_sql_call_sites(ENGINE)
    grown = {rel: n for rel, n in sites.items() if n > KNOWN_INLINE.get(rel, 0)}
    assert not grown, (f"SQL written at the call site, outside storage/sql.py: {grown}. Build it in storage/sql.py "
                       "and add its producer line to groupid_upgrade/sql_catalog.py")


def test_the_inline_scan_finds_sql_at_a_call_site(tmp_path: Path) -> None:
    (tmp_path / "room.py").write_text('def f(db, t):\n    db.execute(f"SELECT x FROM {t} WHERE y = ?", (1,))\n'
                                      '    db.scalar("pragma integrity_check")\n    db.execute(build(t))\n',
                                      encoding="utf-8")
    assert inline_sql_call_sites(tmp_path) == Counter({"room.py": 2})
