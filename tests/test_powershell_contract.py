"""The module against the engine (issue 8): parameters against ``engine.describe``, the client's
decisions table against every errorId, category, notification and record type the engine emits.

The schemas come from a real ``groupid-upgrade serve`` (``engine.describe``), so a method that
another part of the engine adds or changes is picked up without editing this file; a cmdlet whose
method is missing fails here, naming the method.
"""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, create_model

import powershell_support as ps
from groupid_upgrade import api
from groupid_upgrade.errors import CATALOG
from groupid_upgrade.model.base import Params
from groupid_upgrade.protocol.server import run_server

ENGINE_SOURCE = Path(api.__file__).resolve().parent
TABLE = ps.decisions()


@pytest.fixture(scope="module")
def describe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import os

    env = {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(tmp_path_factory.mktemp("describe-logs"))}
    return ps.engine_describe(env)


# --- parameters <-> engine.describe ----------------------------------------------------------------
@pytest.mark.parametrize("cmdlet", sorted(TABLE["Cmdlets"]))
def test_each_cmdlet_parameter_maps_to_its_methods_params(cmdlet: str, describe: dict[str, Any]) -> None:
    method = TABLE["Cmdlets"][cmdlet]["Method"]
    if method not in describe["methods"]:
        pytest.fail(f"{cmdlet}: the engine has no method '{method}'; engine.describe lists "
                    f"{', '.join(sorted(describe['methods']))}")
    assert ps.check_contract(ps.MODULE_ROOT, describe, only=cmdlet) == []


def test_every_engine_method_has_a_cmdlet(describe: dict[str, Any]) -> None:
    served = {name for name in describe["methods"] if not name.startswith("engine.")}
    assert served == {entry["Method"] for entry in TABLE["Cmdlets"].values()}


def _describe_with(replacements: dict[str, api.MethodSpec]) -> dict[str, Any]:
    """engine.describe from an in-process server whose method table has some methods replaced."""
    table: dict[str, api.MethodSpec | str] = {**api.METHOD_TABLE, **replacements}
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "engine.describe"}).encode() + b"\n"
    stdout = io.BytesIO()
    run_server(io.BytesIO(request), stdout, method_table=table)
    answer = json.loads(stdout.getvalue().splitlines()[0])
    return answer["result"]


def _renamed(method: str, old: str, new: str) -> api.MethodSpec:
    """The method with one params field renamed (a fresh Field, so its wire alias follows the name)."""
    spec = api.load_method(method)
    if spec is None:
        pytest.fail(f"the engine has no method '{method}' (api.METHOD_TABLE)")
    fields: dict[str, Any] = {}
    for name, info in spec.params.model_fields.items():
        default = ... if info.is_required() else info.default
        factory = info.default_factory
        field = Field(default_factory=factory) if factory is not None else Field(default)
        fields[new if name == old else name] = (info.annotation, field)
    assert new in fields, f"{method} has no field {old}"
    model = create_model(f"Renamed{spec.params.__name__}", __base__=Params, **fields)
    return api.MethodSpec(method, model, spec.result, spec.handler, spec.summary, spec.supports_what_if)


@pytest.mark.parametrize(
    ("cmdlet", "method", "old", "new", "parameter"),
    [
        ("Get-GroupIDUpgradePlan", "upgrade.plan", "validate_online", "check_online", "ValidateOnline"),
        ("Invoke-GroupIDUpgrade", "upgrade.run", "module", "modules", "Module"),
        ("Update-GroupIDGroup", "group.upgrade", "keep_user_history", "keep_history", "KeepUserHistory"),
        ("Backup-GroupIDData", "backup.create", "destination", "target_folder", "Destination"),
        ("Test-GroupIDBackup", "backup.verify", "path", "set_path", "Path"),
        ("Restore-GroupIDData", "backup.restore", "to", "under", "To"),
    ],
)
def test_renaming_an_engine_field_fails_naming_cmdlet_and_field(
    cmdlet: str, method: str, old: str, new: str, parameter: str
) -> None:
    described = _describe_with({method: _renamed(method, old, new)})
    problems = ps.check_contract(ps.MODULE_ROOT, described, only=cmdlet)
    assert any(p.startswith(f"{cmdlet}: parameter -{parameter} maps to no field of {method}") for p in problems), problems
    if new in ("target_folder", "set_path"):  # a renamed required field is also reported as unsent
        camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), new)
        assert f"{cmdlet}: {method} requires the field '{camel}', and no parameter sends it" in problems


