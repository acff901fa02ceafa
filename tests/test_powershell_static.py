"""Static checks of the PowerShell module, run without pwsh (issue 8, "Checks that run here").

Each check runs on the real module (it must find nothing) and on a temporary copy broken on
purpose (it must find exactly that, naming the file or cmdlet), so no check can pass by
finding nothing at all.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

import powershell_support as ps

ROOT = ps.MODULE_ROOT
EXPECTED_CMDLETS = {
    "Invoke-GroupIDUpgrade",
    "Get-GroupIDUpgradePlan",
    "Update-GroupIDGroup",
    "Backup-GroupIDData",
    "Test-GroupIDBackup",
    "Restore-GroupIDData",
}


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A private copy of powershell/ to break."""
    return Path(shutil.copytree(ROOT, tmp_path / "powershell"))


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path.name}: the test's edit no longer applies"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


CHECKS: dict[str, Callable[[Path], list[str]]] = {
    "parses": ps.check_parses,
    "cmdlet files": ps.check_cmdlet_files,
    "manifest": ps.check_manifest,
    "no Write-Host": ps.check_no_write_host,
    "secret parameters": ps.check_secret_parameters,
    "ShouldProcess": ps.check_should_process,
    "help": ps.check_help,
    "internal calls": ps.check_internal_calls,
}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_module_passes_each_check(check: str) -> None:
    assert CHECKS[check](ROOT) == []


def test_the_module_has_the_files_the_issue_names() -> None:
    for name in (ps.MANIFEST, ps.ROOT_MODULE, ps.FORMAT, ps.DECISIONS):
        assert (ROOT / name).is_file(), name
    assert {p.stem for p in ps.cmdlet_files(ROOT)} == EXPECTED_CMDLETS
    assert list((ROOT / "private").glob("*.ps1")), "the engine client lives in private/"
    assert ps.module_aliases(ROOT) == {"Upgrade-Group"}
    assert "Update-GroupIDGroup" in (ROOT / ps.ROOT_MODULE).read_text(encoding="utf-8")


def test_every_script_file_is_found_and_parsed() -> None:
    files = {str(p.relative_to(ROOT)).replace("\\", "/") for p in ps.script_files(ROOT)}
    assert {"GroupIDUpgrade.psd1", "GroupIDUpgrade.psm1", "GroupIDUpgrade.Decisions.psd1"} <= files
    assert {f"cmdlets/{name}.ps1" for name in EXPECTED_CMDLETS} <= files
    pester = sorted(ps.PESTER_ROOT.glob("*.ps1"))
    assert pester, "pester/ holds the Pester 5 tests"
    for path in pester:
        assert ps.syntax_errors(ps.parse(path.read_bytes())) == [], path.name


def test_format_file_has_a_table_view_for_each_kind_of_result() -> None:
    tree = ET.parse(ROOT / ps.FORMAT)
    views = {
        view.findtext("ViewSelectedBy/TypeName"): view
        for view in tree.getroot().iter("View")
    }
    table = ps.decisions()
    for type_name in (
        "GroupIDUpgrade.ModuleResult",
        "GroupIDUpgrade.PlanItem",
        "GroupIDUpgrade.GroupResult",
        "GroupIDUpgrade.BackupPart",
    ):
        assert views[type_name].find("TableControl") is not None, type_name
    produced = {entry["TypeName"] for entry in table["RecordTypes"].values()} | set(table["ResultTypes"].values())
    assert set(views) <= produced, "a view for a type the module never writes"


def test_update_group_binds_identity_from_the_pipeline_like_get_adgroup() -> None:
    function = ps.cmdlets(ROOT)["Update-GroupIDGroup"]
    identity = next(p for p in function.parameters if p.name == "Identity")
    binding = identity.attributes["parameter"]
    # By value, as objects: the cmdlet takes DistinguishedName, ObjectGUID or SamAccountName itself
    # (binding by property name would turn an object with only a Guid into "@{...}" first; the
    # Pester tests pipe ADGroup-shaped objects through the real binder).
    assert binding.get("valuefrompipeline") is True
    assert identity.type.lower() in {"object[]", "system.object[]"}
    assert set(identity.aliases) == {"DistinguishedName", "ObjectGUID", "SamAccountName"}
    scope = next(p for p in function.parameters if p.name == "SearchContainerScopeList")
    assert scope.aliases == ["SearchContainersScopeList"], "both spellings of the vendor's parameter (R13)"
    assert "begin" in function.body and "process" in function.body and "end" in function.body


