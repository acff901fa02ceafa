"""R9 with ``validateOnline``: the forest-wide read check of an answered service account, against
the Samba test bed (tests/testbed/fixtures_samba.py).

Each test creates its own account in ``CN=Users`` of corp.example.com and deletes it afterwards.
The plan asks ``forest:corp.example.com:serviceAccount`` because the sample has jobs writing to
corp.example.com and no store for it; the answer file lists the domain under ``directories``.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import pytest

import helpers
from groupid_upgrade.model.plan import Plan
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.settings_params import PlanParams
from groupid_upgrade.upgrade.plan_method import plan_handler

pytest_plugins = ["helpers"]

pytestmark = pytest.mark.testbed

QUESTION = "forest:corp.example.com:serviceAccount"


@dataclass
class Account:
    user_principal_name: str
    password: str
    sid: str
    dn: str


def _admin(env: dict[str, str]) -> ldap3.Connection:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=env["LDAP_CA_FILE"])
    server = ldap3.Server(env["LDAP_ADDRESS"], port=636, use_ssl=True, tls=tls)
    password = Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()
    return ldap3.Connection(server, env["LDAP_BIND_DN"], password, auto_bind=True)


@pytest.fixture
def account(samba_corp: dict[str, str]) -> Iterator[Account]:
    """A new enabled user of corp.example.com with a random password."""
    name = f"svc-chk-{uuid.uuid4().hex[:8]}"
    dn = f"CN={name},CN=Users,{samba_corp['LDAP_BASE_DN']}"
    password = f"Sv-{uuid.uuid4().hex}!A1"
    upn = f"{name}@{samba_corp['LDAP_DOMAIN']}"
    conn = _admin(samba_corp)
    try:
        assert conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
            "sAMAccountName": name, "userPrincipalName": upn,
            "unicodePwd": f'"{password}"'.encode("utf-16-le"), "userAccountControl": 512,
        }), conn.result
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectSid"])
        yield Account(upn, password, str(conn.entries[0].objectSid.value), dn)
    finally:
        conn.delete(dn)
        conn.unbind()


def deny_configuration_reads(env: dict[str, str], sid: str) -> None:
    """An ACE on the configuration partition that denies ``sid`` reading and listing it (the
    account's own SID only: the shared DC stays usable for everyone else)."""
    sam = Path(env["LDAP_PASSWORD_FILE"]).parent / "private" / "sam.ldb"
    done = subprocess.run(["samba-tool", "dsacl", "set", "-H", str(sam),
                           "--objectdn", f"CN=Configuration,{env['LDAP_BASE_DN']}", "--action=deny",
                           "--sddl", f"(D;;RPLC;;;{sid})"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]


def online_plan(sample: helpers.Sample, env: dict[str, str], answer: dict[str, Any] | None,
                secret: dict[str, Any] | None, *, validate_online: bool = True
                ) -> tuple[Plan, CollectingReporter]:
    """The sample's plan with corp.example.com listed under ``directories`` and the service
    account question answered with ``answer`` (+ ``secret`` in the secrets file)."""
    data = sample.answers
    # Only the forest question is checked online here: the PFX answers would ask a token endpoint.
    data["answers"] = {k: v for k, v in data["answers"].items() if not k.startswith(("entra:", "o365:", "job:"))}
    if answer is None:
        data["answers"].pop(QUESTION, None)
    else:
        data["answers"][QUESTION] = answer
    data["directories"] = {env["LDAP_DOMAIN"]: {
        "url": env["LDAP_URL"], "caFile": env["LDAP_CA_FILE"],
        "credential": {"userName": env["LDAP_BIND_DN"]},
    }}
    data["validateOnline"] = validate_online
    secrets = helpers.load_json(sample.root / "secrets.json")
    secrets["answers"] = {k: v for k, v in secrets["answers"].items() if k == QUESTION}
    if secret is None:
        secrets["answers"].pop(QUESTION, None)
    else:
        secrets["answers"][QUESTION] = secret
    secrets["directories"] = {env["LDAP_DOMAIN"]: {"credential": {
        "password": Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()}}}
    secrets_path = sample.root / "secrets-online.json"
    helpers.write_json(secrets_path, secrets)
    secrets_path.chmod(0o600)
    data["secretsFile"] = secrets_path.name
    reporter = CollectingReporter()
    plan = plan_handler(PlanParams(answer_file=sample.write_answers(data, "answers-online.json")), reporter)
    return plan, reporter


def question(plan: Plan, qid: str = QUESTION) -> Any:
    matches = [q for q in plan.questions if q.id == qid]
    assert len(matches) == 1, [q.id for q in plan.questions]
    return matches[0]


def test_r9_online_an_account_that_reads_the_forest_answers_the_question(
        sample_copy: helpers.Sample, samba_corp: dict[str, str], account: Account) -> None:
    plan, _ = online_plan(sample_copy, samba_corp, {"userName": account.user_principal_name},
                          {"password": account.password})
    q = question(plan)
    assert q.answered and q.problem is None


def test_r9_online_a_netbios_style_user_name_binds_too(
        sample_copy: helpers.Sample, samba_corp: dict[str, str], account: Account) -> None:
    netbios = f"{samba_corp['LDAP_NETBIOS_DOMAIN']}\\{account.user_principal_name.split('@')[0]}"
    plan, _ = online_plan(sample_copy, samba_corp, {"userName": netbios}, {"password": account.password})
    assert question(plan).answered


def test_r9_online_a_wrong_password_leaves_the_question_open_with_the_bind_refusal(
        sample_copy: helpers.Sample, samba_corp: dict[str, str], account: Account) -> None:
    wrong = f"Wrong-{uuid.uuid4().hex}"
    plan, reporter = online_plan(sample_copy, samba_corp, {"userName": account.user_principal_name},
                                 {"password": wrong})
    q = question(plan)
    assert not q.answered
    assert q.problem["errorId"] == "DirectoryBindRefused"
    assert account.user_principal_name in q.problem["message"] and samba_corp["LDAP_URL"] in q.problem["message"]
    assert wrong not in json.dumps(plan.wire()) and wrong not in json.dumps(reporter.logs, default=str)


def test_r9_online_an_account_denied_the_configuration_partition_cannot_read_the_forest(
        sample_copy: helpers.Sample, samba_corp: dict[str, str], account: Account) -> None:
    deny_configuration_reads(samba_corp, account.sid)
    plan, _ = online_plan(sample_copy, samba_corp, {"userName": account.user_principal_name},
                          {"password": account.password})
    q = question(plan)
    assert not q.answered
    assert q.problem["errorId"] == "ServiceAccountCannotReadForest"
    assert "corp.example.com" in q.problem["message"] and account.user_principal_name in q.problem["message"]


def test_r9_without_validate_online_the_account_is_not_checked(
        sample_copy: helpers.Sample, samba_corp: dict[str, str], account: Account) -> None:
    plan, _ = online_plan(sample_copy, samba_corp, {"userName": account.user_principal_name},
                          {"password": f"Wrong-{uuid.uuid4().hex}"}, validate_online=False)
    q = question(plan)
    assert q.answered and q.problem is None


def test_r9_online_a_gmsa_is_not_checked_and_the_plan_says_so(
        sample_copy: helpers.Sample, samba_corp: dict[str, str]) -> None:
    plan, reporter = online_plan(sample_copy, samba_corp, {"userName": "CORP\\gmsa-groupid$"}, None)
    assert question(plan).answered
    warnings = [entry for entry in reporter.logs if entry[0] == "warning"]
    assert any("gmsa-groupid$" in str(entry[1]) and "not checked online" in str(entry[1]) for entry in warnings)
