"""``groupid-upgrade doctor`` without the test bed (issue 18): the databases on SQLite, Elasticsearch down (a
closed loopback port) and a directory at a closed port, each check named, timed, with what to do; exit 3.
Against the test bed (a server down, a credential wrong): tests/test_doctor_testbed.py."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema

import helpers
from support import trees

pytest_plugins = ["helpers"]

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "schemas" / "cli.doctor.schema.json")
                    .read_text(encoding="utf-8"))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed: nobody else gets it in the next second)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def doctor(answer_file: Path, log_dir: Path) -> tuple[int, dict[str, Any], str]:
    as_json = helpers.run_cli("doctor", "--answer-file", answer_file, "--json", log_dir=log_dir)
    assert "Traceback" not in as_json.stderr
    report = json.loads(as_json.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    text = helpers.run_cli("doctor", "--answer-file", answer_file, log_dir=log_dir)
    assert text.returncode == as_json.returncode
    return as_json.returncode, report, text.stdout


def by_check(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["server"], c["check"]): c for c in report["checks"]}


def test_doctor_on_the_embedded_default_passes_and_changes_nothing(sample_copy: helpers.Sample,
                                                                   engine_log_dir: Path) -> None:
    before = trees.snapshot(sample_copy.root)
    code, report, text = doctor(sample_copy.answer_file, engine_log_dir)
    assert code == 0 and report["ok"] is True
    checks = by_check(report)
    source = next(s for s, c in checks if s.startswith("source database"))
    assert checks[(source, "connect")]["status"] == "ok"
    assert "tables read" in checks[(source, "read the source tables")]["detail"]
    target = next(s for s, c in checks if s.startswith("target database"))
    assert checks[(target, "create tables in the target")]["status"] == "ok"  # no target yet: its folder
    assert all(c["seconds"] >= 0 for c in report["checks"])
    assert "Every check passed." in text and "ms)" in text
    trees.assert_unchanged(sample_copy.root, before, "the sample")
    # once the target exists: a table is created in it and rolled back
    assert helpers.run_cli("run", "--answer-file", sample_copy.answer_file, "--module", "Configuration",
                           log_dir=engine_log_dir).returncode == 0
    db = sample_copy.root / "target" / "GroupID11.db"
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    code, report, _ = doctor(sample_copy.answer_file, engine_log_dir)
    assert code == 0
    assert by_check(report)[(target, "create tables in the target")]["detail"] == "a table was created and rolled back"
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == tables


def test_doctor_names_a_missing_source_table(sample_copy: helpers.Sample, engine_log_dir: Path) -> None:
    with sqlite3.connect(sample_copy.database) as conn:
        conn.execute("DROP TABLE Svc_Report")
    code, report, text = doctor(sample_copy.answer_file, engine_log_dir)
    assert code == 3 and report["ok"] is False
    [failed] = [c for c in report["checks"] if c["status"] == "failed"]
    assert failed["check"] == "read the source tables" and "Svc.Report" in failed["detail"]
    assert failed["errorId"] == "DatabaseSchemaUnknown" and failed["whatToDo"]
    assert "FAILED" in text and "what to do:" in text


def test_doctor_with_elasticsearch_down_and_a_directory_at_a_closed_port(sample_copy: helpers.Sample,
                                                                         engine_log_dir: Path) -> None:
    es_port, ldap_port = closed_port(), closed_port()
    data = sample_copy.answers
    data["target"]["elasticsearch"] = {"url": f"http://127.0.0.1:{es_port}"}
    data["directories"] = {"fabrikam.example.com": {"url": f"ldaps://127.0.0.1:{ldap_port}",
                                                    "credential": {"userName": "svc@fabrikam.example.com",
                                                                   "password": "not-used"}}}
    answer_file = sample_copy.write_answers(data, "answers-down.json")
    code, report, text = doctor(answer_file, engine_log_dir)
    assert code == 3 and report["ok"] is False
    checks = by_check(report)
    es = f"target Elasticsearch http://127.0.0.1:{es_port}"
    reach = checks[(es, "reach with the configured credentials")]
    assert reach["status"] == "failed" and reach["errorId"] == "SearchUnreachable" and reach["whatToDo"]
    assert str(es_port) in reach["detail"]
    assert checks[(es, "create an index")]["status"] == "skipped"
    assert checks[(es, "register a snapshot repository")]["status"] == "skipped"
    directory = f"directory fabrikam.example.com (ldaps://127.0.0.1:{ldap_port})"
    bind = checks[(directory, "bind with the configured credentials and TLS")]
    assert bind["status"] == "failed" and bind["errorId"] == "DirectoryUnreachable" and bind["whatToDo"]
    assert checks[(directory, "read the forest")]["status"] == "skipped"
    assert checks[(directory, "write rights on group attributes")]["status"] == "skipped"
    # the databases still pass: one line per check, each server named
    assert all(c["status"] == "ok" for c in report["checks"] if "database" in c["server"])
    lines = [line for line in text.splitlines() if line.startswith(("ok ", "FAILED ", "skipped "))]
    assert len(lines) == len(report["checks"])
    assert "not-used" not in text and "not-used" not in json.dumps(report)  # R19
    assert "2 check(s) failed" in text
