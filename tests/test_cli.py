"""``groupid-upgrade`` (``python -m groupid_upgrade``): exit codes, ``--json``, ``--help``, and every
refusal of ``plan`` without a traceback."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import helpers
from groupid_upgrade import __version__
from groupid_upgrade.cli import main
from groupid_upgrade.errors import CATALOG
from support import leaks

pytest_plugins = ["helpers"]

CASE_NAMES = [
    "source-version-8",
    "source-version-11",
    "target-version-12",
    "unsupported-pair",
    "unknown-module",
    "module-without-dependency",
    "missing-source-folder",
    "garbage-database",
    "truncated-database",
    "corrupted-database",
    "missing-database",
    "unknown-top-level-key",
    "unknown-nested-key",
    "unknown-keys-everywhere",
    "wrong-type",
]


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stdout


@pytest.fixture(scope="module")
def cli_errors(
    sample: helpers.Sample, tmp_path_factory: pytest.TempPathFactory, engine_log_dir: Path
) -> dict[str, tuple[helpers.ErrorCase, subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]]:
    """Each failing answer file through ``plan --json`` and plain ``plan``, run in parallel."""
    cases = helpers.build_error_cases(sample, tmp_path_factory.mktemp("cli-errors"))

    def both(
        case: helpers.ErrorCase,
    ) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
        as_json = helpers.run_cli("plan", "--answer-file", case.answer_file, "--json", log_dir=engine_log_dir)
        plain = helpers.run_cli("plan", "--answer-file", case.answer_file, log_dir=engine_log_dir)
        return as_json, plain

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(both, cases))
    return {case.name: (case, *result) for case, result in zip(cases, results, strict=True)}


@pytest.mark.parametrize("name", CASE_NAMES)
def test_cli_plan_refusal(cli_errors: dict, name: str) -> None:
    case, as_json, plain = cli_errors[name]
    for result in (as_json, plain):
        no_traceback(result)
        assert result.returncode == case.exit_code == CATALOG[case.error_id].exit_code, result.stderr
        # plain progress lines (stderr is not a terminal) may come first; the error is the first other line
        assert [line for line in result.stderr.splitlines() if not line.startswith("progress: ")][0].startswith(
            "error: ")
        for culprit in case.culprit:
            assert culprit in result.stderr
    error = json.loads(as_json.stdout)["error"]
    assert error["data"]["errorId"] == case.error_id
    assert error["message"] in as_json.stderr
    for culprit in case.culprit:
        assert culprit in error["message"]
    if case.bad_fields:
        assert sorted(e["field"] for e in error["data"]["errors"]) == sorted(case.bad_fields)
        for field in case.bad_fields:
            assert f"  - {field}: " in as_json.stderr  # each field listed for a person too
    assert plain.stdout == ""  # without --json, errors go to stderr only


def test_cli_exit_codes_follow_the_catalog(cli_errors: dict) -> None:
    codes = {case.error_id: as_json.returncode for case, as_json, _ in cli_errors.values()}
    assert codes["DatabaseUnreadable"] == 1 and codes["SourceFolderNotFound"] == 1
    for usage in (
        "SourceVersionUnsupported",
        "TargetVersionUnsupported",
        "UpgradePathUnsupported",
        "ModuleUnknown",
        "ModuleDependencyMissing",
        "AnswerFileInvalid",
    ):
        assert codes[usage] == 2, usage


def test_cli_plan_json_equals_the_protocol_result(sample: helpers.Sample, engine_log_dir: Path) -> None:
    cli = helpers.run_cli("plan", "--answer-file", sample.answer_file, "--json", log_dir=engine_log_dir)
    assert cli.returncode == 0, cli.stderr
    no_traceback(cli)
    session = helpers.serve([helpers.plan_request(sample.answer_file)], log_dir=engine_log_dir)
    assert json.loads(cli.stdout) == session.result(1)


def test_cli_plan_module_option_matches_the_protocol(sample: helpers.Sample, engine_log_dir: Path) -> None:
    cli = helpers.run_cli(
        "plan",
        "--answer-file",
        sample.answer_file,
        "--module",
        "Reports",
        "--module",
        "Configuration",
        "--json",
        log_dir=engine_log_dir,
    )
    assert cli.returncode == 0, cli.stderr
    session = helpers.serve(
        [helpers.plan_request(sample.answer_file, module=["Reports", "Configuration"])],
        log_dir=engine_log_dir,
    )
    data = json.loads(cli.stdout)
    assert data == session.result(1)
    assert data["modules"] == ["Configuration", "Reports"]


def test_cli_plan_prints_the_inventory(sample: helpers.Sample, engine_log_dir: Path) -> None:
    result = helpers.run_cli("plan", "--answer-file", sample.answer_file, log_dir=engine_log_dir)
    assert result.returncode == 0, result.stderr
    no_traceback(result)
    history = sample.query("SELECT COUNT(*) FROM Hist_History")[0][0]
    assert "Source inventory" in result.stdout
    assert any(
        line.split()[-1:] == [str(history)] for line in result.stdout.splitlines() if "History rows" in line
    )
    for (name,) in sample.query("SELECT Name FROM Svc_IdentityStore"):
        assert name in result.stdout


def test_r19_cli_plan_output_holds_no_secret(sample: helpers.Sample, engine_log_dir: Path) -> None:
    secrets = leaks.sample_secrets(sample.root)
    assert sample.secrets["source"]["passphrase"] in secrets.values()
    outputs: dict[str, str] = {}
    for args in (["--json"], []):
        result = helpers.run_cli(
            "plan",
            "--answer-file",
            sample.answer_file,
            "--module",
            "Everything",
            *args,
            log_dir=engine_log_dir,
        )
        assert result.returncode == 0, result.stderr
        outputs |= {f"plan {' '.join(args)} stdout": result.stdout, f"plan {' '.join(args)} stderr": result.stderr}
    leaks.assert_no_leaks(secrets, texts=outputs)


def test_cli_missing_answer_file(tmp_path: Path, engine_log_dir: Path) -> None:
    missing = tmp_path / "absent.json"
    result = helpers.run_cli("plan", "--answer-file", missing, "--json", log_dir=engine_log_dir)
    no_traceback(result)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["data"]["errorId"] == "AnswerFileNotFound"
    assert str(missing) in result.stderr


def test_cli_invalid_json_answer_file(tmp_path: Path, engine_log_dir: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{\n  "source": {,\n}', encoding="utf-8")
    result = helpers.run_cli("plan", "--answer-file", path, log_dir=engine_log_dir)
    no_traceback(result)
    assert result.returncode == 2
    assert "line 2, column 14" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["plan"],
        ["plan", "--answer-file"],
        ["nosuchcommand"],
        ["plan", "--bogus"],
        ["sample"],
        ["sample", "--out", "x", "--version", "8.0"],
    ],
)
def test_cli_usage_errors_exit_2(args: list[str], engine_log_dir: Path, tmp_path: Path) -> None:
    result = helpers.run_cli(*args, log_dir=engine_log_dir, cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2
    assert "Usage" in result.stderr or "Error" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_sample_into_a_non_empty_folder(tmp_path: Path, engine_log_dir: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    result = helpers.run_cli("sample", "--out", out, "--json", log_dir=engine_log_dir)
    no_traceback(result)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["data"]["errorId"] == "OutputPathInvalid"
    assert str(out) in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_cli_sample_json_result(tmp_path: Path, engine_log_dir: Path) -> None:
    out = tmp_path / "s"
    result = helpers.run_cli(
        "sample",
        "--out",
        out,
        "--history",
        "77",
        "--groups",
        "16",
        "--seed",
        "5",
        "--json",
        log_dir=engine_log_dir,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert Path(data["path"]) == out.resolve()
    assert Path(data["answerFile"]).is_file()
    assert (data["history"], data["seed"], data["version"]) == (77, 5, "10.0")
    assert helpers.Sample(out).query("SELECT COUNT(*) FROM Hist_History")[0][0] == 77


def commands() -> list[str]:
    return sorted(main.commands)


def test_cli_help_of_every_command(engine_log_dir: Path) -> None:
    names = commands()
    assert {"plan", "sample", "serve"} <= set(names)

    def help_of(name: str | None) -> subprocess.CompletedProcess[str]:
        return helpers.run_cli(*([name] if name else []), "--help", log_dir=engine_log_dir)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(zip([None, *names], pool.map(help_of, [None, *names]), strict=True))
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stderr)
        no_traceback(result)
        assert "Usage:" in result.stdout
        if name is None:
            for command in names:
                assert command in result.stdout
        else:
            assert name in result.stdout.splitlines()[0]
    assert "--answer-file" in results["plan"].stdout and "--json" in results["plan"].stdout
    assert "--with-faults" in results["sample"].stdout and "--seed" in results["sample"].stdout


def test_cli_version(engine_log_dir: Path) -> None:
    result = helpers.run_cli("--version", log_dir=engine_log_dir)
    assert result.returncode == 0
    assert __version__ in result.stdout