def test_a_missing_method_fails_naming_it(describe: dict[str, Any]) -> None:
    without = {"methods": {k: v for k, v in describe["methods"].items() if k != "backup.verify"}}
    problems = ps.check_contract(ps.MODULE_ROOT, without, only="Test-GroupIDBackup")
    assert len(problems) == 1 and problems[0].startswith("Test-GroupIDBackup: the engine has no method 'backup.verify'")


def test_an_added_parameter_without_a_field_fails(tmp_path: Path, describe: dict[str, Any]) -> None:
    import shutil

    root = Path(shutil.copytree(ps.MODULE_ROOT, tmp_path / "powershell"))
    path = root / "cmdlets" / "Invoke-GroupIDUpgrade.ps1"
    text = path.read_text(encoding="utf-8").replace("        [hashtable] $Secret\n", "        [hashtable] $Secret,\n\n        [switch] $Turbo\n")
    path.write_text(text, encoding="utf-8")
    problems = ps.check_contract(root, describe, only="Invoke-GroupIDUpgrade")
    assert len(problems) == 1 and problems[0].startswith(
        "Invoke-GroupIDUpgrade: parameter -Turbo maps to no field of upgrade.run (expected 'turbo'"
    ), problems


def test_a_required_field_needs_a_mandatory_parameter(tmp_path: Path, describe: dict[str, Any]) -> None:
    import shutil

    root = Path(shutil.copytree(ps.MODULE_ROOT, tmp_path / "powershell"))
    path = root / "cmdlets" / "Backup-GroupIDData.ps1"
    text = path.read_text(encoding="utf-8").replace(
        "        [Parameter(Mandatory, Position = 1)]\n        [ValidateNotNullOrEmpty()]\n        [string] $Destination",
        "        [Parameter(Position = 1)]\n        [string] $Destination",
    )
    path.write_text(text, encoding="utf-8")
    assert ps.check_contract(root, describe, only="Backup-GroupIDData") == [
        "Backup-GroupIDData: backup.create requires the field 'destination'; its parameter must be Mandatory"
    ]


# --- the decisions table against what the engine can emit -----------------------------------------
def _engine_python_files() -> list[Path]:
    return sorted(p for p in ENGINE_SOURCE.rglob("*.py") if "__pycache__" not in p.parts)


def _error_ids_in_code() -> dict[str, str]:
    """errorId literals the engine raises or builds: EngineError("X", ...), error_id="X"."""
    error_classes = {"EngineError", "Cancelled"}
    found: dict[str, str] = {}
    for path in _engine_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id in error_classes for b in node.bases
            ):
                error_classes.add(node.name)
    for path in _engine_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            candidates = []
            if name in error_classes and node.args:
                candidates.append(node.args[0])
            candidates += [k.value for k in node.keywords if k.arg in ("error_id", "errorId")]
            for value in candidates:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found[value.value] = f"{path.relative_to(ENGINE_SOURCE)}:{node.lineno}"
    return found


def _record_types_in_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in _engine_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "record"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found[node.args[0].value] = f"{path.relative_to(ENGINE_SOURCE)}:{node.lineno}"
    return found


def test_every_error_id_the_engine_can_emit_is_in_the_table_with_its_category() -> None:
    table = TABLE["ErrorIds"]
    missing = sorted(set(CATALOG) - set(table))
    assert not missing, f"errorIds of errors.CATALOG missing from {ps.DECISIONS} ErrorIds: {missing}"
    stale = sorted(set(table) - set(CATALOG))
    assert not stale, f"{ps.DECISIONS} ErrorIds lists ids the engine no longer has: {stale}"
    wrong = {k: (table[k]["Category"], spec.category) for k, spec in CATALOG.items() if table[k]["Category"] != spec.category}
    assert not wrong, f"category in the table differs from the engine's (table, engine): {wrong}"
    assert {entry["Scope"] for entry in table.values()} <= {"Request", "Item"}


