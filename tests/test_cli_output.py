"""What the CLI shows (issue 18): live progress in a pseudo-terminal that never wraps, plain lines off a
terminal, ``--json-lines`` validated against docs/schemas/, help with examples and exit codes, choices and
"did you mean", unreadable input files named with rc 2, and tables sized to their contents."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import sqlite3
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
from groupid_upgrade.cli import main
from groupid_upgrade.tables import format_table

pytest_plugins = ["helpers"]

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
BAR = re.compile("[━╸╺]")


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


# --- live progress in a pseudo-terminal ------------------------------------------------------------------
def run_in_terminal(args: list[str], columns: int, log_dir: Path, timeout: float = 120) -> str:
    """The CLI with stdin, stdout and stderr on a pseudo-terminal ``columns`` wide; everything it drew."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = helpers.engine_env(log_dir)
    env.pop("LINES", None)
    env.update(TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([*helpers.ENGINE, *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=30) == 0, b"".join(chunks).decode("utf-8", "replace")[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def screen_rows(raw: str) -> list[str]:
    """Each row the terminal was asked to draw, escape sequences removed (a redraw starts at \\r)."""
    return [row for row in re.split(r"\r\n|\n|\r", ANSI.sub("", raw)) if row.strip()]


@pytest.mark.parametrize("columns", [80, 200])
def test_live_progress_fits_the_terminal_and_shows_each_module(sample_copy: helpers.Sample, engine_log_dir: Path,
                                                               columns: int) -> None:
    raw = run_in_terminal(["run", "--answer-file", str(sample_copy.answer_file)], columns, engine_log_dir)
    rows = screen_rows(raw)
    progress_rows = [row for row in rows if BAR.search(row)]
    assert progress_rows, raw[-2000:]
    too_wide = [row for row in progress_rows if len(row) > columns]
    assert not too_wide, f"{len(too_wide)} progress rows wider than {columns} columns: {too_wide[:3]}"
    # one line per module, with its units done of all; a rate and the time (left, or taken once done)
    for module in ("Configuration", "Synchronize", "Schedules", "Reports", "History"):
        assert any(row.lstrip().startswith(module[:8]) and re.search(r"\d+/\d+", row) for row in progress_rows), \
            (module, progress_rows[-12:])
    assert any(re.search(r"[\d,]+\.\d/s", row) for row in progress_rows), progress_rows[-12:]
    assert any(re.search(r"\d+:\d\d", row) for row in progress_rows), progress_rows[-12:]
    assert "Upgrade completed: Succeeded" in ANSI.sub("", raw)
    assert "progress: " not in raw  # the plain form is for what is not a terminal


def test_plain_progress_lines_when_not_a_terminal_and_with_no_progress(sample_copy: helpers.Sample,
                                                                       engine_log_dir: Path) -> None:
    piped = helpers.run_cli("run", "--answer-file", sample_copy.answer_file, "--what-if", log_dir=engine_log_dir)
    assert piped.returncode == 0, piped.stderr
    lines = [line for line in piped.stderr.splitlines() if line.startswith("progress: ")]
    assert any(re.fullmatch(r"progress: Configuration: .+ \[\d+/\d+, \d+%\]( \(done\))?", line) for line in lines), \
        lines[:10]
    assert "\r" not in piped.stderr and "\x1b[" not in piped.stderr
    raw = run_in_terminal(["plan", "--answer-file", str(sample_copy.answer_file), "--no-progress"], 80,
                          engine_log_dir)
    text = ANSI.sub("", raw)
    assert "progress: Planning the upgrade:" in text and not BAR.search(text)


# --- --json-lines -----------------------------------------------------------------------------------------
def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    check = validator("json-lines.schema.json")
    for line in lines:
        check.validate(line)
        assert line["schemaVersion"] == 1
    return lines


def test_run_json_lines_streams_every_unit_outcome_and_validates(sample_copy: helpers.Sample,
                                                                 engine_log_dir: Path) -> None:
    done = helpers.run_cli("run", "--answer-file", sample_copy.answer_file, "--json-lines", log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr
    lines = json_lines(done)
    kinds = {line["event"] for line in lines}
    assert {"progress", "record", "runEvent", "result"} <= kinds
    assert lines[-1]["event"] == "result" and lines[-1]["exitCode"] == 0 and lines[-1]["command"] == "run"
    validator("method.upgrade.run.result.schema.json").validate(lines[-1]["result"])
    unit_done = [line["fields"]["unit"] for line in lines if line["event"] == "runEvent"
                 and line["name"] == "unit-done"]
    with sqlite3.connect(sample_copy.root / "target" / "GroupID11.db") as conn:
        # the history pipeline's batch rows are its own resume points, not units of the plan
        ledger = {row[0] for row in conn.execute("SELECT UnitKey FROM Upg_Ledger") if "/batch:" not in row[0]}
    assert sorted(unit_done) == sorted(ledger)  # one line per unit written, as it was written
    progress = [line for line in lines if line["event"] == "progress"]
    assert {p["activityId"] for p in progress} >= {"upgrade", "upgrade/Configuration", "upgrade/Synchronize"}
    again = json_lines(helpers.run_cli("run", "--answer-file", sample_copy.answer_file, "--json-lines",
                                       log_dir=engine_log_dir))
    already = [line for line in again if line["event"] == "runEvent" and line["name"] == "unit-already-done"]
    assert len(already) == len(ledger)


def test_backup_restore_and_group_json_lines_validate(sample_copy: helpers.Sample, engine_log_dir: Path,
                                                      tmp_path: Path) -> None:
    set_dir = tmp_path / "set"
    made = helpers.run_cli("backup", "--answer-file", sample_copy.answer_file, "--destination", set_dir,
                           "--include", "Reports,SynchronizeJobs", "--json-lines", log_dir=engine_log_dir)
    assert made.returncode == 0, made.stderr
    lines = json_lines(made)
    assert [line["data"]["part"] for line in lines if line["event"] == "record"] == ["SynchronizeJobs", "Reports"] \
        or {line["data"]["part"] for line in lines if line["event"] == "record"} == {"SynchronizeJobs", "Reports"}
    validator("method.backup.create.result.schema.json").validate(lines[-1]["result"])
    restored = helpers.run_cli("restore", set_dir, "--answer-file", sample_copy.answer_file, "--include", "Reports",
                               "--to", tmp_path / "root", "--json-lines", log_dir=engine_log_dir)
    assert restored.returncode == 0, restored.stderr
    lines = json_lines(restored)
    assert any(line["event"] == "record" and line["type"] == "restorePart" for line in lines)
    validator("method.backup.restore.result.schema.json").validate(lines[-1]["result"])
    # no directory in the sample's answer file: group ends with an error line, still one schema
    failed = helpers.run_cli("group", "--answer-file", sample_copy.answer_file, "--identity", "Sales",
                             "--json-lines", log_dir=engine_log_dir)
    assert failed.returncode != 0
    lines = json_lines(failed)
    assert lines[-1]["event"] == "error" and lines[-1]["exitCode"] == failed.returncode
    assert lines[-1]["error"]["data"]["errorId"]
    assert failed.stderr.startswith("error: ") or "\nerror: " in failed.stderr


def test_json_and_json_lines_together_is_a_usage_error(sample: helpers.Sample, engine_log_dir: Path) -> None:
    done = helpers.run_cli("run", "--answer-file", sample.answer_file, "--json", "--json-lines",
                           log_dir=engine_log_dir)
    assert done.returncode == 2 and "--json-lines" in done.stderr and done.stdout == ""


def test_protocol_progress_log_and_record_notifications_validate(sample_copy: helpers.Sample,
                                                                 engine_log_dir: Path) -> None:
    session = helpers.serve([("upgrade.run", {"answerFile": str(sample_copy.answer_file)})], log_dir=engine_log_dir)
    session.result(1)
    by_method = {"$/progress": validator("notification.progress.schema.json"),
                 "$/log": validator("notification.log.schema.json"),
                 "$/record": validator("notification.record.schema.json")}
    seen = set()
    for note in session.notifications:
        by_method[note["method"]].validate(note["params"])
        seen.add(note["method"])
    assert {"$/progress", "$/record"} <= seen
    module_activities = {n["params"]["activityId"] for n in session.notifications if n["method"] == "$/progress"}
    assert "upgrade/History" in module_activities  # the same per-module progress the terminal shows
    validator("method.upgrade.run.result.schema.json").validate(session.result(1))


def test_cli_json_outputs_validate(sample: helpers.Sample, engine_log_dir: Path, tmp_path: Path) -> None:
    made = helpers.run_cli("sample", "--out", tmp_path / "s", "--history", "20", "--groups", "16", "--json",
                           log_dir=engine_log_dir)
    assert made.returncode == 0, made.stderr
    validator("cli.sample.schema.json").validate(json.loads(made.stdout))
    plan = helpers.run_cli("plan", "--answer-file", sample.answer_file, "--json", log_dir=engine_log_dir)
    validator("method.upgrade.plan.result.schema.json").validate(json.loads(plan.stdout))
    failed = helpers.run_cli("plan", "--answer-file", tmp_path / "absent.json", "--json", log_dir=engine_log_dir)
    validator("cli.error.schema.json").validate(json.loads(failed.stdout))


# --- help, choices, did you mean ----------------------------------------------------------------------------
def test_every_command_help_has_examples_and_exit_codes(engine_log_dir: Path) -> None:
    for name in sorted(main.commands):
        result = helpers.run_cli(name, "--help", log_dir=engine_log_dir)
        assert result.returncode == 0, (name, result.stderr)
        text = result.stdout
        assert "Examples:" in text and f"groupid-upgrade {name}" in text.split("Examples:")[1], name
        codes = text.split("Exit codes:")[1]
        for code in ("0", "1", "2", "3", "4", "130"):
            assert re.search(rf"^\s+{code}\s+\S", codes, re.M), (name, code)
    run_help = helpers.run_cli("run", "--help", log_dir=engine_log_dir).stdout
    assert "[Everything|Configuration|Synchronize|Schedules|Reports|History|Groups]" in run_help
    backup_help = helpers.run_cli("backup", "--help", log_dir=engine_log_dir).stdout
    assert "Database|Elasticsearch|GroupAttributes" in re.sub(r"\s+", "", backup_help)


@pytest.mark.parametrize(("args", "typo", "meant"), [
    (["run", "--module", "Hystory"], "Hystory", "History"),
    (["plan", "--module", "configuraton"], "configuraton", "Configuration"),
    (["backup", "--destination", "x", "--include", "Reprots"], "Reprots", "Reports"),
    (["restore", "x", "--include", "SynchronizeJob"], "SynchronizeJob", "SynchronizeJobs"),
])
def test_a_mistyped_choice_lists_the_choices_and_says_did_you_mean(args: list[str], typo: str, meant: str,
                                                                    sample: helpers.Sample,
                                                                    engine_log_dir: Path) -> None:
    done = helpers.run_cli(*args, "--answer-file", sample.answer_file, log_dir=engine_log_dir)
    assert done.returncode == 2
    assert typo in done.stderr and f"Did you mean {meant}?" in done.stderr, done.stderr


def test_did_you_mean_for_modules_and_keys_in_the_answer_file(sample: helpers.Sample, engine_log_dir: Path,
                                                              tmp_path: Path) -> None:
    data = sample.answers
    data["modules"] = ["Configuratoin"]
    modules = sample.write_answers(data, f"answers-typo-module-{tmp_path.name}.json")
    done = helpers.run_cli("plan", "--answer-file", modules, log_dir=engine_log_dir)
    assert done.returncode == 2 and "Did you mean Configuration?" in done.stderr, done.stderr
    data = sample.answers
    data["target"]["databse"] = data["target"].pop("database")
    data["source"]["database"]["pth"] = data["source"]["database"].pop("path")
    data["sekretsFile"] = data.pop("secretsFile")
    keys = sample.write_answers(data, f"answers-typo-keys-{tmp_path.name}.json")
    done = helpers.run_cli("plan", "--answer-file", keys, "--json", log_dir=engine_log_dir)
    assert done.returncode == 2
    errors = {e["field"]: e["message"] for e in json.loads(done.stdout)["error"]["data"]["errors"]}
    assert errors["target.databse"].endswith("Did you mean database?")
    assert errors["source.database.pth"].endswith("Did you mean path?")  # inside a tagged union
    assert errors["sekretsFile"].endswith("Did you mean secretsFile?")
    modules.unlink()
    keys.unlink()


# --- input files that cannot be read ----------------------------------------------------------------------
def unreadable(path: Path) -> Path:
    """A secrets file this process cannot read: mode 000, or (root reads anything) a folder in its place."""
    if os.geteuid() == 0:
        path.mkdir()
    else:
        path.write_text("{}", encoding="utf-8")
        path.chmod(0)
    return path


def test_an_unreadable_secrets_file_is_named_with_exit_code_2(sample: helpers.Sample, engine_log_dir: Path,
                                                              tmp_path: Path) -> None:
    secrets = unreadable(tmp_path / "secrets.json")
    answer_file = sample.answers_with(f"answers-unreadable-{tmp_path.name}.json", secretsFile=str(secrets))
    for args in ([], ["--json"]):
        done = helpers.run_cli("plan", "--answer-file", answer_file, *args, log_dir=engine_log_dir)
        assert done.returncode == 2, done.stderr
        assert "unexpected" not in done.stderr and "Traceback" not in done.stderr
        assert f"The secrets file {secrets} cannot be read" in done.stderr
    assert json.loads(done.stdout)["error"]["data"]["errorId"] == "SecretsFileInvalid"
    answer_file.unlink()
    folder_answers = unreadable(tmp_path / "answers-folder.json")
    done = helpers.run_cli("plan", "--answer-file", folder_answers, log_dir=engine_log_dir)
    assert done.returncode == 2 and str(folder_answers) in done.stderr and "unexpected" not in done.stderr


def test_any_os_error_on_an_input_file_is_named_with_exit_code_2() -> None:
    from groupid_upgrade.cli import input_file_error

    error = input_file_error(PermissionError(13, "Permission denied", "/srv/gid/cert.pfx"))
    assert error.exit_code == 2 and "/srv/gid/cert.pfx" in error.message and "Permission denied" in error.message


# --- tables sized to their contents -------------------------------------------------------------------------
def test_a_long_store_name_does_not_break_the_store_table(sample_copy: helpers.Sample, engine_log_dir: Path) -> None:
    long_name = "Fabrikam Headquarters North Europe"[:33]
    assert len(long_name) == 33
    with sqlite3.connect(sample_copy.database) as conn:
        conn.execute("UPDATE Svc_IdentityStore SET Name = ? WHERE IdentityStoreId = 1", (long_name,))
    done = helpers.run_cli("plan", "--answer-file", sample_copy.answer_file, log_dir=engine_log_dir)
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["Id", "Identity"])
    table = [lines[header]]
    for line in lines[header + 1:]:
        if not line.strip():
            break
        table.append(line)
    assert any(long_name in line for line in table)
    type_at = lines[header].index("Type")
    domain_at = lines[header].index("Domain")
    for row in table[1:]:
        assert row[type_at - 1] == " " and row[type_at] != " ", row  # every Type starts under its header
        assert row[domain_at - 1] == " " and row[domain_at] != " ", row


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet=st.characters(categories=("L", "N", "P")), min_size=1, max_size=40),
                          st.integers(0, 10**9), st.text(alphabet="abc", min_size=1, max_size=5)),
                min_size=1, max_size=12))
