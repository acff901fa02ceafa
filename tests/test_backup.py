"""Backup sets without servers (issue 7; R17, R18, R19): the SQLite database and the folders of the
sample. Verify catches each kind of damage; a killed backup leaves no set verify accepts; restore
refuses to overwrite newer files; no secret lands in a set. The servers' parts are in
test_backup_testbed.py."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot.tokens import TokenType

import helpers
from groupid_upgrade.backup.create import create_backup
from groupid_upgrade.backup.manifest import MANIFEST_NAME, PARTS
from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.settings import AnswerFile
from groupid_upgrade.reporting import CollectingReporter, Reporter
from groupid_upgrade.storage.sql import tsql_backup_statement
from support import leaks, trees

pytest_plugins = ["helpers"]

FOLDER_PART_ROOTS = {  # part -> the sample's folder(s) it copies, relative to the source roots
    "SelfServicePortals": [("program_files", "SelfService/Inetpub")],
    "PasswordCenterPortals": [("program_files", "PasswordCenter/Inetpub"),
                              ("program_files", "PasswordCenter/Helpdesk/Inetpub")],
    "SynchronizeJobs": [("program_data", "Synchronize/Jobs")],
    "Reports": [("program_data", "Reports")],
    "ReplicationAttributes": [("program_files", "Replication/IdentityStoresReplicationAttributes")],
    "PasswordExceptionLists": [("program_files", "GroupIDDataService/PasswordCenter/PasswordExceptionLists")],
}


# --- helpers -------------------------------------------------------------------------------------
def cli(*args: str | Path, log_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*helpers.ENGINE, *(str(a) for a in args)], capture_output=True, text=True,
                          encoding="utf-8", env={**helpers.engine_env(log_dir), **(env or {})},
                          timeout=helpers.SUBPROCESS_TIMEOUT, stdin=subprocess.DEVNULL)


def backup(sample: helpers.Sample, dest: Path, *extra: str, log_dir: Path, answer_file: Path | None = None
           ) -> dict[str, Any]:
    done = cli("backup", "--answer-file", answer_file or sample.answer_file, "--destination", dest, "--json", *extra,
               log_dir=log_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


def verify(path: Path, log_dir: Path) -> tuple[int, dict[str, Any]]:
    done = cli("verify", path, "--json", log_dir=log_dir)
    assert done.returncode in (0, 4), done.stdout[-2000:] + done.stderr[-2000:]
    return done.returncode, json.loads(done.stdout)


def dump_tables(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY 1').fetchall() for n in names}
    finally:
        conn.close()


@pytest.fixture(scope="module")
def made_set(tmp_path_factory: pytest.TempPathFactory, sample: helpers.Sample, engine_log_dir: Path
             ) -> tuple[Path, dict[str, Any]]:
    """One set of the shared sample (database and folders), made once; tests copy it before damaging it."""
    dest = tmp_path_factory.mktemp("sets") / "set"
    return dest, backup(sample, dest, log_dir=engine_log_dir)


def copy_set(made: tuple[Path, dict[str, Any]], tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "set"
    shutil.copytree(made[0], dest)
    return dest


# --- create ----------------------------------------------------------------------------------------
def test_backup_writes_every_part_that_exists_and_lists_the_others_with_a_reason(
        made_set: tuple[Path, dict[str, Any]], sample: helpers.Sample) -> None:
    set_dir, result = made_set
    manifest = helpers.load_json(set_dir / MANIFEST_NAME)
    assert result["manifest"] == manifest
    assert [p["name"] for p in manifest["parts"]] == ["Database", *FOLDER_PART_ROOTS]
    left = {item["part"]: item["reason"] for item in manifest["leftOut"]}
    assert set(left) == {"Elasticsearch", "GroupAttributes"}
    assert "source.elasticsearch" in left["Elasticsearch"] and "directories" in left["GroupAttributes"]
    assert manifest["sourceVersion"] == "10.0" and manifest["productVersion"].startswith("10.0")
    assert manifest["toolVersion"] and manifest["host"] and manifest["createdAt"].endswith("Z")
    # every file of the set is in the manifest with its size and hash, and nothing else is in the set
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(set_dir).as_posix() for p in set_dir.rglob("*") if p.is_file()}
    assert on_disk == set(listed) | {MANIFEST_NAME}
    for rel, entry in listed.items():
        data = (set_dir / rel).read_bytes()
        assert len(data) == entry["size"]
        import hashlib

        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    # the folder parts are the source's folders, byte for byte, timestamps kept
    for part, roots in FOLDER_PART_ROOTS.items():
        record = next(p for p in manifest["parts"] if p["name"] == part)
        for (root_attr, rel), folder in zip(roots, record["folders"], strict=True):
            src = getattr(sample, root_attr) / rel
            assert trees.contents(src, mtimes=True) == trees.contents(set_dir / folder["setFolder"], mtimes=True)
    # the database copy holds the source's rows
    db = next(p for p in manifest["parts"] if p["name"] == "Database")["database"]
    assert dump_tables(set_dir / db["file"]) == dump_tables(sample.database)
    assert db["tables"]["Hist_History"] == 5000


def test_the_source_is_not_changed_by_a_backup(sample_copy: helpers.Sample, tmp_path: Path,
                                               engine_log_dir: Path) -> None:
    with trees.unchanged(sample_copy.source, "the source"):  # R4
        backup(sample_copy, tmp_path / "set", log_dir=engine_log_dir)


def test_no_secret_of_the_sample_is_in_the_set_folder_or_zip(sample: helpers.Sample, made_set: tuple[Path, Any],
                                                             tmp_path: Path, engine_log_dir: Path) -> None:
    secrets = leaks.sample_secrets(sample.root)
    assert set(leaks.secret_values(sample.secrets).values()) <= set(secrets.values()) and len(secrets) >= 20
    assert leaks.assert_no_leaks(secrets, paths=[made_set[0]]).files > 20
    result = backup(sample, tmp_path / "zipped", "--zip", log_dir=engine_log_dir)
    assert result["path"].endswith(".zip") and not (tmp_path / "zipped").exists()
    assert leaks.assert_no_leaks(secrets, paths=[Path(result["path"])]).files == 1  # its members looked into


def test_a_zipped_set_verifies_and_has_the_manifest_last(sample: helpers.Sample, tmp_path: Path,
                                                         engine_log_dir: Path) -> None:
    result = backup(sample, tmp_path / "z", "--zip", "--include", "Reports", log_dir=engine_log_dir)
    with zipfile.ZipFile(result["path"]) as zf:
        assert zf.namelist()[-1] == MANIFEST_NAME
    code, report = verify(Path(result["path"]), engine_log_dir)
    assert code == 0 and report["ok"], report
    root = tmp_path / "root"
    done = cli("restore", result["path"], "--answer-file", sample.answer_file, "--include", "Reports", "--to", root,
               log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr
    assert trees.contents(root / "ProgramData" / "Reports") == trees.contents(
        sample.program_data / "Reports")
    assert {p.name for p in tmp_path.iterdir()} == {"z.zip", "root"}  # the temporary extraction is gone


def test_include_unknown_part_is_a_usage_error_and_writes_nothing(sample: helpers.Sample, tmp_path: Path,
                                                                  engine_log_dir: Path) -> None:
    done = cli("backup", "--answer-file", sample.answer_file, "--destination", tmp_path / "s", "--include", "Reprots",
               log_dir=engine_log_dir)
    assert done.returncode == 2
    assert "Reprots" in done.stderr and "Reports" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "s").exists()


def test_a_part_asked_for_that_does_not_exist_is_an_error_naming_why(sample: helpers.Sample, tmp_path: Path,
                                                                     engine_log_dir: Path) -> None:
    done = cli("backup", "--answer-file", sample.answer_file, "--destination", tmp_path / "s", "--include",
               "GroupAttributes", log_dir=engine_log_dir)
    assert done.returncode == 1, done.stderr
    assert "GroupAttributes" in done.stderr and "directories" in done.stderr
    assert not (tmp_path / "s").exists()


def test_destination_must_be_new_or_empty_and_outside_the_source(sample: helpers.Sample, tmp_path: Path,
                                                                 engine_log_dir: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "other.txt").write_text("x")
    done = cli("backup", "--answer-file", sample.answer_file, "--destination", full, log_dir=engine_log_dir)
    assert done.returncode == 1 and str(full) in done.stderr and "new or empty" in done.stderr
    assert [p.name for p in full.iterdir()] == ["other.txt"]
    inside = sample.program_data / "backup-here"
    done = cli("backup", "--answer-file", sample.answer_file, "--destination", inside, log_dir=engine_log_dir)
    assert done.returncode == 1 and "inside the source folder" in done.stderr
    assert not inside.exists()


def test_links_out_of_the_tree_are_not_followed_and_long_paths_are_copied(sample_copy: helpers.Sample,
                                                                          tmp_path: Path, engine_log_dir: Path) -> None:
    reports = sample_copy.program_data / "Reports"
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("not part of the installation")
    (reports / "escape.txt").symlink_to(outside)
    (reports / "loop").symlink_to(reports, target_is_directory=True)
    (reports / "inside-link.pdf").symlink_to(reports / "Groups" / "Expired groups.pdf")
    deep = reports
    for i in range(12):
        deep = deep / f"a-rather-long-folder-name-number-{i:02d}"
    deep.mkdir(parents=True)
    (deep / "deep report.txt").write_text("deep")
    assert len(str(deep / "deep report.txt")) > 300
    result = backup(sample_copy, tmp_path / "set", "--include", "Reports", log_dir=engine_log_dir)
    manifest = result["manifest"]
    folder = manifest["parts"][0]["folders"][0]
    assert sorted(folder["skippedLinks"]) == ["escape.txt", "loop"]
    paths = {f["path"] for f in manifest["files"]}
    assert "Reports/inside-link.pdf" in paths
    assert any(p.endswith("deep report.txt") for p in paths)
    assert not any("escape" in p or p.startswith("Reports/loop/") for p in paths)
    code, report = verify(tmp_path / "set", engine_log_dir)
    assert code == 0, report


# --- verify ----------------------------------------------------------------------------------------
def test_verify_accepts_an_intact_set(made_set: tuple[Path, Any], engine_log_dir: Path) -> None:
    code, report = verify(made_set[0], engine_log_dir)
    assert code == 0 and report["ok"] and report["problems"] == []
    assert report["filesChecked"] == len(made_set[1]["manifest"]["files"])


def _a_report(manifest: dict[str, Any]) -> str:
    return next(f["path"] for f in manifest["files"] if f["path"].startswith("Reports/"))


def test_verify_catches_a_flipped_byte(made_set: tuple[Path, Any], tmp_path: Path, engine_log_dir: Path) -> None:
    set_dir = copy_set(made_set, tmp_path)
    rel = _a_report(made_set[1]["manifest"])
    data = bytearray((set_dir / rel).read_bytes())
    data[len(data) // 2] ^= 0x01
    (set_dir / rel).write_bytes(bytes(data))
    code, report = verify(set_dir, engine_log_dir)
    assert code == 4 and not report["ok"]
    assert [(p["path"], "SHA-256" in p["problem"]) for p in report["problems"]] == [(rel, True)]


def test_verify_catches_a_missing_file(made_set: tuple[Path, Any], tmp_path: Path, engine_log_dir: Path) -> None:
    set_dir = copy_set(made_set, tmp_path)
    rel = next(f["path"] for f in made_set[1]["manifest"]["files"] if f["path"].startswith("SynchronizeJobs/"))
    (set_dir / rel).unlink()
    code, report = verify(set_dir, engine_log_dir)
    assert code == 4
    assert [(p["path"], p["problem"]) for p in report["problems"]] == [(rel, "the file is missing")]


def test_verify_catches_an_extra_file(made_set: tuple[Path, Any], tmp_path: Path, engine_log_dir: Path) -> None:
    set_dir = copy_set(made_set, tmp_path)
    (set_dir / "Reports" / "planted.exe").write_bytes(b"MZ")
    code, report = verify(set_dir, engine_log_dir)
    assert code == 4
    assert [p["path"] for p in report["problems"]] == ["Reports/planted.exe"]
    assert "does not list" in report["problems"][0]["problem"]


def test_verify_catches_a_truncated_database(made_set: tuple[Path, Any], tmp_path: Path, engine_log_dir: Path
                                             ) -> None:
    set_dir = copy_set(made_set, tmp_path)
    rel = next(f["path"] for f in made_set[1]["manifest"]["files"] if f["part"] == "Database")
    data = (set_dir / rel).read_bytes()
    (set_dir / rel).write_bytes(data[: len(data) // 2])
    code, report = verify(set_dir, engine_log_dir)
    assert code == 4
    problems = [p for p in report["problems"] if p["path"] == rel]
    assert any("bytes" in p["problem"] for p in problems)  # the size
    assert any(p["part"] == "Database" and "integrity" in p["problem"] for p in problems), problems


def test_verify_of_a_folder_without_manifest_names_the_incomplete_set(tmp_path: Path, engine_log_dir: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "Reports").mkdir()
    done = cli("verify", tmp_path / "half", log_dir=engine_log_dir)
    assert done.returncode == 4
    assert "manifest.json" in done.stdout and "not complete" in done.stdout


# --- kill, cancel ----------------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["backup-file-copied:7", "backup-before-manifest:1"])
def test_a_backup_killed_mid_way_leaves_no_manifest_verify_accepts(sample: helpers.Sample, tmp_path: Path,
                                                                   engine_log_dir: Path, point: str) -> None:
    dest = tmp_path / "killed"
    done = cli("backup", "--answer-file", sample.answer_file, "--destination", dest, log_dir=engine_log_dir,
               env={"GROUPID_UPGRADE_KILL_AT": point})
    assert done.returncode == -9, (done.returncode, done.stderr[-2000:])
    assert dest.is_dir() and any(dest.rglob("*"))  # it was killed mid-way: files are there ...
    assert not (dest / MANIFEST_NAME).exists()  # ... but no manifest
    code, report = verify(dest, engine_log_dir)
    assert code == 4 and not report["ok"]
    assert report["problems"][0]["path"] == MANIFEST_NAME


class CancelAfter(Reporter):
    def __init__(self, events: int) -> None:
        super().__init__()
        self.events = events

    def emit_progress(self, payload: dict[str, Any]) -> None:
        self.events -= 1
        if self.events <= 0:
            self.cancel()


def _answers(sample: helpers.Sample) -> AnswerFile:
    from groupid_upgrade.answerfile import load_answer_file

    return load_answer_file(sample.answer_file)


def test_a_cancelled_backup_leaves_nothing(sample: helpers.Sample, tmp_path: Path) -> None:
    dest = tmp_path / "cancelled"
    reporter = CancelAfter(3)
    with pytest.raises(EngineError) as err:
        create_backup(_answers(sample), dest, reporter)
    assert err.value.error_id == "RequestCancelled"
    assert not dest.exists()


def test_backup_reports_progress_per_part_and_a_record_per_part(sample: helpers.Sample, tmp_path: Path) -> None:
    reporter = CollectingReporter()
    manifest, where = create_backup(_answers(sample), tmp_path / "s", reporter)
    assert where == (tmp_path / "s").resolve()
    activities = {e["activityId"] for e in reporter.progress_events}
    assert {"backup", "backup-database"} <= activities
    assert [r[1]["part"] for r in reporter.records] == [p.name for p in manifest.parts]
    assert reporter.progress_events[-1]["completed"] is True


# --- restore ---------------------------------------------------------------------------------------
def test_restore_under_an_empty_root_equals_the_source(made_set: tuple[Path, Any], sample: helpers.Sample,
                                                       tmp_path: Path, engine_log_dir: Path) -> None:
    root = tmp_path / "root"
    done = cli("restore", made_set[0], "--answer-file", sample.answer_file, "--include", "All", "--to", root,
               "--json", log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert {p["part"]: p["status"] for p in report["parts"]} == {p: "Restored" for p in ["Database",
                                                                                          *FOLDER_PART_ROOTS]}
    assert any("GroupID 11" in w for w in report["warnings"])
    assert "GroupID 11" in done.stderr  # the database warning reaches the console too
    assert dump_tables(root / "Database" / sample.database.name) == dump_tables(sample.database)
    for part, roots in FOLDER_PART_ROOTS.items():
        for root_attr, rel in roots:
            restored = root / ("Program Files" if root_attr == "program_files" else "ProgramData") / rel
            assert trees.contents(restored) == trees.contents(getattr(sample, root_attr) / rel), part


def test_restore_refuses_to_overwrite_a_newer_file_without_force(sample_copy: helpers.Sample, tmp_path: Path,
                                                                 engine_log_dir: Path) -> None:
    set_dir = tmp_path / "set"
    backup(sample_copy, set_dir, log_dir=engine_log_dir)
    original = trees.contents(sample_copy.program_data / "Reports")
    report_file = sample_copy.program_data / "Reports" / "Groups" / "Groups by owner.pdf"
    report_file.write_bytes(b"changed after the backup")
    job = next(sample_copy.jobs_folder.rglob("*.dtmconfig"))
    job_text = job.read_bytes()
    job.unlink()  # a deleted file is simply put back: nothing newer to lose
    args = ("restore", set_dir, "--answer-file", sample_copy.answer_file, "--include", "Reports",
            "--include", "SynchronizeJobs")
    done = cli(*args, log_dir=engine_log_dir)
    assert done.returncode == 1, done.stderr
    assert "Groups by owner.pdf" in done.stderr and "--force" in done.stderr and "Traceback" not in done.stderr
    assert report_file.read_bytes() == b"changed after the backup" and not job.exists()  # nothing written
    done = cli(*args, "--what-if", "--force", log_dir=engine_log_dir)
    assert done.returncode == 0 and report_file.read_bytes() == b"changed after the backup" and not job.exists()
    done = cli(*args, "--force", log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr
    assert trees.contents(sample_copy.program_data / "Reports") == original
    assert job.read_bytes() == job_text


def test_restore_of_a_damaged_set_writes_nothing(made_set: tuple[Path, Any], sample: helpers.Sample,
                                                 tmp_path: Path, engine_log_dir: Path) -> None:
    set_dir = copy_set(made_set, tmp_path)
    rel = _a_report(made_set[1]["manifest"])
    (set_dir / rel).write_bytes(b"damaged")
    root = tmp_path / "root"
    done = cli("restore", set_dir, "--answer-file", sample.answer_file, "--include", "Reports", "--to", root,
               log_dir=engine_log_dir)
    assert done.returncode == 4 and rel in done.stderr
    assert not root.exists()


# --- SQL Server statements -------------------------------------------------------------------------
def _tokens(sql: str) -> list[tuple[TokenType, str]]:
    return [(t.token_type, t.text) for t in sqlglot.tokenize(sql, read="tsql")]


@pytest.mark.parametrize("database", ["GroupID10", "Group]ID 10 'prod'"])
def test_backup_database_statement_parses_as_tsql(database: str) -> None:
    """BACKUP DATABASE <identifier> TO DISK = <N'string'> WITH CHECKSUM, COPY_ONLY, ...: the name is one
    T-SQL identifier and the path one Unicode string whatever they hold (sqlglot's T-SQL lexer)."""
    path = r"D:\SQL Backups\GroupID 'nightly'.bak"
    sql = tsql_backup_statement("backup_database", database=database, path=path, label="GroupIDUpgrade x")
    tokens = _tokens(sql)
    assert [t[1].upper() for t in tokens[:2]] == ["BACKUP", "DATABASE"]
    assert tokens[2] == (TokenType.IDENTIFIER, database)
    assert [t[1].upper() for t in tokens[3:6]] == ["TO", "DISK", "="]
    assert tokens[6] == (TokenType.NATIONAL_STRING, path)
    assert tokens[7][0] == TokenType.WITH
    options = {t[1].upper() for t in tokens[8:] if t[0] == TokenType.VAR}
    assert {"CHECKSUM", "COPY_ONLY"} <= options
    verify_sql = tsql_backup_statement("restore_verifyonly", path=path)
    vt = _tokens(verify_sql)
    assert [t[1].upper() for t in vt[:5]] == ["RESTORE", "VERIFYONLY", "FROM", "DISK", "="]
    assert vt[5] == (TokenType.NATIONAL_STRING, path) and vt[-1][1].upper() == "CHECKSUM"


def test_parts_are_the_issues_nine() -> None:
    assert PARTS == ("Database", "Elasticsearch", "GroupAttributes", "SelfServicePortals", "PasswordCenterPortals",
                     "SynchronizeJobs", "Reports", "ReplicationAttributes", "PasswordExceptionLists")


def test_backup_over_the_protocol_streams_progress_and_verify_reports(sample: helpers.Sample, tmp_path: Path,
                                                                      engine_log_dir: Path) -> None:
    dest = tmp_path / "proto"
    session = helpers.serve([("backup.create", {"answerFile": str(sample.answer_file), "destination": str(dest),
                                                "include": ["Reports", "Database"]}),
                             ("backup.verify", {"path": str(dest)}),
                             ("backup.verify", {"path": str(tmp_path / "nowhere")})], log_dir=engine_log_dir)
    result = session.result(1)
    assert [p["name"] for p in result["manifest"]["parts"]] == ["Database", "Reports"]
    assert session.result(2)["ok"] is True
    assert session.error(3)["data"]["errorId"] == "BackupSetInvalid"
    assert any(n["method"] == "$/progress" for n in session.notifications)
    assert os.path.isfile(dest / MANIFEST_NAME)


def test_backup_what_if_writes_nothing_and_lists_the_parts(sample: helpers.Sample, tmp_path: Path,
                                                           engine_log_dir: Path) -> None:
    dest = tmp_path / "whatif"
    result = backup(sample, dest, "--what-if", log_dir=engine_log_dir)
    assert [p["name"] for p in result["manifest"]["parts"]] == ["Database", *FOLDER_PART_ROOTS]
    assert not dest.exists()


def test_an_elasticsearch_that_does_not_answer_is_a_clear_error_and_leaves_nothing(
        sample_copy: helpers.Sample, tmp_path: Path, engine_log_dir: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = sample_copy.answers
    data["source"]["elasticsearch"] = {"url": f"http://127.0.0.1:{port}", "snapshotLocation": "/srv/es-backup",
                                       "maxRetries": 0}
    answer_file = sample_copy.write_answers(data, "answers-es-down.json")
    dest = tmp_path / "set"
    done = cli("backup", "--answer-file", answer_file, "--destination", dest, log_dir=engine_log_dir)
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr and "did not answer" in done.stderr and "Traceback" not in done.stderr
    assert not dest.exists()


def test_restoring_the_database_over_a_newer_one_needs_force_and_warns(sample_copy: helpers.Sample, tmp_path: Path,
                                                                       engine_log_dir: Path) -> None:
    set_dir = tmp_path / "set"
    backup(sample_copy, set_dir, "--include", "Database", log_dir=engine_log_dir)
    at_backup = dump_tables(sample_copy.database)
    conn = sqlite3.connect(sample_copy.database)
    conn.execute("DELETE FROM Hist_History WHERE HistoryId > 4000")  # a change made after the backup
    conn.commit()
    conn.close()
    args = ("restore", set_dir, "--answer-file", sample_copy.answer_file, "--include", "Database")
    done = cli(*args, log_dir=engine_log_dir)
    assert done.returncode == 1 and str(sample_copy.database) in done.stderr and "--force" in done.stderr
    assert len(dump_tables(sample_copy.database)["Hist_History"]) == 4000
    done = cli(*args, "--force", "--json", log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr
    assert "every change made with GroupID 11" in done.stderr
    assert json.loads(done.stdout)["warnings"] and dump_tables(sample_copy.database) == at_backup


def test_the_elasticsearch_data_folder_is_copied_only_when_asked_and_no_node_answers(
        sample_copy: helpers.Sample, tmp_path: Path, engine_log_dir: Path) -> None:
    import socket

    data_folder = sample_copy.program_data / "Replication" / "data"
    (data_folder / "nodes" / "0").mkdir(parents=True)
    (data_folder / "nodes" / "0" / "segment_1").write_bytes(os.urandom(70_000))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = sample_copy.answers
    data["source"]["elasticsearch"] = {"url": f"http://127.0.0.1:{port}", "maxRetries": 0}
    answer_file = sample_copy.write_answers(data, "answers-es-stopped.json")
    result = backup(sample_copy, tmp_path / "set", "--include", "Elasticsearch", "--elasticsearch-stopped",
                    log_dir=engine_log_dir, answer_file=answer_file)
    es = result["manifest"]["parts"][0]["elasticsearch"]
    assert es["method"] == "dataFolder" and es["copiedInto"] == "Elasticsearch/data"
    assert [f["path"] for f in result["manifest"]["files"]] == ["Elasticsearch/data/nodes/0/segment_1"]
    assert verify(tmp_path / "set", engine_log_dir)[0] == 0
    root = tmp_path / "root"
    done = cli("restore", tmp_path / "set", "--answer-file", answer_file, "--include", "Elasticsearch", "--to", root,
               log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr
    restored = root / "ProgramData" / "Replication" / "data" / "nodes" / "0" / "segment_1"
    assert restored.read_bytes() == (data_folder / "nodes" / "0" / "segment_1").read_bytes()