def test_every_error_id_raised_in_the_code_is_in_the_catalog() -> None:
    raised = _error_ids_in_code()
    assert len(raised) >= 20, "the scan finds the engine's EngineError calls"
    unknown = {k: where for k, where in raised.items() if k not in CATALOG}
    assert not unknown, f"errorIds raised but not in errors.CATALOG (and so not in the table): {unknown}"


def test_every_category_maps_to_a_powershell_error_category() -> None:
    categories = TABLE["Categories"]
    engine_categories = {spec.category for spec in CATALOG.values()}
    assert engine_categories <= set(categories), sorted(engine_categories - set(categories))
    assert set(categories.values()) <= ps.ERROR_CATEGORIES
    for name, entry in TABLE["ClientErrors"].items():
        assert entry["Category"] in categories, name


def test_every_notification_and_log_level_has_a_stream() -> None:
    server = (ENGINE_SOURCE / "protocol" / "server.py").read_text(encoding="utf-8")
    sent = set(re.findall(r'_notify\(\s*"(\$/\w+)"', server))
    assert sent == {"$/progress", "$/log", "$/record"}
    assert sent <= set(TABLE["Notifications"])
    from groupid_upgrade.protocol.server import _LOG_LEVELS

    assert set(_LOG_LEVELS) <= set(TABLE["LogLevels"])
    assert set(TABLE["LogLevels"].values()) <= {"Verbose", "Information", "Warning"}
    levels_used: set[str] = set()
    for path in _engine_python_files():
        levels_used |= set(re.findall(r'\.log\(\s*"(\w+)"', path.read_text(encoding="utf-8")))
    assert levels_used <= set(TABLE["LogLevels"]), levels_used - set(TABLE["LogLevels"])


def test_every_record_type_the_engine_emits_has_a_type_name_and_stream() -> None:
    emitted = _record_types_in_code()
    assert {"ModuleResult", "WhatIf"} <= set(emitted)
    types = TABLE["RecordTypes"]
    missing = {k: where for k, where in emitted.items() if k not in types}
    assert not missing, f"record types with no entry in {ps.DECISIONS} RecordTypes: {missing}"
    for name, entry in types.items():
        assert entry["Stream"] in {"Output", "WhatIf", "Information", "Warning", "Error"}, name
        assert entry["TypeName"].startswith("GroupIDUpgrade."), name
    # PowerShell hashtable keys are case-insensitive: two engine types differing only in case would collide.
    assert len({k.lower() for k in types}) == len(types)


def test_a_parameter_of_the_wrong_type_fails(tmp_path: Path, describe: dict[str, Any]) -> None:
    import shutil

    root = Path(shutil.copytree(ps.MODULE_ROOT, tmp_path / "powershell"))
    path = root / "cmdlets" / "Backup-GroupIDData.ps1"
    path.write_text(path.read_text(encoding="utf-8").replace("[switch] $Zip", "[string] $Zip"), encoding="utf-8")
    assert ps.check_contract(root, describe, only="Backup-GroupIDData") == [
        "Backup-GroupIDData: -Zip [string] is sent as string, but backup.create.zip takes boolean"
    ]


def test_a_method_with_what_if_needs_the_cmdlet_to_send_it(tmp_path: Path, describe: dict[str, Any]) -> None:
    import shutil

    root = Path(shutil.copytree(ps.MODULE_ROOT, tmp_path / "powershell"))
    path = root / ps.DECISIONS
    text = path.read_text(encoding="utf-8")
    old = "            Method         = 'backup.restore'\n            WhatIf         = 'Engine'"
    assert old in text
    path.write_text(text.replace(old, "            Method         = 'backup.restore'\n            WhatIf         = 'Client'"),
                    encoding="utf-8")
    assert ps.check_contract(root, describe, only="Restore-GroupIDData") == [
        "Restore-GroupIDData: backup.restore supports whatIf; the decisions table must say WhatIf = 'Engine'"
    ]
