"""LDAPS certificates (issue #9 "hostile files"; R16): verified by default, on every path that talks to a
domain controller; switching verification off needs ``verifyCertificate: false`` in the answer file and
warns on every run.

Paths: ``group.upgrade`` (Upgrade-Group) and ``backup.create`` (the LDIF export of the group attributes),
against the test bed's corp DC. Without the test bed's CA (``caFile`` left out) the certificate is
refused (``DirectoryCertificateInvalid`` naming the server); with the CA passed explicitly it is
accepted; with ``verifyCertificate: false`` it is accepted and each run warns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import reliability_figures

from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.backup.create import create_backup
from groupid_upgrade.errors import EngineError
from groupid_upgrade.groups.method import GroupUpgradeParams, group_upgrade_handler
from groupid_upgrade.reporting import CollectingReporter
from test_groups import FIRST_RUN_MODULES, prepared_sample

pytestmark = pytest.mark.testbed

CORP = "corp.example.com"
WARNING = "Certificate verification is switched off for corp.example.com"


@pytest.fixture(scope="module")
def bed(samba_corp: dict[str, str], samba_fabrikam: dict[str, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Path:
    root = tmp_path_factory.mktemp("ldaps") / "sample"
    return prepared_sample(root, {"corp": samba_corp, "fabrikam": samba_fabrikam}, FIRST_RUN_MODULES)


def variant(answer_file: Path, name: str, **corp: Any) -> Path:
    """The answer file with only the corp DC, its settings changed (None removes a key)."""
    data = json.loads(answer_file.read_text())
    directory = data["directories"][CORP]
    for key, value in corp.items():
        if value is None:
            directory.pop(key, None)
        else:
            directory[key] = value
    data["directories"] = {CORP: directory}
    path = answer_file.with_name(f"answers-{name}.json")
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path


def groups(answer_file: Path) -> tuple[dict[str, Any], CollectingReporter]:
    reporter = CollectingReporter()
    params = GroupUpgradeParams.model_validate({"answerFile": str(answer_file), "identityStoreId": 5,
                                                "groupType": [6], "whatIf": True})
    return group_upgrade_handler(params, reporter).wire(), reporter


def backup(answer_file: Path, dest: Path) -> CollectingReporter:
    reporter = CollectingReporter()
    create_backup(load_answer_file(answer_file), dest, reporter, include=["GroupAttributes"])
    return reporter


def warnings(reporter: CollectingReporter) -> list[str]:
    return [m for level, m in reporter.logs if level == "warning" and WARNING in m]


def test_r16_ldaps_is_verified_by_default_and_switching_it_off_warns_on_every_run(
        bed: Path, samba_corp: dict[str, str], tmp_path: Path) -> None:
    what = "LDAPS verified by default on group.upgrade and backup; verifyCertificate false warns every run"
    try:
        url = samba_corp["LDAP_URL"]
        # the CA passed explicitly: accepted, no warning
        explicit = variant(bed, "explicit-ca")
        result, reporter = groups(explicit)
        assert result["wouldUpgrade"] >= 1 and not warnings(reporter)
        assert not warnings(backup(explicit, tmp_path / "set-explicit"))
        # no CA given: the system's store does not hold the test bed's CA, so the certificate is refused
        default = variant(bed, "default", caFile=None)
        with pytest.raises(EngineError) as refused:
            groups(default)
        assert refused.value.error_id == "DirectoryCertificateInvalid" and url in refused.value.message
        with pytest.raises(EngineError) as refused:
            backup(default, tmp_path / "set-default")
        assert refused.value.error_id == "DirectoryCertificateInvalid" and url in refused.value.message
        assert not (tmp_path / "set-default").exists()  # nothing partial
        # switched off explicitly: accepted, and every run says so
        off = variant(bed, "off", caFile=None, verifyCertificate=False)
        for run in range(2):
            result, reporter = groups(off)
            assert result["wouldUpgrade"] >= 1 and len(warnings(reporter)) >= 1, (run, reporter.logs)
            assert len(warnings(backup(off, tmp_path / f"set-off-{run}"))) >= 1
    except BaseException:
        reliability_figures.record("hostile", "LDAPS verification", {"what": what, "passed": 0, "failed": 1})
        raise
    reliability_figures.record("hostile", "LDAPS verification", {"what": what, "passed": 1, "failed": 0})
