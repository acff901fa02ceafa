"""R1 (versions and upgrade paths) and R2 (modules, their order and dependencies)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import helpers
from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.settings import AnswerFile
from groupid_upgrade.planning.modules import DEPENDENCIES, resolve_modules
from groupid_upgrade.planning.versions import (
    check_upgrade_path,
    normalize_source_version,
    normalize_target_version,
)
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.upgrade.blueprint import compute_plan

pytest_plugins = ["helpers"]

ALL_MODULES = ["Configuration", "Synchronize", "Schedules", "Reports", "History", "Groups"]


# --- R1 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (9, "9.0"),
        (10, "10.0"),
        ("9.0", "9.0"),
        ("10.0", "10.0"),
        ("9", "9.0"),
        ("10", "10.0"),
        (" 10 ", "10.0"),
    ],
)
def test_r1_source_versions_accepted(given: object, expected: str) -> None:
    assert normalize_source_version(given) == expected


@pytest.mark.parametrize("given", ["8.0", 8, "11", "11.0", "10.1", "", "ten", "9.5"])
def test_r1_source_version_unsupported(given: object) -> None:
    with pytest.raises(EngineError) as info:
        normalize_source_version(given)
    assert info.value.error_id == "SourceVersionUnsupported"
    assert repr(given) in info.value.message


@pytest.mark.parametrize(
    ("given", "expected"), [("11.0", "11.0"), ("11.1", "11.1"), (11, "11.0"), ("11", "11.0")]
)
def test_r1_target_versions_accepted(given: object, expected: str) -> None:
    assert normalize_target_version(given) == expected


@pytest.mark.parametrize("given", ["12", "12.0", "10.0", "11.2", "9"])
def test_r1_target_version_unsupported(given: str) -> None:
    with pytest.raises(EngineError) as info:
        normalize_target_version(given)
    assert info.value.error_id == "TargetVersionUnsupported"
    assert given in info.value.message


@pytest.mark.parametrize("source", [9, "9", "9.0"])
def test_r1_target_11_1_refuses_source_9(source: object) -> None:
    with pytest.raises(EngineError) as info:
        check_upgrade_path(source, "11.1")
    assert info.value.error_id == "UpgradePathUnsupported"
    assert "9.0" in info.value.message and "11.1" in info.value.message


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("9", "11.0", ("9.0", "11.0")),
        ("9.0", "11.0", ("9.0", "11.0")),
        (10, "11.0", ("10.0", "11.0")),
        ("10.0", "11.0", ("10.0", "11.0")),
        ("10", "11.1", ("10.0", "11.1")),
        ("10.0", "11.1", ("10.0", "11.1")),
    ],
)
def test_r1_supported_paths(source: object, target: str, expected: tuple[str, str]) -> None:
    assert check_upgrade_path(source, target) == expected


def test_r1_source_version_checked_before_target() -> None:
    # An unsupported source is named even when the target is unsupported too.
    with pytest.raises(EngineError) as info:
        check_upgrade_path("8.0", "12")
    assert info.value.error_id == "SourceVersionUnsupported"


def test_r1_answer_file_accepts_numeric_versions() -> None:
    model = AnswerFile.model_validate(
        {
            "source": {"version": 9, "database": {"kind": "sqlite", "path": "a.db"}},
            "target": {"version": 11.0, "database": {"kind": "sqlite", "path": "b.db"}},
        }
    )
    assert check_upgrade_path(model.source.version, model.target.version) == ("9.0", "11.0")


def _missing_source_answers(tmp_path: Path, source: str, target: str) -> AnswerFile:
    return AnswerFile.model_validate(
        {
            "source": {
                "version": source,
                "database": {"kind": "sqlite", "path": str(tmp_path / "no-such.db")},
                "programFiles": str(tmp_path / "no-such-pf"),
                "programData": str(tmp_path / "no-such-pd"),
            },
            "target": {"version": target, "database": {"kind": "sqlite", "path": str(tmp_path / "t.db")}},
        }
    )


@pytest.mark.parametrize(
    ("source", "target", "error_id"),
    [
        ("9.0", "11.1", "UpgradePathUnsupported"),
        ("8.0", "11.0", "SourceVersionUnsupported"),
        ("11", "11.1", "SourceVersionUnsupported"),
        ("10.0", "12", "TargetVersionUnsupported"),
    ],
)
def test_r1_checked_before_the_source_is_read(
    tmp_path: Path, source: str, target: str, error_id: str
) -> None:
    # Neither the database nor the folders exist: reading them would fail differently.
    answers = _missing_source_answers(tmp_path, source, target)
    with pytest.raises(EngineError) as info:
        compute_plan(answers, CollectingReporter())
    assert info.value.error_id == error_id
    assert not (tmp_path / "no-such.db").exists()
    assert not (tmp_path / "t.db").exists()


def test_r1_supported_pair_does_read_the_source(tmp_path: Path) -> None:
    # The control for the test above: with a supported pair the missing source is what fails.
    answers = _missing_source_answers(tmp_path, "10.0", "11.1")
    with pytest.raises(EngineError) as info:
        compute_plan(answers, CollectingReporter())
    assert info.value.error_id in {"SourceFolderNotFound", "DatabaseUnreadable"}


def test_r1_sample_9_plans_to_11_0_and_not_to_11_1(tmp_path: Path) -> None:
    sample = helpers.Sample(helpers.make_sample(tmp_path / "s9", version="9.0", history=50, groups=16))
    from groupid_upgrade.answerfile import load_answer_file

    plan = compute_plan(load_answer_file(sample.answer_file), CollectingReporter())
    assert (plan.source_version, plan.target_version) == ("9.0", "11.0")
    data = sample.answers
    data["target"]["version"] = "11.1"
    with pytest.raises(EngineError) as info:
        compute_plan(load_answer_file(sample.write_answers(data)), CollectingReporter())
    assert info.value.error_id == "UpgradePathUnsupported"


# --- R2 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("everything", ["Everything", "everything", " EVERYTHING "])
def test_r2_everything_is_every_module_in_order(everything: str) -> None:
    assert resolve_modules([everything]) == ALL_MODULES


def test_r2_custom_set_returned_in_execution_order() -> None:
    requested = ["Groups", "History", "Configuration"]
    assert resolve_modules(requested) == ["Configuration", "History", "Groups"]
    requested = ["Schedules", "Reports", "Synchronize", "Configuration"]
    assert resolve_modules(requested) == ["Configuration", "Synchronize", "Schedules", "Reports"]


def test_r2_every_permutation_of_all_modules_gives_the_same_order() -> None:
    for perm in itertools.islice(itertools.permutations(ALL_MODULES), 0, None, 37):
        assert resolve_modules(list(perm)) == ALL_MODULES


def test_r2_module_names_match_case_insensitively() -> None:
    assert resolve_modules(["configuration", "REPORTS"]) == ["Configuration", "Reports"]


def test_r2_duplicates_are_one_module() -> None:
    assert resolve_modules(["Configuration", "Configuration", "Reports"]) == ["Configuration", "Reports"]


@pytest.mark.parametrize("name", ["Reprots", "Config", "Everything2", "Jobs"])
def test_r2_unknown_module_refused(name: str) -> None:
    with pytest.raises(EngineError) as info:
        resolve_modules(["Configuration", name])
    assert info.value.error_id == "ModuleUnknown"
    assert name in info.value.message


def test_r2_empty_module_list_refused() -> None:
    with pytest.raises(EngineError) as info:
        resolve_modules([])
    assert info.value.error_id == "ModuleUnknown"


@pytest.mark.parametrize(
    ("requested", "missing"),
    [
        (["Synchronize"], "Configuration"),
        (["Reports"], "Configuration"),
        (["History"], "Configuration"),
        (["Configuration", "Schedules"], "Synchronize"),
        (["Configuration", "Groups"], "History"),
        (["Configuration", "Reports", "Groups"], "History"),
        (["Configuration", "History", "Schedules"], "Synchronize"),
    ],
)
def test_r2_missing_dependency_is_named(requested: list[str], missing: str) -> None:
    with pytest.raises(EngineError) as info:
        resolve_modules(requested)
    assert info.value.error_id == "ModuleDependencyMissing"
    assert missing in info.value.message


@pytest.mark.parametrize("module", ALL_MODULES[1:])
def test_r2_every_module_needs_configuration(module: str) -> None:
    with_deps = {module} | {d for d in DEPENDENCIES[module] if d != "Configuration"}
    with pytest.raises(EngineError) as info:
        resolve_modules(sorted(with_deps))
    assert info.value.error_id == "ModuleDependencyMissing"
    assert "Configuration" in info.value.message


def test_r2_dependency_table_matches_the_rule() -> None:
    assert set(DEPENDENCIES) == set(ALL_MODULES)
    for module in ALL_MODULES[1:]:
        assert "Configuration" in DEPENDENCIES[module]
    assert "Synchronize" in DEPENDENCIES["Schedules"]
    assert "History" in DEPENDENCIES["Groups"]


@pytest.mark.parametrize(
    ("requested", "done", "expected"),
    [
        (["Synchronize"], ["Configuration"], ["Synchronize"]),
        (["Schedules"], ["Configuration", "Synchronize"], ["Schedules"]),
        (["Groups"], ["Configuration", "History"], ["Groups"]),
        (["History", "Groups"], ["Configuration"], ["History", "Groups"]),
    ],
)
def test_r2_done_earlier_satisfies_a_dependency(
    requested: list[str], done: list[str], expected: list[str]
) -> None:
    assert resolve_modules(requested, done_earlier=done) == expected


def test_r2_done_earlier_does_not_cover_a_different_module() -> None:
    with pytest.raises(EngineError) as info:
        resolve_modules(["Groups"], done_earlier=["Configuration", "Synchronize"])
    assert info.value.error_id == "ModuleDependencyMissing"
    assert "History" in info.value.message


@pytest.mark.parametrize("other", ["Configuration", "Reports", "Everything"])
def test_r2_everything_combined_with_others_refused(other: str) -> None:
    with pytest.raises(EngineError) as info:
        resolve_modules(["Everything", other])
    assert info.value.error_id == "ModuleUnknown"
    assert "Everything" in info.value.message
