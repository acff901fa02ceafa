"""Upgrade-Group and the Groups module (issue #6, rule R13) against the real Samba test bed.

The test bed's directories are seeded from the sample (tests/testbed/seed.py). Tests that only read
select among those seeded groups (with ``whatIf``); tests that write create groups of every type in
an OU of their own (unique name, deleted afterwards). The Groups-module test upgrades the seeded
groups themselves and puts every GroupID attribute it changed back afterwards.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import ldif
import pytest

from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import EngineError
from groupid_upgrade.groups.conversion import decode_eleven, guid_text
from groupid_upgrade.groups.method import GroupUpgradeParams, group_upgrade_handler
from groupid_upgrade.groups.pipeline import StoreInfo, history_of_groups
from groupid_upgrade.model.installation import GroupType
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.sample.generator import SampleSpec, generate_sample
from groupid_upgrade.source.group_definition import GroupDefinition, encode
from groupid_upgrade.storage.directory import DirectoryClient
from groupid_upgrade.target.writer import TargetInstallation
from groupid_upgrade.upgrade.run_method import run_upgrade
from support import leaks
from testbed.fixtures_samba import admin_password, state_dir_path
from testbed.seed import sample_dir

pytestmark = pytest.mark.testbed

ENGINE = [sys.executable, "-m", "groupid_upgrade"]
FIRST_RUN_MODULES = ["Configuration", "Synchronize", "Schedules", "Reports", "History"]
GID_ATTRS = ["extensionData", "extensionAttribute12", "extensionAttribute13", "extensionAttribute14",
             "extensionAttribute15"]
FAB_BASE = "DC=fabrikam,DC=example,DC=com"
CORP_BASE = "DC=corp,DC=example,DC=com"
STORE_FABRIKAM, STORE_CORP = 1, 5  # the sample's AD store, and the store R9 creates for the corp forest


# --- the bed: the seeded sample, upgraded through Configuration and History -----------------------
@dataclass
class Bed:
    root: Path
    answer_file: Path
    envs: dict[str, dict[str, str]]
    target_version: str

    @property
    def target_db(self) -> Path:
        return self.root / "target" / "GroupID11.db"

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.target_db)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()


def directories(envs: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {env["LDAP_DOMAIN"]: {"url": env["LDAP_URL"], "caFile": env["LDAP_CA_FILE"],
                                 "credential": {"userName": env["LDAP_BIND_DN"],
                                                "password": admin_password(env).get_secret_value()}}
            for env in envs.values()}


def prepared_sample(dest: Path, envs: dict[str, dict[str, str]] | None, modules: list[str] | None) -> Path:
    """A private copy of the sample the test bed was seeded from, its answer file pointing at the DCs;
    ``modules``: run them first (the first run of the upgrade)."""
    seeded = sample_dir(state_dir_path())
    manifest = json.loads((seeded / "sample.json").read_text())
    generate_sample(SampleSpec(out=dest, seed=manifest["seed"], groups=manifest["groupsPerDomain"],
                               history=manifest["history"]))
    for ldif_file in (seeded / "directory").glob("*.ldif"):  # the same directory as the test bed's
        assert (dest / "directory" / ldif_file.name).read_bytes() == ldif_file.read_bytes()
    answer_file = dest / "answers.json"
    data = json.loads(answer_file.read_text())
    if envs is not None:
        data["directories"] = directories(envs)
    answer_file.write_text(json.dumps(data, indent=2))
    answer_file.chmod(0o600)
    if modules:
        answers = load_answer_file(answer_file, overrides={"modules": modules})
        result = run_upgrade(answers, CollectingReporter())
        assert result.status == "Succeeded", result.wire()
    return answer_file


@pytest.fixture(scope="module")
def envs(samba_corp: dict[str, str], samba_fabrikam: dict[str, str]) -> dict[str, dict[str, str]]:
    return {"corp": samba_corp, "fabrikam": samba_fabrikam}


@pytest.fixture(scope="module")
def bed(envs: dict[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Bed:
    root = tmp_path_factory.mktemp("groups") / "sample"
    answer_file = prepared_sample(root, envs, FIRST_RUN_MODULES)
    version = json.loads(answer_file.read_text())["target"]["version"]
    return Bed(root, answer_file, envs, version)


def upgrade(bed_or_file: Bed | Path, **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """group.upgrade in process, as the protocol calls it: (result, the GroupUpgrade records)."""
    answer_file = bed_or_file.answer_file if isinstance(bed_or_file, Bed) else bed_or_file
    reporter = CollectingReporter()
    request = GroupUpgradeParams.model_validate({"answerFile": str(answer_file), **params})
    result = group_upgrade_handler(request, reporter)
    return result.wire(), [d for t, d in reporter.records if t == "GroupUpgrade"]


def names(records: list[dict[str, Any]], status: str | None = None) -> set[str]:
    return {r["name"] for r in records if status is None or r["status"] == status}


def admin(env: dict[str, str]) -> ldap3.Connection:
    tls = ldap3.Tls(ca_certs_file=env["LDAP_CA_FILE"])
    server = ldap3.Server(env["LDAP_ADDRESS"], port=636, use_ssl=True, tls=tls)
    return ldap3.Connection(server, env["LDAP_BIND_DN"], admin_password(env).get_secret_value(), auto_bind=True)


def sample_groups(domain: str) -> dict[str, dict[str, Any]]:
    """The seeded groups of ``domain`` from the sample's LDIF: cn -> dn, sAMAccountName, expected GroupType
    (by the sample's naming, not by the engine's decoder)."""
    out: dict[str, dict[str, Any]] = {}
    path = sample_dir(state_dir_path()) / "directory" / f"{domain}.ldif"
    with path.open("rb") as handle:
        for dn, entry in ldif.LDIFParser(handle, encoding=None).parse():
            if dn is None or b"group" not in [v.lower() for v in entry.get("objectClass", [])]:
                continue
            cn = entry["cn"][0].decode()
            if cn.startswith("Static-"):
                gtype = 1
            elif cn.startswith("PwdExpiry-"):
                gtype = 6
            elif cn.startswith("Dyn-"):
                gtype = {1: 3, 2: 4, 3: 5}[cn.count("-")]
            else:
                gtype = 2
            out[cn] = {"dn": dn, "sam": entry["sAMAccountName"][0].decode(), "type": gtype}
    return out


def entries_below(conn: ldap3.Connection, base: str) -> dict[str, dict[str, list[bytes]]]:
    """Every entry below ``base`` with all its attributes and uSNChanged, raw: an LDIF export in memory."""
    conn.search(base, "(objectClass=*)", ldap3.SUBTREE, attributes=["*", "uSNChanged", "whenChanged"])
    return {e["dn"].lower(): {k: sorted(v) for k, v in e["raw_attributes"].items()} for e in conn.response
            if e.get("type") == "searchResEntry"}


# --- an OU of the test's own, with a group of every type ------------------------------------------
@dataclass
class OwnOu:
    dn: str
    groups: dict[str, str]  # name -> dn
    conn: ldap3.Connection


OWNER = f"CN=Administrator,CN=Users,{CORP_BASE}"


def definitions(ou: str) -> dict[str, GroupDefinition | None]:
    staff = f"OU=Staff,{CORP_BASE}"
    return {
        "NM-1": None,
        "SG-2": GroupDefinition(GroupType.SMART_GROUP, ["user", "contact"], '(department Contains "Sales")', staff,
                                "OneLevel", expiry_days=90, last_update="2024-05-01T02:00:00Z", version="10.0",
                                additional_owners=[OWNER]),
        "DP-3": GroupDefinition(GroupType.PARENT_DYNASTY, ["user"], "(company Present)", staff, group_by="company",
                                expiry_days=30, version="10.0"),
        "DM-4": GroupDefinition(GroupType.MIDDLE_DYNASTY, ["user"], '(company Equals "Corp")', staff,
                                group_by="department", parent_dn=f"CN=DP-3,{ou}", expiry_days=365, version="10.0"),
        "DL-5": GroupDefinition(GroupType.LEAF_DYNASTY, ["user"], '(department Equals "Sales")', staff,
                                parent_dn=f"CN=DM-4,{ou}", version="10.0"),
        "PE-6": GroupDefinition(GroupType.PASSWORD_EXPIRY, ["user"], "(passwordExpiresInDays LessThan 7)", staff,
                                version="9.0"),
    }


def make_ou(conn: ldap3.Connection, base: str, defs: dict[str, GroupDefinition | None]) -> OwnOu:
    ou = f"OU=ga-grp-{uuid.uuid4().hex[:10]},{base}"
    assert conn.add(ou, ["top", "organizationalUnit"]), conn.result
    groups = {}
    for name, defn in defs.items():
        dn = f"CN={name},{ou}"
        attrs: dict[str, Any] = {"sAMAccountName": f"ga-{uuid.uuid4().hex[:8]}-{name}", "description": name}
        if defn is not None:
            attrs.update(encode(defn))
        assert conn.add(dn, ["top", "group"], attrs), conn.result
        groups[name] = dn
    return OwnOu(ou, groups, conn)


def drop_ou(own: OwnOu) -> None:
    own.conn.search(own.dn, "(objectClass=*)", ldap3.SUBTREE, attributes=[])
    for dn in sorted((e["dn"] for e in own.conn.response if e.get("type") == "searchResEntry"), key=len,
                     reverse=True):
        own.conn.delete(dn)


@pytest.fixture
def own(envs: dict[str, dict[str, str]]) -> Iterator[OwnOu]:
    conn = admin(envs["corp"])
    created = make_ou(conn, CORP_BASE, {})
    for name, defn in definitions(created.dn).items():
        dn = f"CN={name},{created.dn}"
        attrs: dict[str, Any] = {"sAMAccountName": f"ga-{uuid.uuid4().hex[:8]}-{name}", "description": name}
        if defn is not None:
            attrs.update(encode(defn))
        assert conn.add(dn, ["top", "group"], attrs), conn.result
        created.groups[name] = dn
    try:
        yield created
    finally:
        drop_ou(created)
        conn.unbind()


def read_group(conn: ldap3.Connection, dn: str) -> dict[str, list[bytes]]:
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[*GID_ATTRS, "objectGUID"])
    return {k.lower(): v for k, v in conn.response[0]["raw_attributes"].items() if v}


# --- R13 prerequisite ----------------------------------------------------------------------------------
class Listener:
    """A TCP port on loopback that counts the connections made to it (none must be)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.mark.parametrize("first_run", [None, ["Configuration"]], ids=["nothing-upgraded", "no-history"])