def test_invoke_and_restore_confirm_high_and_scheduled_tasks_are_told_to_pass_confirm_false() -> None:
    found = ps.cmdlets(ROOT)
    for name in ("Invoke-GroupIDUpgrade", "Restore-GroupIDData"):
        assert found[name].binding.get("confirmimpact") == "'High'", name
        assert "-Confirm:$false" in found[name].help, name


def test_secrets_are_secure_types_and_never_reach_verbose_or_arguments() -> None:
    found = ps.cmdlets(ROOT)
    types = {(n, p.name): (p.type or "") for n, f in found.items() for p in f.parameters}
    assert types[("Invoke-GroupIDUpgrade", "SourcePassphrase")].endswith("SecureString")
    assert types[("Invoke-GroupIDUpgrade", "TargetPassphrase")].endswith("SecureString")
    assert types[("Update-GroupIDGroup", "Credential")].endswith("PSCredential")
    client = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "private").glob("*.ps1"))
    # The only place a SecureString becomes text is the JSON written to stdin.
    assert client.count("SecureStringToBSTR") == 1
    assert "GetNetworkCredential" not in client
    for line in client.splitlines():
        if re.search(r"WriteVerbose|Write-Verbose", line):
            assert not re.search(r"\$(line|request|Params|params)\b", line), line
    # The engine's arguments are fixed words from the decisions table.
    for way in ps.decisions()["EngineSearch"]:
        assert all(re.fullmatch(r"[-\w]+", arg) for arg in way["Arguments"]), way


# --- each check catches what it is for, on a broken copy ------------------------------------------
def test_parse_check_names_the_file_and_line_of_a_syntax_error(broken: Path) -> None:
    path = broken / "cmdlets" / "Backup-GroupIDData.ps1"
    _edit(path, "        if ($null -eq $manifest -or $whatIf) { return }", "        if ($null -eq $manifest -or $whatIf) { return ")
    problems = ps.check_parses(broken)
    assert problems and all(p.startswith("cmdlets/Backup-GroupIDData.ps1:") for p in problems), problems


def test_parse_check_catches_a_broken_data_file(broken: Path) -> None:
    _edit(broken / ps.MANIFEST, "AliasesToExport      = @('Upgrade-Group')", "AliasesToExport      = @('Upgrade-Group'")
    problems = ps.check_parses(broken)
    assert any(p.startswith("GroupIDUpgrade.psd1:") for p in problems), problems


def test_file_check_catches_a_function_not_named_as_its_file(broken: Path) -> None:
    _edit(broken / "cmdlets" / "Test-GroupIDBackup.ps1", "function Test-GroupIDBackup {", "function Test-GroupIDBackupSet {")
    problems = ps.check_cmdlet_files(broken)
    assert problems == ["cmdlets/Test-GroupIDBackup.ps1 does not define a function named Test-GroupIDBackup"]


def test_file_check_catches_a_second_function_in_a_cmdlet_file(broken: Path) -> None:
    path = broken / "cmdlets" / "Test-GroupIDBackup.ps1"
    path.write_text(path.read_text(encoding="utf-8") + "\nfunction Get-Helper { 1 }\n", encoding="utf-8")
    problems = ps.check_cmdlet_files(broken)
    assert problems == [
        "cmdlets/Test-GroupIDBackup.ps1 defines 2 functions (Test-GroupIDBackup, Get-Helper); it must define one"
    ]


def test_file_check_catches_an_unapproved_verb(broken: Path) -> None:
    old = broken / "cmdlets" / "Update-GroupIDGroup.ps1"
    new = broken / "cmdlets" / "Upgrade-GroupIDGroup.ps1"
    new.write_text(old.read_text(encoding="utf-8").replace("function Update-GroupIDGroup", "function Upgrade-GroupIDGroup"),
                   encoding="utf-8")
    old.unlink()
    problems = ps.check_cmdlet_files(broken)
    assert problems == ["Upgrade-GroupIDGroup (cmdlets/Upgrade-GroupIDGroup.ps1) uses the unapproved verb 'Upgrade'"]


