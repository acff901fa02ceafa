"""``groupid-upgrade doctor`` against the test bed (issue 18): the real Elasticsearch node and the fabrikam DC pass
every check (an index and a snapshot repository made and removed, the forest read, extensionData writable);
the corp DC with a wrong password and a directory whose server is down each fail, named, with what to do.
Needs the test bed (Samba, Elasticsearch)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

import helpers
from groupid_upgrade.storage.search import SearchClient
from support import leaks
from test_doctor import by_check, closed_port, doctor
from testbed.fixtures_samba import admin_password

pytest_plugins = ["helpers"]
pytestmark = pytest.mark.testbed


def test_doctor_against_the_test_bed_with_a_server_down_and_a_credential_wrong(
        sample_copy: helpers.Sample, engine_log_dir: Path, samba_corp: dict[str, str],
        samba_fabrikam: dict[str, str], es_node: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    location = es_node.repo_path / f"doctor-{tag}"
    down_port = closed_port()
    data = sample_copy.answers
    data["target"]["elasticsearch"] = {"url": es_node.url, "indexPrefix": f"doctor{tag}",
                                       "snapshotRepository": f"doctor-{tag}", "snapshotLocation": str(location)}

    def directory(env: dict[str, str], password: str) -> dict[str, Any]:
        return {"url": env["LDAP_URL"], "caFile": env["LDAP_CA_FILE"],
                "credential": {"userName": env["LDAP_BIND_DN"], "password": password}}

    data["directories"] = {
        "fabrikam.example.com": directory(samba_fabrikam, admin_password(samba_fabrikam).get_secret_value()),
        "corp.example.com": directory(samba_corp, "a wrong password"),
        "partner.example.net": {"url": f"ldaps://127.0.0.1:{down_port}", "caFile": samba_corp["LDAP_CA_FILE"],
                                "credential": {"userName": "svc@partner.example.net", "password": "unused"}},
    }
    answer_file = sample_copy.write_answers(data, "answers-testbed.json")
    answer_file.chmod(0o600)
    code, report, text = doctor(answer_file, engine_log_dir)
    assert code == 3 and report["ok"] is False
    checks = by_check(report)
    es = f"target Elasticsearch {es_node.url}"
    for name in ("reach with the configured credentials", "create an index", "register a snapshot repository"):
        assert checks[(es, name)]["status"] == "ok", checks[(es, name)]
    fabrikam = f"directory fabrikam.example.com ({samba_fabrikam['LDAP_URL']})"
    for name in ("bind with the configured credentials and TLS", "read the forest", "write rights on group attributes"):
        assert checks[(fabrikam, name)]["status"] == "ok", checks[(fabrikam, name)]
    assert "extensionData writable" in checks[(fabrikam, "write rights on group attributes")]["detail"]
    corp = checks[(f"directory corp.example.com ({samba_corp['LDAP_URL']})",
                   "bind with the configured credentials and TLS")]
    assert corp["status"] == "failed" and corp["errorId"] == "DirectoryBindRefused" and corp["whatToDo"]
    down = checks[(f"directory partner.example.net (ldaps://127.0.0.1:{down_port})",
                   "bind with the configured credentials and TLS")]
    assert down["status"] == "failed" and down["errorId"] == "DirectoryUnreachable" and down["whatToDo"]
    assert sum(1 for c in report["checks"] if c["status"] == "failed") == 2
    leaks.assert_no_leaks({"the wrong password": "a wrong password",
                           "fabrikam admin password": admin_password(samba_fabrikam).get_secret_value()},
                          texts={"doctor output": text})
    # nothing left behind: no probe index, no probe repository
    with SearchClient(es_node.url) as client:
        assert not client.client.indices.get(index=f"doctor{tag}*").body
        repositories = client.client.snapshot.get_repository().body
        assert not [name for name in repositories if name.startswith("groupid-upgrade-doctor-")]
    assert json.loads(answer_file.read_text())["directories"]  # the answer file is the user's, untouched