def test_every_column_starts_at_the_same_place_in_every_row(rows: list[tuple[str, int, str]]) -> None:
    lines = format_table(("Name", "Count", "Kind"), rows, right=(1,))
    starts = [0]
    widths = [max(len(str(r[i])) for r in [("Name", "Count", "Kind"), *rows]) for i in range(3)]
    for width in widths[:-1]:
        starts.append(starts[-1] + width + 2)
    for line, row in zip(lines[1:], rows, strict=True):
        body = line[2:]
        assert body[starts[0]:starts[0] + widths[0]].rstrip() == row[0]
        assert body[starts[1]:starts[1] + widths[1]].strip() == str(row[1])
        assert body[starts[2]:].strip() == row[2]


def test_plan_exits_3_while_questions_are_open(sample: helpers.Sample, engine_log_dir: Path, tmp_path: Path) -> None:
    data = sample.answers
    data["answers"].pop("schedule:4:store")
    answer_file = sample.write_answers(data, f"answers-open-{tmp_path.name}.json")
    for args in ([], ["--json"]):
        done = helpers.run_cli("plan", "--answer-file", answer_file, *args, log_dir=engine_log_dir)
        assert done.returncode == 3, done.stderr
    assert [q["id"] for q in json.loads(done.stdout)["questions"] if not q["answered"]] == ["schedule:4:store"]
    text = helpers.run_cli("plan", "--answer-file", answer_file, log_dir=engine_log_dir).stdout
    assert "1 question(s) open" in text and "exit code 3" in text
    answer_file.unlink()
    assert helpers.run_cli("plan", "--answer-file", sample.answer_file, log_dir=engine_log_dir).returncode == 0
