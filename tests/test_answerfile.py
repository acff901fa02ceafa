"""The answer file: paths, the secrets file, names, JSON errors, permission warnings, and secrecy."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import EngineError
from groupid_upgrade.reporting import CollectingReporter
from support import leaks

pytest_plugins = ["helpers"]

SOURCE_SECRET = "src-Secret-7f3a9c!Ünï"
TARGET_SECRET = "tgt-Secret-0b1e22"
OTHER_SECRET = "file-Secret-55d1"


def minimal(**source: Any) -> dict[str, Any]:
    return {
        "source": {
            "version": "10.0",
            "database": {"kind": "sqlite", "path": "db/source.db"},
            "programFiles": "pf",
            "programData": "pd",
            **source,
        },
        "target": {"version": "11.1", "database": {"kind": "sqlite", "path": "out/target.db"}},
    }


def write(path: Path, data: Any, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(mode)
    return path


def warnings_of(reporter: CollectingReporter) -> list[str]:
    return [message for level, message in reporter.logs if level == "warning"]


# --- paths ---------------------------------------------------------------------------------------
def test_relative_paths_resolve_against_the_answer_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "answers"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = minimal()
    data["target"]["logFolder"] = "logs"
    data["target"]["elasticsearch"] = {"url": "https://es:9200", "caFile": "certs/ca.pem"}
    data["secretsFile"] = "private/secrets.json"
    write(folder / "private" / "secrets.json", {"target": {"passphrase": TARGET_SECRET}})
    answers = load_answer_file(write(folder / "a.json", data))
    resolved = folder.resolve()
    assert answers.source.database.path == resolved / "db" / "source.db"
    assert answers.source.program_files == resolved / "pf"
    assert answers.source.program_data == resolved / "pd"
    assert answers.target.database.path == resolved / "out" / "target.db"
    assert answers.target.log_folder == resolved / "logs"
    assert answers.target.elasticsearch.ca_file == resolved / "certs" / "ca.pem"
    assert answers.secrets_file == resolved / "private" / "secrets.json"
    assert answers.target.passphrase.get_secret_value() == TARGET_SECRET


def test_relative_paths_in_the_secrets_file_resolve_against_its_own_folder(tmp_path: Path) -> None:
    data = minimal()
    data["secretsFile"] = "../vault/secrets.json"
    write(tmp_path / "vault" / "secrets.json", {"target": {"programData": "tpd"}})
    answers = load_answer_file(write(tmp_path / "answers" / "a.json", data))
    assert answers.target.program_data.resolve() == (tmp_path / "vault" / "tpd").resolve()


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    data = minimal()
    data["source"]["database"]["path"] = str(tmp_path / "abs" / "x.db")
    answers = load_answer_file(write(tmp_path / "a" / "a.json", data))
    assert answers.source.database.path == tmp_path / "abs" / "x.db"


def test_the_sample_answer_file_loads_from_any_folder(
    sample: helpers.Sample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    answers = load_answer_file(sample.answer_file)
    assert answers.source.database.path == sample.database.resolve()
    assert answers.source.database.path.is_file()
    assert answers.source.program_data.is_dir() and answers.source.program_files.is_dir()
    assert answers.source.passphrase.get_secret_value() == sample.secrets["source"]["passphrase"]


# --- the secrets file ------------------------------------------------------------------------------
def test_secrets_file_is_merged_and_the_answer_file_wins(tmp_path: Path) -> None:
    data = minimal(passphrase=SOURCE_SECRET)
    data["secretsFile"] = "secrets.json"
    write(
        tmp_path / "secrets.json",
        {"source": {"passphrase": OTHER_SECRET, "version": "9.0"}, "target": {"passphrase": TARGET_SECRET}},
    )
    answers = load_answer_file(write(tmp_path / "a.json", data))
    assert answers.source.passphrase.get_secret_value() == SOURCE_SECRET  # answer file wins
    assert answers.source.version == "10.0"  # answer file wins for any key
    assert answers.target.passphrase.get_secret_value() == TARGET_SECRET  # filled in from the secrets file
    assert answers.target.version == "11.1"


def test_secrets_file_merges_nested_answers(tmp_path: Path) -> None:
    data = minimal()
    data["answers"] = {"forest:corp.example.com:serviceAccount": {"userName": "CORP\\svc"}}
    data["secretsFile"] = "secrets.json"
    write(
        tmp_path / "secrets.json",
        {"answers": {"forest:corp.example.com:serviceAccount": {"password": OTHER_SECRET}}},
    )
    answers = load_answer_file(write(tmp_path / "a.json", data))
    answer = answers.answers["forest:corp.example.com:serviceAccount"]
    assert answer["userName"] == "CORP\\svc"
    assert isinstance(answer["password"], SecretStr)  # a secret among the free-form answers is hidden (R19)
    assert answer["password"].get_secret_value() == OTHER_SECRET


def test_missing_secrets_file_is_refused(tmp_path: Path) -> None:
    data = minimal()
    data["secretsFile"] = "nope.json"
    with pytest.raises(EngineError) as info:
        load_answer_file(write(tmp_path / "a.json", data))
    assert info.value.error_id == "SecretsFileInvalid"
    assert "nope.json" in info.value.message


def test_missing_answer_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        load_answer_file(tmp_path / "absent.json")
    assert info.value.error_id == "AnswerFileNotFound"
    assert "absent.json" in info.value.message


# --- names -------------------------------------------------------------------------------------------
def test_keys_match_case_insensitively(tmp_path: Path) -> None:
    data = {
        "SOURCE": {
            "VERSION": "10",
            "Database": {"KIND": "sqlite", "PATH": "s.db"},
            "programfiles": "pf",
            "PROGRAMDATA": "pd",
            "PassPhrase": SOURCE_SECRET,
        },
        "Target": {"version": "11.1", "database": {"kind": "sqlite", "path": "t.db"}, "LOGFOLDER": "logs"},
        "MODULES": ["Configuration"],
        "ValidateOnline": True,
        "secretsfile": "s.json",
    }
    write(tmp_path / "s.json", {"TARGET": {"PASSPHRASE": TARGET_SECRET}})
    answers = load_answer_file(write(tmp_path / "a.json", data))
    assert answers.source.version == "10"
    assert answers.source.program_files == (tmp_path / "pf").resolve()  # a path field, resolved
    assert answers.source.program_data == (tmp_path / "pd").resolve()
    assert answers.source.database.path == (tmp_path / "s.db").resolve()
    assert answers.target.log_folder == (tmp_path / "logs").resolve()
    assert answers.source.passphrase.get_secret_value() == SOURCE_SECRET
    assert answers.target.passphrase.get_secret_value() == TARGET_SECRET
    assert answers.modules == ["Configuration"]
    assert answers.validate_online is True


def test_differently_cased_key_in_the_secrets_file_does_not_override_the_answer_file(tmp_path: Path) -> None:
    data = minimal(passphrase=SOURCE_SECRET)
    data["secretsFile"] = "s.json"
    write(tmp_path / "s.json", {"SOURCE": {"PASSPHRASE": OTHER_SECRET}})
    answers = load_answer_file(write(tmp_path / "a.json", data))
    assert answers.source.passphrase.get_secret_value() == SOURCE_SECRET


def test_differently_cased_key_in_the_secrets_file_fills_in_the_answer_file(tmp_path: Path) -> None:
    data = minimal()
    data["SecretsFile"] = "s.json"
    write(
        tmp_path / "s.json", {"SOURCE": {"PassPhrase": OTHER_SECRET}, "Target": {"PASSPHRASE": TARGET_SECRET}}
    )
    answers = load_answer_file(write(tmp_path / "a.json", data))
    assert answers.source.passphrase.get_secret_value() == OTHER_SECRET
    assert answers.target.passphrase.get_secret_value() == TARGET_SECRET
    assert answers.source.program_data == (tmp_path / "pd").resolve()  # the rest of source is kept


def test_upper_case_answer_file_holding_secrets_is_recognized(tmp_path: Path) -> None:
    reporter = CollectingReporter()
    data = minimal()
    data["source"]["PASSPHRASE"] = SOURCE_SECRET
    load_answer_file(write(tmp_path / "a.json", data, 0o644), reporter=reporter)
    assert warnings_of(reporter)


# --- invalid files ---------------------------------------------------------------------------------
def test_invalid_json_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    lines = ["{", '  "source": {', '    "version": "10.0",', '    "database": ]', "}"]
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(EngineError) as info:
        load_answer_file(path)
    column = lines[3].index("]") + 1
    assert info.value.error_id == "AnswerFileInvalid"
    assert f"line 4, column {column}" in info.value.message
    assert str(path) in info.value.message
    assert info.value.extra["errors"][0]["location"] == f"line 4, column {column}"


def test_invalid_json_in_the_secrets_file_names_it(tmp_path: Path) -> None:
    data = minimal()
    data["secretsFile"] = "s.json"
    (tmp_path / "s.json").write_text('{"source": {"passphrase": "' + SOURCE_SECRET + '",}}', encoding="utf-8")
    with pytest.raises(EngineError) as info:
        load_answer_file(write(tmp_path / "a.json", data))
    assert info.value.error_id == "SecretsFileInvalid"
    assert "s.json" in info.value.message and "line 1, column" in info.value.message
    leaks.assert_no_leaks([SOURCE_SECRET], texts={"error": str(info.value.to_error_object())})


def test_answer_file_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(EngineError) as info:
        load_answer_file(path)
    assert info.value.error_id == "AnswerFileInvalid"


def test_every_invalid_field_is_listed_with_its_path(tmp_path: Path) -> None:
    data = minimal()
    data["sourc"] = {}
    data["source"]["pasphrase"] = SOURCE_SECRET
    data["source"]["database"]["pth"] = "x"
    data["target"]["database"] = {"kind": "sqlserver", "server": "sql01", "databse": "G"}
    data["modules"] = "Configuration"
    with pytest.raises(EngineError) as info:
        load_answer_file(write(tmp_path / "a.json", data))
    fields = sorted(e["field"] for e in info.value.extra["errors"])
    assert fields == sorted(
        [
            "sourc",
            "source.pasphrase",
            "source.database.pth",
            "target.database.databse",
            "target.database.database",
            "modules",
        ]
    )
    for field in fields:
        assert field in info.value.message


# --- permission warnings (R19) -----------------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(
    ("mode", "warned"), [(0o600, False), (0o400, False), (0o640, True), (0o604, True), (0o644, True)]
)
def test_r19_warns_when_the_secrets_file_is_readable_by_others(
    tmp_path: Path, mode: int, warned: bool
) -> None:
    data = minimal()
    data["secretsFile"] = "secrets.json"
    write(tmp_path / "secrets.json", {"source": {"passphrase": SOURCE_SECRET}}, mode)
    reporter = CollectingReporter()
    load_answer_file(write(tmp_path / "a.json", data, 0o644), reporter=reporter)
    warnings = warnings_of(reporter)
    assert bool(warnings) is warned
    if warned:
        assert any("secrets.json" in w for w in warnings)
    leaks.assert_no_leaks([SOURCE_SECRET], texts=warnings)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o644, True)])
def test_r19_warns_when_an_answer_file_holding_secrets_is_readable_by_others(
    tmp_path: Path, mode: int, warned: bool
) -> None:
    reporter = CollectingReporter()
    path = write(tmp_path / "a.json", minimal(passphrase=SOURCE_SECRET), mode)
    load_answer_file(path, reporter=reporter)
    warnings = warnings_of(reporter)
    assert bool(warnings) is warned
    if warned:
        assert any(str(path) in w for w in warnings)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_r19_no_warning_for_a_readable_answer_file_without_secrets(tmp_path: Path) -> None:
    reporter = CollectingReporter()
    load_answer_file(write(tmp_path / "a.json", minimal(), 0o644), reporter=reporter)
    assert warnings_of(reporter) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_r19_the_sample_files_give_no_warning(sample: helpers.Sample) -> None:
    reporter = CollectingReporter()
    load_answer_file(sample.answer_file, reporter=reporter)
    assert warnings_of(reporter) == []


# --- no secret in errors or repr (R19) --------------------------------------------------------------
def test_r19_no_secret_in_repr_of_the_loaded_model(tmp_path: Path, sample: helpers.Sample) -> None:
    data = minimal(passphrase=SOURCE_SECRET)
    data["target"]["passphrase"] = TARGET_SECRET
    data["target"]["database"] = {
        "kind": "sqlserver",
        "server": "sql01",
        "database": "G",
        "userName": "sa",
        "password": OTHER_SECRET,
    }
    data["directories"] = {
        "corp.example.com": {
            "url": "ldaps://dc01",
            "credential": {"userName": "CORP\\admin", "password": OTHER_SECRET + "2"},
        }
    }
    answers = load_answer_file(write(tmp_path / "a.json", data))
    sample_answers = load_answer_file(sample.answer_file)
    for model, secrets in (
        (answers, [SOURCE_SECRET, TARGET_SECRET, OTHER_SECRET, OTHER_SECRET + "2"]),
        (sample_answers, list(leaks.secret_values(sample.secrets).values())),
    ):
        assert secrets
        leaks.assert_no_leaks(secrets, texts={
            "repr": repr(model),
            "str": str(model),
            "wire": json.dumps(model.wire()),
            "model_dump_json": model.model_dump_json(),
            "repr(source)": repr(model.source),
            "repr(target)": repr(model.target),
        })


@pytest.mark.parametrize("where", ["unknown-key", "wrong-type", "wrong-type-nested", "secrets-file"])
def test_r19_no_secret_in_validation_errors(tmp_path: Path, where: str) -> None:
    data = minimal(passphrase=SOURCE_SECRET)
    if where == "unknown-key":
        data["source"]["pasphrase"] = OTHER_SECRET
    elif where == "wrong-type":
        data["source"]["passphrase"] = {"value": OTHER_SECRET}
    elif where == "wrong-type-nested":
        data["directories"] = {
            "corp": {"url": "ldaps://dc", "credential": {"userName": "u", "password": [OTHER_SECRET]}}
        }
    else:
        data["secretsFile"] = "s.json"
        write(tmp_path / "s.json", {"target": {"passphrase": OTHER_SECRET, "pasphrase": OTHER_SECRET}})
    with pytest.raises(EngineError) as info:
        load_answer_file(write(tmp_path / "a.json", data))
    assert info.value.error_id == "AnswerFileInvalid"
    leaks.assert_no_leaks([SOURCE_SECRET, OTHER_SECRET], texts={
        "error object": json.dumps(info.value.to_error_object()), "str": str(info.value), "repr": repr(info.value)})


def test_inline_settings_override_the_answer_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", minimal())
    answers = load_answer_file(
        path, inline={"modules": ["Configuration", "Reports"], "source": {"programData": "other"}}
    )
    assert answers.modules == ["Configuration", "Reports"]
    assert answers.source.program_data == (tmp_path / "other").resolve()
    assert answers.source.program_files == (tmp_path / "pf").resolve()


def test_explicit_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", minimal())
    answers = load_answer_file(path, inline={"modules": ["Reports"]}, overrides={"modules": ["Everything"]})
    assert answers.modules == ["Everything"]


def test_nothing_given_is_refused() -> None:
    with pytest.raises(EngineError) as info:
        load_answer_file(None)
    assert info.value.error_id == "AnswerFileInvalid"
