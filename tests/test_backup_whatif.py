"""``backup --what-if`` checks each part the way the backup reads it (issue #15): a part the backup would fail
on (its database unreadable, its Elasticsearch or directory unreachable) fails the what-if with the same
error, and the what-if writes nothing; an intact installation is predicted to back up."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import helpers
from support import trees

pytest_plugins = ["helpers"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unreachable_elasticsearch(sample: helpers.Sample) -> Path:
    data = sample.answers
    data["source"]["elasticsearch"] = {"url": f"http://127.0.0.1:{_closed_port()}", "maxRetries": 0}
    return sample.write_answers(data)


def unreachable_directory(sample: helpers.Sample) -> Path:
    data = sample.answers
    data["directories"] = {"corp.example.com": {"url": f"ldap://127.0.0.1:{_closed_port()}",
                                                "credential": {"userName": "CORP\\\\svc-backup"}}}
    return sample.write_answers(data)


def database_not_a_database(sample: helpers.Sample) -> Path:
    sample.database.write_bytes(b"this is no SQLite database " * 200)
    return sample.answer_file


def intact(sample: helpers.Sample) -> Path:
    return sample.answer_file


CASES: dict[str, tuple[Callable[[helpers.Sample], Path], str | None]] = {
    "elasticsearch unreachable": (unreachable_elasticsearch, "SearchUnreachable"),
    "directory unreachable": (unreachable_directory, "DirectoryUnreachable"),
    "database not a database": (database_not_a_database, "DatabaseUnreadable"),
    "intact": (intact, None),
}


def backup(answer_file: Path, dest: Path, log_dir: Path, *extra: str) -> tuple[int, Any]:
    done = helpers.run_cli("backup", "--answer-file", answer_file, "--destination", dest, "--json", *extra,
                           log_dir=log_dir)
    assert "unexpected" not in done.stderr.lower(), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("case", sorted(CASES))
def test_r17_backup_what_if_fails_where_the_backup_fails(case: str, sample_copy: helpers.Sample, tmp_path: Path,
                                                         engine_log_dir: Path) -> None:
    mutate, expected = CASES[case]
    answer_file = mutate(sample_copy)
    dest = tmp_path / "set"
    with trees.unchanged(sample_copy.root, "the installation (what-if)"):
        code, predicted = backup(answer_file, dest, engine_log_dir, "--what-if")
    assert not dest.exists()  # the what-if wrote nothing
    code_real, actual = backup(answer_file, dest, engine_log_dir)
    if expected is None:
        assert code == code_real == 0
        assert [p["name"] for p in predicted["manifest"]["parts"]] == [p["name"] for p in actual["manifest"]["parts"]]
        return
    assert code == code_real != 0
    assert predicted["error"]["data"]["errorId"] == actual["error"]["data"]["errorId"] == expected