def test_manifest_check_catches_a_cmdlet_file_missing_from_exports(broken: Path) -> None:
    source = (broken / "cmdlets" / "Test-GroupIDBackup.ps1").read_text(encoding="utf-8")
    (broken / "cmdlets" / "Get-GroupIDBackup.ps1").write_text(
        source.replace("function Test-GroupIDBackup", "function Get-GroupIDBackup"), encoding="utf-8"
    )
    problems = ps.check_manifest(broken)
    assert problems == ["GroupIDUpgrade.psd1: FunctionsToExport lacks Get-GroupIDBackup (cmdlets/Get-GroupIDBackup.ps1)"]


def test_manifest_check_catches_a_missing_alias_and_a_wildcard(broken: Path) -> None:
    _edit(broken / ps.MANIFEST, "AliasesToExport      = @('Upgrade-Group')", "AliasesToExport      = @()")
    assert ps.check_manifest(broken) == ["GroupIDUpgrade.psd1: AliasesToExport lacks the alias Upgrade-Group"]
    _edit(broken / ps.MANIFEST, "AliasesToExport      = @()", "AliasesToExport      = '*'")
    problems = ps.check_manifest(broken)
    assert any("AliasesToExport must be an explicit list" in p for p in problems), problems


def test_manifest_check_catches_editions_and_version(broken: Path) -> None:
    _edit(broken / ps.MANIFEST, "CompatiblePSEditions = @('Desktop', 'Core')", "CompatiblePSEditions = @('Core')")
    _edit(broken / ps.MANIFEST, "PowerShellVersion    = '5.1'", "PowerShellVersion    = '7.2'")
    problems = ps.check_manifest(broken)
    assert "GroupIDUpgrade.psd1: CompatiblePSEditions must be Desktop and Core" in problems
    assert "GroupIDUpgrade.psd1: PowerShellVersion is '7.2', expected '5.1'" in problems


def test_write_host_check_names_file_and_line(broken: Path) -> None:
    path = broken / "cmdlets" / "Get-GroupIDUpgradePlan.ps1"
    _edit(path, "        $types = $script:Decisions.ResultTypes", "        Write-Host 'planning'\n        $types = $script:Decisions.ResultTypes")
    line = next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "Write-Host" in text)
    assert ps.check_no_write_host(broken) == [
        f"cmdlets/Get-GroupIDUpgradePlan.ps1:{line}: Write-Host (use Write-Information or an output object)"
    ]


def test_secret_check_catches_a_plain_string_password(broken: Path) -> None:
    _edit(broken / "cmdlets" / "Invoke-GroupIDUpgrade.ps1", "[System.Security.SecureString] $TargetPassphrase",
          "[string] $TargetPassphrase")
    assert ps.check_secret_parameters(broken) == [
        "Invoke-GroupIDUpgrade: -TargetPassphrase is named like a secret but is [string]; use SecureString or PSCredential"
    ]


def test_secret_check_catches_an_untyped_secret_and_a_string_credential(broken: Path) -> None:
    path = broken / "cmdlets" / "Update-GroupIDGroup.ps1"
    _edit(path, "        [System.Management.Automation.PSCredential]\n        [System.Management.Automation.Credential()]\n        $Credential,",
          "        [string] $Credential,\n\n        $ClientSecret,")
    problems = ps.check_secret_parameters(broken)
    assert "Update-GroupIDGroup: -Credential must be [PSCredential], not [string]" in problems
    assert any(p.startswith("Update-GroupIDGroup: -ClientSecret is named like a secret but is [object]") for p in problems)


def test_should_process_check_catches_a_state_changing_cmdlet_without_it(broken: Path) -> None:
    _edit(broken / "cmdlets" / "Restore-GroupIDData.ps1", "[CmdletBinding(SupportsShouldProcess, ConfirmImpact = 'High')]",
          "[CmdletBinding()]")
    assert ps.check_should_process(broken) == ["Restore-GroupIDData changes state but does not declare SupportsShouldProcess"]