def test_r13_without_the_prerequisite_prerequisite_not_met_and_no_ldap_connection(
        tmp_path: Path, first_run: list[str] | None) -> None:
    listener = Listener()
    try:
        answer_file = prepared_sample(tmp_path / "sample", None, first_run)
        data = json.loads(answer_file.read_text())
        data["directories"] = {d: {"url": f"ldaps://127.0.0.1:{listener.port}"}
                               for d in ("corp.example.com", "fabrikam.example.com")}
        answer_file.write_text(json.dumps(data))
        with pytest.raises(EngineError) as caught:
            upgrade(answer_file, identity=["Smart-Sales"])
        assert caught.value.error_id == "PrerequisiteNotMet"
        assert "History" in caught.value.message
        assert ("Configuration" in caught.value.message) == (first_run is None)
        proc = subprocess.run([*ENGINE, "group", "--answer-file", str(answer_file), "--identity", "Smart-Sales"],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 3 and "PrerequisiteNotMet" not in proc.stdout and "Traceback" not in proc.stderr
        assert "Upgrade-Group needs" in proc.stderr
    finally:
        listener.close()
    assert listener.accepted == 0, "a directory was contacted before the prerequisite was checked"


# --- selection on the seeded groups (whatIf: read only) --------------------------------------------
def test_r13_identity_selects_exactly_the_group_in_every_form(bed: Bed, envs: dict[str, dict[str, str]]) -> None:
    fab = sample_groups("fabrikam.example.com")
    group = fab["Smart-Sales"]
    conn = admin(envs["fabrikam"])
    guid = guid_text(read_group(conn, group["dn"])["objectguid"][0])
    conn.unbind()
    forms = {"dn": group["dn"], "guid": guid, "braced-guid": "{" + guid.upper() + "}", "sam": group["sam"]}
    for form, identity in forms.items():
        result, records = upgrade(bed, identity=[identity], whatIf=True)
        assert [(r["distinguishedName"], r["status"]) for r in records] == [(group["dn"], "WouldUpgrade")], form
        assert result["wouldUpgrade"] == 1 and result["status"] == "Succeeded"
    # CN and name are the same for these groups; a name unique to one store selects by store
    result, records = upgrade(bed, identity=["Smart-Sales"], identityStoreId=STORE_FABRIKAM, whatIf=True)
    assert [r["distinguishedName"] for r in records] == [group["dn"]]


def test_r13_an_ambiguous_name_is_an_error_listing_the_matches(bed: Bed) -> None:
    result, records = upgrade(bed, identity=["Smart-Sales", "PwdExpiry-14Days"], identityStoreId=None, whatIf=True)
    failed = [r for r in records if r["status"] == "Failed"]
    assert len(failed) == 2
    for record in failed:
        error = record["error"]
        assert error["data"]["errorId"] == "GroupIdentityAmbiguous"
        corp, fab = (f"CN={record['identity']},OU=Smart Groups,OU=GroupID,{b}" for b in (CORP_BASE, FAB_BASE))
        assert error["data"]["matches"] == sorted([corp, fab]) and corp in error["message"] and fab in error["message"]
    assert result["status"] == "Failed"


def test_r13_a_group_that_does_not_exist_fails_alone(bed: Bed) -> None:
    result, records = upgrade(bed, identity=["No-Such-Group-ga", "Smart-Finance"], identityStoreId=STORE_CORP,
                              whatIf=True)
    by_identity = {r["identity"]: r for r in records}
    assert by_identity["No-Such-Group-ga"]["error"]["data"]["errorId"] == "GroupNotFound"
    assert by_identity["Smart-Finance"]["status"] == "WouldUpgrade"
    assert result["status"] == "PartiallySucceeded"


@pytest.mark.parametrize("scope_name", ["searchContainerScopeList", "SearchContainersScopeList"])
def test_r13_container_with_both_scopes_picks_exactly_its_groups(bed: Bed, scope_name: str) -> None:
    fab = sample_groups("fabrikam.example.com")
    ou_groupid = f"OU=GroupID,{FAB_BASE}"
    managed = {cn for cn, g in fab.items() if g["type"] != 1}
    _, subtree = upgrade(bed, searchContainer=[ou_groupid], whatIf=True)
    assert names(subtree) == managed and names(subtree, "WouldUpgrade") == managed
    _, here = upgrade(bed, searchContainer=[ou_groupid], **{scope_name: [1]}, whatIf=True)
    assert here == []  # OU=GroupID holds only sub-OUs
    smart = f"OU=Smart Groups,{ou_groupid}"
    _, one = upgrade(bed, searchContainer=[smart, f"OU=Static Groups,{FAB_BASE}"], **{scope_name: [1, 1]},
                     whatIf=True)
    assert names(one) == {cn for cn, g in fab.items() if g["type"] in (1, 2, 6)}


def test_r13_scope_pairing_and_refused_group_types(bed: Bed) -> None:
    containers = [f"OU=GroupID,{FAB_BASE}", f"OU=Static Groups,{FAB_BASE}", f"OU=Staff,{FAB_BASE}"]
    with pytest.raises(EngineError) as caught:
        upgrade(bed, searchContainer=containers, searchContainerScopeList=[1, 2], whatIf=True)
    assert caught.value.error_id == "SearchScopeMismatch" and "3 searchContainer" in caught.value.message
    with pytest.raises(EngineError) as caught:
        upgrade(bed, searchContainerScopeList=[1], whatIf=True)
    assert caught.value.error_id == "SearchScopeMismatch"
    for refused in (4, 5, "5"):
        with pytest.raises(EngineError) as caught:
            upgrade(bed, groupType=[2, refused], whatIf=True)
        assert caught.value.error_id == "GroupTypeUnsupported" and "parent Dynasty" in caught.value.recommended_action
    with pytest.raises(EngineError) as caught:
        upgrade(bed, groupType=[7], whatIf=True)
    assert caught.value.error_id == "GroupTypeUnsupported"
    with pytest.raises(EngineError) as caught:
        upgrade(bed, groupIdVersion="8.0", whatIf=True)
    assert caught.value.error_id == "SourceVersionUnsupported"
    for version in (9, 10, "9.0", "10.0"):
        result, _ = upgrade(bed, identity=[f"CN=Smart-Sales,OU=Smart Groups,OU=GroupID,{FAB_BASE}"],
                            groupIdVersion=version, whatIf=True)
        assert result["wouldUpgrade"] == 1


@pytest.mark.parametrize("group_type", [1, 2, 3, 6])
def test_r13_group_type_picks_exactly_its_groups(bed: Bed, group_type: int) -> None:
    fab = sample_groups("fabrikam.example.com")
    expected = {cn for cn, g in fab.items()
                if g["type"] == group_type or (group_type == 3 and g["type"] in (4, 5))}
    # type 1 in a whole domain means every built-in group too: limit it to the sample's OUs
    containers = [f"OU=GroupID,{FAB_BASE}", f"OU=Static Groups,{FAB_BASE}"]
    _, records = upgrade(bed, groupType=[group_type], searchContainer=containers, whatIf=True)
    assert names(records) == expected and names(records, "WouldUpgrade") == expected


def test_r13_identity_store_picks_its_domain_only(bed: Bed) -> None:
    for store, base in ((STORE_FABRIKAM, FAB_BASE), (STORE_CORP, CORP_BASE)):
        _, records = upgrade(bed, identityStoreId=store, groupType=[6], whatIf=True)
        picked = [r["distinguishedName"] for r in records if r["status"] != "Failed"]
        assert picked == [f"CN=PwdExpiry-14Days,OU=Smart Groups,OU=GroupID,{base}"]
        assert {r["identityStoreId"] for r in records} == {store}
        # the adapter tests' groups hold no readable definition, so their type is unknown: reported, not guessed
        assert all(r["error"]["data"]["errorId"] == "GroupDefinitionInvalid" and base in r["distinguishedName"]
                   for r in records if r["status"] == "Failed")
    with pytest.raises(EngineError) as caught:
        upgrade(bed, identityStoreId=3, whatIf=True)  # the disabled store (R3)
    assert caught.value.error_id == "IdentityStoreNotFound" and "1 (Fabrikam)" in caught.value.message


def test_r13_a_leaf_or_middle_named_alone_is_refused_with_its_parents_name(bed: Bed) -> None:
    fab = sample_groups("fabrikam.example.com")
    for cn in ("Dyn-Company-Tailspin-Sales", "Dyn-Company-Fabrikam"):
        result, records = upgrade(bed, identity=[fab[cn]["dn"]], whatIf=True)
        assert len(records) == 1 and records[0]["status"] == "Failed", records
        error = records[0]["error"]
        assert error["data"]["errorId"] == "DynastyMemberAlone" and error["data"]["parent"] == "Dyn-Company"
        assert "Dyn-Company" in error["message"] and error["data"]["parentDn"] == fab["Dyn-Company"]["dn"]
    # named together with its parent, it comes along
    _, records = upgrade(bed, identity=[fab["Dyn-Company-Tailspin-Sales"]["dn"], "FAB-Dyn-Company"], whatIf=True)
    assert names(records, "WouldUpgrade") == {cn for cn, g in fab.items() if g["type"] in (3, 4, 5)}


# --- conversion, writing, idempotence (own OU) -----------------------------------------------------
def expected_eleven(ou: str, guids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The 11 definitions the groups of ``definitions(ou)`` must get (docs/formats.md, Groups in 11)."""
    staff = f"OU=Staff,{CORP_BASE}"
    return {
        "NM-1": {"IMSGManagedGroupType": "1"},
        "SG-2": {"IMSGManagedGroupType": "2", "SmartGroupMainType": "X.SmartGroup", "IMSGObjectTypes": "user,contact",
                 "IMSGCriteria": '(department Contains "Sales")', "IMSGStartPath": staff, "IMSGStartPathScope": "1",
                 "IMSGExpirationPolicy": "90", "IMSGLastMembershipUpdate": "2024-05-01T02:00:00Z",
                 "IMSGAdditionalOwners": [OWNER], "IMSGUpgradedFrom": "10.0"},
        "DP-3": {"IMSGManagedGroupType": "3", "SmartGroupMainType": "X.SmartDynasty", "IMSGObjectTypes": "user",
                 "IMSGCriteria": "(company Present)", "IMSGStartPath": staff, "IMSGStartPathScope": "2",
                 "IMSGDynastyRole": "Parent", "IMSGDynastyGroupBy": "company", "IMSGExpirationPolicy": "30",
                 "IMSGUpgradedFrom": "10.0"},
        "DM-4": {"IMSGManagedGroupType": "4", "SmartGroupMainType": "X.SmartDynasty", "IMSGObjectTypes": "user",
                 "IMSGCriteria": '(company Equals "Corp")', "IMSGStartPath": staff, "IMSGStartPathScope": "2",
                 "IMSGDynastyRole": "Middle", "IMSGDynastyGroupBy": "department",
                 "IMSGDynastyParent": guids["DP-3"], "IMSGDynastyParentDn": f"CN=DP-3,{ou}",
                 "IMSGExpirationPolicy": "30", "IMSGExpirationPolicyInherited": "true", "IMSGUpgradedFrom": "10.0"},
        "DL-5": {"IMSGManagedGroupType": "5", "SmartGroupMainType": "X.SmartDynasty", "IMSGObjectTypes": "user",
                 "IMSGCriteria": '(department Equals "Sales")', "IMSGStartPath": staff, "IMSGStartPathScope": "2",
                 "IMSGDynastyRole": "Leaf", "IMSGDynastyParent": guids["DM-4"],
                 "IMSGDynastyParentDn": f"CN=DM-4,{ou}", "IMSGExpirationPolicy": "30",
                 "IMSGExpirationPolicyInherited": "true", "IMSGUpgradedFrom": "10.0"},
        "PE-6": {"IMSGManagedGroupType": "6", "SmartGroupMainType": "X.PasswordExpiryGroup", "IMSGObjectTypes": "user",
                 "IMSGCriteria": "(passwordExpiresInDays LessThan 7)", "IMSGStartPath": staff,
                 "IMSGStartPathScope": "2", "IMSGExpirationPolicy": "Never", "IMSGPasswordExpiryNotification": "true",
                 "IMSGUpgradedFrom": "9.0"},
    }


def test_r13_every_group_type_converts_to_the_expected_11_definition(bed: Bed, own: OwnOu) -> None:
    before = {name: read_group(own.conn, dn) for name, dn in own.groups.items()}
    guids = {name: guid_text(attrs["objectguid"][0]) for name, attrs in before.items()}
    result, records = upgrade(bed, searchContainer=[own.dn])
    assert result["status"] == "Succeeded" and result["upgraded"] == 6, records
    assert [r["name"] for r in records if r["name"].startswith("D")] == ["DP-3", "DM-4", "DL-5"]  # parents first
    expected = expected_eleven(own.dn, guids)
    rows = {r[0]: r for r in bed.query("SELECT Name, ObjectGuid, IdentityStoreId, GroupType, ParentObjectGuid, "
                                       "DefinitionJson, DistinguishedName FROM Gid_Group WHERE DistinguishedName "
                                       "LIKE ?", (f"%{own.dn}",))}
    ledger = {r[0] for r in bed.query("SELECT UnitKey FROM Upg_Ledger WHERE Module = 'Groups'")}
    for name, dn in own.groups.items():
        after = read_group(own.conn, dn)
        assert after["extensionattribute15"] == [bed.target_version.encode()]
        if name == "NM-1":
            assert "extensiondata" not in after  # a non-managed group gets only the version mark
        else:
            assert decode_eleven(after["extensiondata"]) == expected[name], name
            for kept in ("extensionattribute12", "extensionattribute13", "extensionattribute14"):
                assert after.get(kept) == before[name].get(kept)
        row = rows[name]
        assert row[1] == guids[name] and row[2] == STORE_CORP and row[3] == int(name[-1])
        assert json.loads(row[5]) == expected[name] and row[6] == dn
        assert f"Groups/group:{guids[name]}" in ledger
    # the Dynasty chain stays linked: leaf -> middle -> parent, by objectGUID
    assert rows["DL-5"][4] == guids["DM-4"] and rows["DM-4"][4] == guids["DP-3"] and rows["DP-3"][4] is None


def test_r13_second_run_is_already_upgraded_and_changes_nothing_in_ad(bed: Bed, own: OwnOu) -> None:
    first, _ = upgrade(bed, searchContainer=[own.dn])
    assert first["upgraded"] == 6
    export = entries_below(own.conn, own.dn)
    target_rows = bed.query("SELECT * FROM Gid_Group ORDER BY ObjectGuid")
    second, records = upgrade(bed, searchContainer=[own.dn])
    assert second["alreadyUpgraded"] == 6 and second["upgraded"] == 0 and second["status"] == "Succeeded"
    assert {r["status"] for r in records} == {"AlreadyUpgraded"} and all(r["changes"] == [] for r in records)
    assert entries_below(own.conn, own.dn) == export  # every attribute and uSNChanged as before
    assert bed.query("SELECT * FROM Gid_Group ORDER BY ObjectGuid") == target_rows


def test_r13_what_if_lists_exactly_what_the_real_run_upgrades_and_writes_nothing(bed: Bed, own: OwnOu) -> None:
    export = entries_below(own.conn, own.dn)
    rows_before = bed.query("SELECT COUNT(*) FROM Gid_Group")
    ledger_before = bed.query("SELECT COUNT(*) FROM Upg_Ledger")
    mtime = bed.target_db.stat().st_mtime_ns
    what_if, planned = upgrade(bed, searchContainer=[own.dn], groupType=[2, 3, 6], whatIf=True)
    assert what_if["whatIf"] and what_if["wouldUpgrade"] == 5
    assert entries_below(own.conn, own.dn) == export
    assert bed.query("SELECT COUNT(*) FROM Gid_Group") == rows_before
    assert bed.query("SELECT COUNT(*) FROM Upg_Ledger") == ledger_before and bed.target_db.stat().st_mtime_ns == mtime
    real, done = upgrade(bed, searchContainer=[own.dn], groupType=[2, 3, 6])
    assert [r["distinguishedName"] for r in planned] == [r["distinguishedName"] for r in done]
    assert {r["status"] for r in done} == {"Upgraded"} and real["upgraded"] == 5


def test_r13_a_group_changed_since_it_was_read_is_reported_not_overwritten(bed: Bed, own: OwnOu) -> None:
    """The modify carries the values read in the same step: a change in between makes the server refuse it."""
    from groupid_upgrade.groups.conversion import GroupFacts, convert
    from groupid_upgrade.source.group_definition import decode

    env = bed.envs["corp"]
    dn = own.groups["SG-2"]
    client = DirectoryClient(env["LDAP_URL"], user=env["LDAP_BIND_DN"], password=admin_password(env),
                             ca_file=env["LDAP_CA_FILE"])
    with client:
        entry = next(client.paged_search(own.dn, "(cn=SG-2)", ["objectGUID", "name", *GID_ATTRS]))
        raw = {k.lower(): v for k, v in entry["attributes"].items()}
        facts = GroupFacts(dn=dn, object_guid=guid_text(raw["objectguid"][0]), name="SG-2", sam_account_name=None,
                           raw=raw)
        plan = convert(facts, decode(raw), bed.target_version, "extensionData")
        assert own.conn.modify(dn, {"extensionAttribute15": [(ldap3.MODIFY_REPLACE, ["10.0-edited"])]})
        with pytest.raises(EngineError) as caught:
            client.replace_attributes(dn, plan.new_values, plan.expected, reread=False)
    assert caught.value.error_id == "GroupChangedConcurrently" and dn in caught.value.message
    assert read_group(own.conn, dn)["extensionattribute15"] == [b"10.0-edited"]


def test_r13_a_broken_definition_fails_alone(bed: Bed, own: OwnOu) -> None:
    assert own.conn.modify(own.groups["SG-2"], {"extensionData": [(ldap3.MODIFY_REPLACE, [b"GID\x01\x01<not xml"])]})
    result, records = upgrade(bed, searchContainer=[own.dn])
    by_name = {r["name"]: r for r in records}
    assert by_name["SG-2"]["status"] == "Failed"
    assert by_name["SG-2"]["error"]["data"]["errorId"] == "GroupDefinitionInvalid"
    assert own.groups["SG-2"] in by_name["SG-2"]["error"]["message"]
    assert result["upgraded"] == 5 and result["status"] == "PartiallySucceeded"


def test_r13_keep_user_history_converts_the_groups_history(bed: Bed) -> None:
    """The history rows of the named groups (by DN or objectGUID) land in Gid.History in the 11 format."""
    fab = sample_groups("fabrikam.example.com")
    chosen = [fab["Smart-Sales"]["dn"], fab["Dyn-Company"]["dn"]]
    src = sqlite3.connect(next((bed.root / "source").glob("*.db")))
    expected = {dn: src.execute("SELECT COUNT(*) FROM Hist_History WHERE ObjectDn = ? AND IdentityStoreId = 1",
                                (dn,)).fetchone()[0] for dn in chosen}
    src.close()
    assert all(expected.values())
    conn = sqlite3.connect(bed.target_db)
    conn.execute("DELETE FROM Gid_History")  # so the rows counted below are the ones written now
    conn.commit()
    conn.close()
    answers = load_answer_file(bed.answer_file)
    target = TargetInstallation(answers.target)
    try:
        counts = history_of_groups(answers, target, [StoreInfo(1, "Fabrikam", ["fabrikam.example.com"])],
                                   [(dn, str(uuid.uuid4()), 1) for dn in chosen], CollectingReporter(), search=None,
                                   index_prefix="x")
    finally:
        target.close()
    assert counts == expected
    rows = bed.query("SELECT ObjectDn, COUNT(*) FROM Gid_History GROUP BY ObjectDn")
    assert dict(rows) == expected


# --- the Groups module of upgrade.run ----------------------------------------------------------------
def test_r13_groups_module_is_skipped_without_directories(tmp_path: Path) -> None:
    answer_file = prepared_sample(tmp_path / "sample", None, None)
    result = run_upgrade(load_answer_file(answer_file), CollectingReporter())
    groups = next(m for m in result.modules if m.module == "Groups")
    assert groups.status == "Skipped" and "directories" in (groups.reason or "")
    assert result.status == "Succeeded"


@pytest.fixture
def restore_seeded_groups(envs: dict[str, dict[str, str]]) -> Iterator[None]:
    """Every GroupID attribute of every group of both test bed domains, put back after the test."""
    saved: dict[str, tuple[ldap3.Connection, dict[str, dict[str, list[bytes]]]]] = {}
    for key, env in envs.items():
        conn = admin(env)
        conn.search(env["LDAP_BASE_DN"], "(objectClass=group)", ldap3.SUBTREE, attributes=GID_ATTRS)
        saved[key] = (conn, {e["dn"]: {k: v for k, v in e["raw_attributes"].items() if v} for e in conn.response
                             if e.get("type") == "searchResEntry"})
    try:
        yield
    finally:
        for conn, groups in saved.values():
            for dn, attrs in groups.items():
                conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=GID_ATTRS)
                now = {k: v for k, v in conn.response[0]["raw_attributes"].items() if v} if conn.response else {}
                if now == attrs or not now.get("extensionAttribute15", [b""])[0].startswith(b"11.") or \
                        attrs.get("extensionAttribute15", [b""])[0].startswith(b"11."):
                    continue  # not upgraded by this test (another test's change is not ours to undo)
                changes = {a: [(ldap3.MODIFY_REPLACE, attrs.get(a, []))] for a in GID_ATTRS
                           if now.get(a) != attrs.get(a)}
                assert conn.modify(dn, changes), (dn, conn.result)
            conn.unbind()


def test_r13_groups_module_upgrades_every_managed_group_of_each_enabled_store(
        envs: dict[str, dict[str, str]], tmp_path: Path, restore_seeded_groups: None) -> None:
    answer_file = prepared_sample(tmp_path / "sample", envs, None)
    data = json.loads(answer_file.read_text())
    assert "Groups" in data["modules"]  # the sample's answers.json selects Groups
    reporter = CollectingReporter()
    result = run_upgrade(load_answer_file(answer_file), reporter)
    groups = next(m for m in result.modules if m.module == "Groups")
    records = {r["distinguishedName"]: r for t, r in reporter.records if t == "GroupUpgrade"}
    for domain, env in (("corp.example.com", envs["corp"]), ("fabrikam.example.com", envs["fabrikam"])):
        conn = admin(env)
        for cn, group in sample_groups(domain).items():
            if group["type"] == 1:
                assert group["dn"] not in records  # the module upgrades managed groups only
                continue
            assert records[group["dn"]]["status"] == "Upgraded", (cn, records[group["dn"]])
            assert read_group(conn, group["dn"])["extensionattribute15"][0].startswith(b"11.")
        conn.unbind()
    # the adapter tests' fixture groups carry no readable definition: each fails alone (R16)
    failed = {dn for dn, r in records.items() if r["status"] == "Failed"}
    assert all(records[dn]["error"]["data"]["errorId"] == "GroupDefinitionInvalid" for dn in failed)
    assert groups.done == sum(r["status"] == "Upgraded" for r in records.values()) and groups.failed == len(failed)
    target = sqlite3.connect(tmp_path / "sample" / "target" / "GroupID11.db")
    stores = dict(target.execute("SELECT IdentityStoreId, COUNT(*) FROM Gid_Group GROUP BY IdentityStoreId"))
    target.close()
    managed = {d: sum(g["type"] != 1 for g in sample_groups(d).values())
               for d in ("corp.example.com", "fabrikam.example.com")}
    assert stores[STORE_FABRIKAM] >= managed["fabrikam.example.com"] and stores[STORE_CORP] >= managed["corp.example.com"]
    # run again: nothing to do
    again = run_upgrade(load_answer_file(answer_file), CollectingReporter())
    groups_again = next(m for m in again.modules if m.module == "Groups")
    assert groups_again.done == 0 and groups_again.already_done == groups.done


def test_r13_group_upgrade_over_the_protocol_streams_a_record_per_group(bed: Bed) -> None:
    request = {"jsonrpc": "2.0", "id": 7, "method": "group.upgrade",
               "params": {"answerFile": str(bed.answer_file), "Identity": "PwdExpiry-14Days",
                          "IDENTITYSTOREID": STORE_FABRIKAM, "whatIf": True}}
    proc = subprocess.run([*ENGINE, "serve"], input=json.dumps(request) + "\n", capture_output=True, text=True,
                          timeout=120)
    messages = [json.loads(line) for line in proc.stdout.splitlines()]
    records = [m["params"] for m in messages if m.get("method") == "$/record"]
    assert [r["data"]["name"] for r in records if r["type"] == "GroupUpgrade"] == ["PwdExpiry-14Days"]
    assert messages[-1]["id"] == 7 and messages[-1]["result"]["wouldUpgrade"] == 1
    leaks.assert_no_leaks({"fabrikam admin password": admin_password(bed.envs["fabrikam"]).get_secret_value()},
                          texts={"stdout": proc.stdout, "stderr": proc.stderr})


@pytest.fixture
def es_answer_file(bed: Bed, es_node: Any) -> Iterator[tuple[Path, str]]:
    """The bed's answer file with the test bed's Elasticsearch in the target, under a prefix of its own."""
    from groupid_upgrade.storage.search import SearchClient

    prefix = f"ga-groups-{uuid.uuid4().hex[:8]}"
    data = json.loads(bed.answer_file.read_text())
    data["target"]["elasticsearch"] = {"url": es_node.url, "indexPrefix": prefix}
    path = bed.root / f"answers-{prefix}.json"
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    yield path, prefix
    with SearchClient(es_node.url) as search:
        search.delete_index(f"{prefix}-groups-{STORE_CORP}")


def test_r13_with_elasticsearch_each_upgraded_group_is_indexed_once_and_progress_is_reported(
        bed: Bed, own: OwnOu, es_answer_file: tuple[Path, str], es_node: Any) -> None:
    from groupid_upgrade.storage.search import SearchClient

    path, prefix = es_answer_file
    reporter = CollectingReporter()
    request = GroupUpgradeParams.model_validate({"answerFile": str(path), "searchContainer": own.dn})
    result = group_upgrade_handler(request, reporter)
    assert result.upgraded == 6
    assert any(e["activityId"] == "groups" and e["completed"] for e in reporter.progress_events)
    index = f"{prefix}-groups-{STORE_CORP}"
    guids = {guid_text(read_group(own.conn, dn)["objectguid"][0]): name for name, dn in own.groups.items()}
    with SearchClient(es_node.url) as search:
        search.refresh(index)
        assert search.count(index) == 6
        for guid, name in guids.items():
            doc = search.client.get(index=index, id=guid)["_source"]
            assert doc["name"] == name and doc["identityStoreId"] == STORE_CORP
            assert doc["definition"]["IMSGManagedGroupType"] == name[-1]
    again = group_upgrade_handler(request, CollectingReporter())
    assert again.already_upgraded == 6
    with SearchClient(es_node.url) as search:
        search.refresh(index)
        assert search.count(index) == 6


def test_r13_keep_user_history_through_the_request(bed: Bed, restore_seeded_groups: None) -> None:
    dn = sample_groups("fabrikam.example.com")["Smart-Engineering"]["dn"]
    src = sqlite3.connect(next((bed.root / "source").glob("*.db")))
    expected = src.execute("SELECT COUNT(*) FROM Hist_History WHERE ObjectDn = ? AND IdentityStoreId = ?",
                           (dn, STORE_FABRIKAM)).fetchone()[0]
    src.close()
    reporter = CollectingReporter()
    request = GroupUpgradeParams.model_validate({"answerFile": str(bed.answer_file), "identity": [dn],
                                                 "keepUserHistory": True})
    result = group_upgrade_handler(request, reporter)
    assert result.upgraded == 1 and result.history_rows == expected > 0
    assert [d for t, d in reporter.records if t == "GroupHistory"] == [{"distinguishedName": dn,
                                                                         "historyRows": expected}]
    rows = bed.query("SELECT COUNT(*), COUNT(DISTINCT HistoryId) FROM Gid_History WHERE ObjectDn = ?", (dn,))
    assert rows == [(expected, expected)]  # each row once, though the History module had written them already


def test_r15_killed_between_the_directory_and_the_target_the_next_run_completes_the_target(
        bed: Bed, own: OwnOu) -> None:
    """SIGKILL after the groups were written in AD, before the target transaction: the next run finds
    them upgraded, writes their rows and ledger entries from the 11 definition, and changes nothing in AD."""
    import os

    env = {**os.environ, "GROUPID_UPGRADE_KILL_AT": "groups-after-directory:1"}
    proc = subprocess.run([*ENGINE, "group", "--answer-file", str(bed.answer_file), "--search-container", own.dn,
                           "--json"], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == -9, proc.stderr
    guids = {guid_text(read_group(own.conn, dn)["objectguid"][0]) for dn in own.groups.values()}
    assert all(read_group(own.conn, dn)["extensionattribute15"] == [bed.target_version.encode()]
               for dn in own.groups.values())

    def rows() -> set[str]:
        return {r[0] for r in bed.query("SELECT ObjectGuid FROM Gid_Group")} & guids

    assert rows() == set()
    export = entries_below(own.conn, own.dn)
    result, records = upgrade(bed, searchContainer=[own.dn])
    assert result["alreadyUpgraded"] == 6 and result["status"] == "Succeeded"
    assert all(r["changes"] for r in records)  # each says its target row was written
    assert rows() == guids and entries_below(own.conn, own.dn) == export
    ledger = {r[0] for r in bed.query("SELECT UnitKey FROM Upg_Ledger")}
    assert {f"Groups/group:{g}" for g in guids} <= ledger


def test_r13_cli_group_command_what_if(bed: Bed) -> None:
    proc = subprocess.run([*ENGINE, "group", "--answer-file", str(bed.answer_file), "--search-container",
                           f"OU=Smart Groups,OU=GroupID,{FAB_BASE}", "--search-containers-scope-list", "1",
                           "--group-type", "6", "--what-if", "--json"], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["whatIf"] and result["wouldUpgrade"] == 1 and result["selected"] == 1
    refused = subprocess.run([*ENGINE, "group", "--answer-file", str(bed.answer_file), "--group-type", "5"],
                             capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "parent Dynasty" in refused.stderr and "Traceback" not in refused.stderr


def test_r13_a_concurrent_change_during_a_run_fails_that_group_alone(bed: Bed, own: OwnOu) -> None:
    """Through the pipeline: another writer changes one group after the batch was read; that group is
    Failed with GroupChangedConcurrently and keeps the other writer's value, the rest are upgraded."""
    from groupid_upgrade.groups import selection as sel
    from groupid_upgrade.groups.pipeline import GroupPipeline
    from groupid_upgrade.groups.stores import directories_for, target_stores

    victim = own.groups["PE-6"]

    class Racing(GroupPipeline):
        def _flush(self, *, last: bool = False) -> None:
            if self._batch:
                assert own.conn.modify(victim, {"extensionAttribute13": [(ldap3.MODIFY_REPLACE, ["7"])],
                                                "extensionAttribute15": [(ldap3.MODIFY_REPLACE, ["10.0"])]})
            super()._flush(last=last)

    answers = load_answer_file(bed.answer_file)
    target = TargetInstallation(answers.target)
    reporter = CollectingReporter()
    try:
        stores = [s for s in target_stores(target) if s.id == STORE_CORP]
        pipeline = Racing(answers, target, stores, sel.Selection(containers=((own.dn, "subtree"),)), reporter,
                          run_id="test", directories=directories_for(answers, stores, None))
        summary = pipeline.run()
    finally:
        target.close()
    records = {r["name"]: r for t, r in reporter.records if t == "GroupUpgrade"}
    assert records["PE-6"]["status"] == "Failed"
    assert records["PE-6"]["error"]["data"]["errorId"] == "GroupChangedConcurrently"
    assert summary.upgraded == 5 and summary.failed == 1
    after = read_group(own.conn, victim)
    assert after["extensionattribute15"] == [b"10.0"] and after["extensionattribute13"] == [b"7"]
    assert decode_eleven(after["extensiondata"]) is None  # the 9/10 definition is still there, untouched


# --- single-group requests on one serve: the bind is kept between them --------------------------------
@pytest.fixture
def kept_binds() -> Iterator[Any]:
    """The directory pool switched on, as ``serve`` switches it on, and emptied and off again afterwards."""
    from groupid_upgrade.storage.directory_pool import POOL

    POOL.close_all()
    POOL.enable()
    try:
        yield POOL
    finally:
        POOL.close_all()
        POOL.enabled = False


def test_r13_single_group_requests_reuse_the_bind_and_never_for_another_account(
        bed: Bed, own: OwnOu, kept_binds: Any, envs: dict[str, dict[str, str]]) -> None:
    dns = [own.groups[name] for name in ("NM-1", "PE-6", "SG-2", "DP-3")]
    first, _ = upgrade(bed, identity=[dns[0]])
    assert first["upgraded"] == 1 and kept_binds.idle_count() == 1
    reused = kept_binds.reused
    second, _ = upgrade(bed, identity=[dns[1]])
    assert second["upgraded"] == 1 and kept_binds.reused == reused + 1 and kept_binds.idle_count() == 1

    # The domain controller dropped the idle connection: the next request binds anew and succeeds.
    (kept,) = [client for entries in kept_binds._idle.values() for _, client in entries]
    kept.connection.socket.close()
    third, _ = upgrade(bed, identity=[dns[2]])
    assert third["upgraded"] == 1 and kept_binds.reused == reused + 1

    # Another password is another key: the kept bind is not used, the wrong password is refused.
    before = read_group(own.conn, dns[3])
    wrong = {"userName": envs["corp"]["LDAP_BIND_DN"], "password": "not-the-password"}
    with pytest.raises(EngineError) as refused:
        upgrade(bed, identity=[dns[3]], credential=wrong)
    assert refused.value.error_id == "DirectoryBindRefused"
    assert read_group(own.conn, dns[3]) == before and kept_binds.reused == reused + 1

    # A request that ended in an error gives nothing back to the pool; a later one still works.
    fourth, _ = upgrade(bed, identity=[dns[3]])
    assert fourth["upgraded"] == 3  # the parent Dynasty with its middle and leaf


def test_r15_the_per_group_ledger_rows_are_asked_for_by_key_not_loaded_into_memory(bed: Bed, own: OwnOu) -> None:
    """The ledger grows by a row per upgraded group; ``done_keys`` (held in memory for a run) leaves them out,
    and a group's row is found by key, so memory does not grow with the directory."""
    result, records = upgrade(bed, searchContainer=[own.dn])
    assert result["upgraded"] == 6
    guids = [r["objectGuid"] for r in records]
    target = TargetInstallation(load_answer_file(bed.answer_file).target, read_only=True)
    try:
        held = target.ledger.done_keys()
        assert held and not any(key.startswith("Groups/group:") for key in held)
        assert any(key.startswith("Configuration/") for key in held) and any(key.startswith("History/") for key in held)
        assert all(target.ledger.is_done(f"Groups/group:{guid}") for guid in guids)
        assert not target.ledger.is_done("Groups/group:00000000-0000-0000-0000-000000000000")
    finally:
        target.close()
    ledger = {row[0] for row in bed.query("SELECT UnitKey FROM Upg_Ledger WHERE UnitKey LIKE 'Groups/group:%'")}
    assert {f"Groups/group:{guid}" for guid in guids} <= ledger
