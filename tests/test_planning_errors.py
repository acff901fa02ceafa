"""R1 and R2 refusals as a person reads them: each error's id, message, target and next step,
asserted whole (the mutation run of planning/versions.py and modules.py found them unchecked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from groupid_upgrade.errors import EngineError
from groupid_upgrade.planning.modules import resolve_modules
from groupid_upgrade.planning.versions import check_upgrade_path


def refusal(call: Callable[[], Any]) -> tuple[str, str, str | None, str | None]:
    with pytest.raises(EngineError) as info:
        call()
    error = info.value
    return error.error_id, error.message, error.target, error.recommended_action


def test_r1_an_unsupported_source_version_says_which_are_accepted() -> None:
    assert refusal(lambda: check_upgrade_path("8.0", "11.0")) == (
        "SourceVersionUnsupported", "Source version '8.0' is not supported; GroupID 9.0 and 10.0 can be upgraded.",
        "source.version", "Set source.version to 9.0 or 10.0 (also written 9 or 10).")


def test_r1_an_unsupported_target_version_says_which_are_accepted() -> None:
    assert refusal(lambda: check_upgrade_path("10", "12")) == (
        "TargetVersionUnsupported", "Target version '12' is not supported; the upgrade goes to 11.0 or 11.1.",
        "target.version", "Set target.version to 11.0 or 11.1.")


def test_r1_source_9_to_11_1_says_how_to_get_there() -> None:
    assert refusal(lambda: check_upgrade_path(9, "11.1")) == (
        "UpgradePathUnsupported", "GroupID 9.0 cannot be upgraded to 11.1 directly; 11.1 accepts source 10.0.",
        "source.version 9.0 -> target.version 11.1", "Upgrade 9.0 to 11.0 first, or to 10.0 and then to 11.1.")


def test_r1_a_pair_11_0_does_not_accept_is_refused_with_the_general_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    from groupid_upgrade.planning import versions

    monkeypatch.setitem(versions.SUPPORTED_PATHS, "11.0", ("10.0",))
    assert refusal(lambda: check_upgrade_path("9", "11.0")) == (
        "UpgradePathUnsupported", "GroupID 9.0 cannot be upgraded to 11.0 directly; 11.0 accepts source 10.0.",
        "source.version 9.0 -> target.version 11.0", "Choose a supported pair.")
    monkeypatch.setitem(versions.SUPPORTED_PATHS, "11.1", ("9.0", "10.0"))
    assert check_upgrade_path("9", "11.1") == ("9.0", "11.1")
    monkeypatch.setitem(versions.SUPPORTED_PATHS, "11.0", ())
    assert refusal(lambda: check_upgrade_path("10", "11.0"))[1].endswith("11.0 accepts source .")


def test_r1_accepted_sources_are_listed_with_or() -> None:
    from groupid_upgrade.planning import versions

    saved = versions.SUPPORTED_PATHS["11.1"]
    versions.SUPPORTED_PATHS["11.1"] = ("9.0", "10.0")
    try:
        assert check_upgrade_path("10", "11.1") == ("10.0", "11.1")
    finally:
        versions.SUPPORTED_PATHS["11.1"] = saved
    # the text of a refusal joins several accepted sources with " or "
    versions.SUPPORTED_PATHS["11.1"] = ("10.0", "10.5")
    try:
        assert "11.1 accepts source 10.0 or 10.5." in refusal(lambda: check_upgrade_path("9", "11.1"))[1]
    finally:
        versions.SUPPORTED_PATHS["11.1"] = saved


def test_r2_everything_with_other_modules_names_the_others() -> None:
    assert refusal(lambda: resolve_modules(["Everything", "History", "Reports"])) == (
        "ModuleUnknown", "Everything cannot be combined with other modules (History, Reports).", "modules",
        "Give either Everything or a list of modules.")
    assert refusal(lambda: resolve_modules(["EVERYTHING", "everything"]))[1] == (
        "Everything cannot be combined with other modules ().")


def test_r2_no_module_says_what_to_give() -> None:
    assert refusal(lambda: resolve_modules([])) == (
        "ModuleUnknown", "No module was selected.", "modules",
        "Give Everything or some of: Configuration, Synchronize, Schedules, Reports, History, Groups.")


def test_r2_an_unknown_module_is_named_with_the_known_ones() -> None:
    assert refusal(lambda: resolve_modules(["Configuration", " Xyzzy "])) == (
        "ModuleUnknown",
        "Module 'Xyzzy' is unknown; the modules are Everything or Configuration, Synchronize, Schedules, Reports, "
        "History, Groups.", "modules: Xyzzy", "Correct the module name.")


def test_r2_a_module_this_version_cannot_run_is_named() -> None:
    assert refusal(lambda: resolve_modules(["groups"], available=("Configuration", "History"))) == (
        "ModuleUnknown", "Module Groups is not available in this version of GroupIDUpgrade.", "modules: Groups",
        "Select among Configuration, History.")
    assert resolve_modules(["Everything"], available=("Configuration", "History")) == ["Configuration", "History"]


def test_r2_a_missing_dependency_names_the_module_and_what_it_needs() -> None:
    assert refusal(lambda: resolve_modules(["Schedules", "Configuration"])) == (
        "ModuleDependencyMissing", "Module Schedules needs Synchronize, which is neither selected nor upgraded earlier.",
        "modules: Schedules", "Add Synchronize to the modules, or run it first.")
    assert resolve_modules(["Schedules"], done_earlier=["Configuration", "Synchronize"]) == ["Schedules"]