def test_help_check_catches_a_missing_example_and_parameter(broken: Path) -> None:
    path = broken / "cmdlets" / "Test-GroupIDBackup.ps1"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?s)    \.EXAMPLE.*?(?=    \.INPUTS)", "", text)
    text = text.replace("    .PARAMETER Quiet\n", "    .NOTES\n")
    path.write_text(text, encoding="utf-8")
    assert ps.check_help(broken) == [
        "Test-GroupIDBackup: comment-based help has no .EXAMPLE",
        "Test-GroupIDBackup: help has no .PARAMETER Quiet",
    ]


def test_help_check_catches_a_missing_synopsis_and_output_type(broken: Path) -> None:
    path = broken / "cmdlets" / "Backup-GroupIDData.ps1"
    _edit(path, ".SYNOPSIS", ".NOTES")
    _edit(path, "    [OutputType('GroupIDUpgrade.BackupManifest')]\n", "")
    assert ps.check_help(broken) == [
        "Backup-GroupIDData: comment-based help has no .SYNOPSIS",
        "Backup-GroupIDData: no [OutputType()]",
    ]


def test_internal_call_check_catches_a_renamed_helper_and_parameter(broken: Path) -> None:
    _edit(broken / "cmdlets" / "Invoke-GroupIDUpgrade.ps1", "-EngineWhatIf $whatIf", "-WhatIfToEngine $whatIf")
    _edit(broken / "private" / "Groups.ps1", "function Invoke-GroupIDGroupBatch {", "function Invoke-GroupIDGroupsBatch {")
    problems = ps.check_internal_calls(broken)
    assert any(p.startswith("cmdlets/Invoke-GroupIDUpgrade.ps1:") and p.endswith("Invoke-GroupIDCommand has no parameter -whatiftoengine")
               for p in problems), problems
    assert sum("calls Invoke-GroupIDGroupBatch, which the module does not define" in p for p in problems) == 3, problems


def test_data_files_are_read_as_import_powershelldatafile_would(tmp_path: Path) -> None:
    path = tmp_path / "t.psd1"
    path.write_text(
        "# a comment\n@{\n  A = 'it''s'\n  'b.c' = @(1, 2.5, $true, $null)\n  D = @{ E = @() }\n  F = @(\n    'x'\n    'y'\n  )\n}\n",
        encoding="utf-8",
    )
    assert ps.psd1_data(path) == {"A": "it's", "b.c": [1, 2.5, True, None], "D": {"E": []}, "F": ["x", "y"]}
    path.write_text("@{ A = $env:PATH }\n", encoding="utf-8")
    with pytest.raises(ps.DataFileError, match="variable"):
        ps.psd1_data(path)
    path.write_text("@{ A = (Get-Date) }\n", encoding="utf-8")
    with pytest.raises(ps.DataFileError, match="not data"):
        ps.psd1_data(path)


def test_every_decisions_key_the_module_reads_exists() -> None:
    table = ps.decisions()
    code = "\n".join(p.read_text(encoding="utf-8") for p in ps.script_files(ROOT) if p.suffix == ".ps1")
    code += (ROOT / ps.ROOT_MODULE).read_text(encoding="utf-8")
    paths = set(re.findall(r"\$script:Decisions((?:\.[A-Za-z]+)+)", code))
    assert len(paths) >= 15
    for path in paths:
        node: object = table
        for part in path.strip(".").split("."):
            if part == "ContainsKey":
                break
            assert isinstance(node, dict) and part in node, f"$script:Decisions{path}: no key {part}"
            node = node[part]
    for key in re.findall(r"\$script:Decisions\.RecordTypes\['(\w+)'\]", code):
        assert key in table["RecordTypes"], key


def test_readme_shows_the_powershell_usage_and_its_code_parses() -> None:
    readme = (ps.REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## PowerShell\n"):]
    blocks = re.findall(r"```powershell\n(.*?)```", section, flags=re.DOTALL)
    code = "\n".join(blocks)
    for needle in ("Import-Module", "Get-GroupIDUpgradePlan", "Invoke-GroupIDUpgrade", "Register-ScheduledTask",
                   "Backup-GroupIDData", "Test-GroupIDBackup", "GROUPID_UPGRADE_PYTHON"):
        assert needle in section, needle
    assert re.search(r"Get-ADGroup [^\n]*\|\s*\n?\s*Upgrade-Group", code), "Get-ADGroup ... | Upgrade-Group"
    for block in blocks:
        assert ps.syntax_errors(ps.parse(block.encode("utf-8"))) == [], block
