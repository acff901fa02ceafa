"""The directory adapter against real Samba AD domain controllers (tests/testbed/fixtures_samba.py)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import ldap3
import ldif
import psutil
import pytest
from pydantic import SecretStr

from groupid_upgrade.errors import EngineError
from groupid_upgrade.storage.directory import (
    GROUPID_ATTRIBUTES,
    SMART_GROUP_FILTER,
    DirectoryClient,
)
from support import leaks
from testbed import samba_dc
from testbed.certs import make_ca, make_server_certificate

pytestmark = pytest.mark.testbed

FIXTURES = Path(__file__).resolve().parent / "testbed" / "fixtures"
CORP_LDIF = FIXTURES / "corp.ldif"


def admin_password(env: dict[str, str]) -> SecretStr:
    return SecretStr(Path(env["LDAP_PASSWORD_FILE"]).read_text().strip())


def _client(env: dict[str, str], **overrides: object) -> DirectoryClient:
    kwargs: dict[str, object] = {
        "user": env["LDAP_BIND_DN"],
        "password": admin_password(env),
        "ca_file": env["LDAP_CA_FILE"],
    }
    kwargs.update(overrides)
    url = str(kwargs.pop("url", env["LDAP_URL"]))
    return DirectoryClient(url, **kwargs)  # type: ignore[arg-type]


def _ldif_groups(path: Path) -> dict[str, dict[str, list[bytes]]]:
    """The fixture LDIF's groups, keyed by lower-cased DN, GroupID attributes only, raw bytes."""
    groups: dict[str, dict[str, list[bytes]]] = {}
    with path.open("rb") as handle:
        for dn, entry in ldif.LDIFParser(handle, encoding=None).parse():
            if dn is None:
                continue
            classes = [v.lower() for v in entry.get("objectClass", [])]
            if b"group" not in classes:
                continue
            groups[dn.lower()] = {a: entry[a] for a in GROUPID_ATTRIBUTES if a in entry}
    return groups


def _by_name(attributes: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
    lowered = {k.lower(): v for k, v in attributes.items()}
    return {a: lowered[a.lower()] for a in GROUPID_ATTRIBUTES if a.lower() in lowered}


# --- reading --------------------------------------------------------------------------------------


def test_smart_group_filter_finds_exactly_the_groupid_groups_byte_for_byte(
    samba_corp: dict[str, str],
) -> None:
    expected = {dn: attrs for dn, attrs in _ldif_groups(CORP_LDIF).items() if attrs}
    assert len(expected) == 5 and len(_ldif_groups(CORP_LDIF)) == 7
    with _client(samba_corp) as client:
        found = {
            e["dn"].lower(): _by_name(e["attributes"])
            for e in client.paged_search(
                f"OU=GroupID Test,{samba_corp['LDAP_BASE_DN']}", SMART_GROUP_FILTER, GROUPID_ATTRIBUTES, page_size=2
            )
        }
    assert set(found) == set(expected)
    for dn, attrs in expected.items():
        assert sorted(attrs) == sorted(found[dn]), dn
        for name, values in attrs.items():
            assert sorted(found[dn][name]) == sorted(values), (dn, name)
    finance = found["cn=sg finance,ou=groups,ou=groupid test,dc=corp,dc=example,dc=com"]
    assert bytes(range(256)) in finance["extensionData"]
    assert finance["extensionAttribute14"] == ["Zürich – Ω".encode()]


def test_paged_search_scopes_and_pages(samba_corp: dict[str, str]) -> None:
    groups_ou = f"OU=Groups,OU=GroupID Test,{samba_corp['LDAP_BASE_DN']}"
    with _client(samba_corp) as client:
        subtree = list(client.paged_search(groups_ou, "(objectClass=group)", ["cn"], page_size=1))
        one = list(client.paged_search(groups_ou, "(objectClass=group)", ["cn"], scope="one", page_size=3))
        base = list(client.paged_search(groups_ou, "(objectClass=*)", ["ou"], scope="base"))
        with pytest.raises(EngineError) as missing:
            list(client.paged_search(f"OU=Nope,{groups_ou}", "(objectClass=*)", ["cn"]))
    assert len(subtree) == 7 and len(one) == 6
    assert base == [{"dn": groups_ou, "attributes": {"ou": [b"Groups"]}}]
    assert (
        missing.value.error_id == "DirectoryOperationFailed"
        and samba_corp["LDAP_URL"] in missing.value.message
    )


def test_starttls_works_and_plain_simple_bind_is_refused(samba_corp: dict[str, str]) -> None:
    with _client(samba_corp, url=samba_corp["LDAP_STARTTLS_URL"], start_tls=True) as client:
        assert client.root_dse()["defaultNamingContext"] == samba_corp["LDAP_BASE_DN"]
        assert client.connection.tls_started
    password = admin_password(samba_corp)
    # the server itself refuses a simple bind in clear (Samba's default, kept) ...
    server = ldap3.Server(samba_corp["LDAP_STARTTLS_URL"], get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user=samba_corp["LDAP_BIND_DN"], password=password.get_secret_value())
    conn.open()
    assert conn.bind() is False
    assert conn.result["result"] == 8  # strongerAuthRequired
    conn.unbind()
    # ... and the client says so
    with pytest.raises(EngineError) as refused:
        _client(samba_corp, url=samba_corp["LDAP_STARTTLS_URL"]).connect()
    assert refused.value.error_id == "DirectoryBindRefused"
    assert "without TLS" in refused.value.message
    leaks.assert_no_leaks({"admin password": password.get_secret_value()},
                          texts={"error": str(refused.value.to_error_object())})


def test_root_dse_of_both_forests(samba_corp: dict[str, str], samba_fabrikam: dict[str, str]) -> None:
    for env, domain in ((samba_corp, "corp.example.com"), (samba_fabrikam, "fabrikam.example.com")):
        with _client(env) as client:
            dse = client.root_dse()
            assert client.can_read_configuration_partition() is True
        base = env["LDAP_BASE_DN"]
        assert base == samba_dc.base_dn(domain)
        assert dse["defaultNamingContext"] == base
        assert dse["rootDomainNamingContext"] == base  # each is its own forest root
        assert dse["configurationNamingContext"] == f"CN=Configuration,{base}"
        assert dse["dnsHostName"].lower().endswith("." + domain)
    with _client(samba_fabrikam) as client:
        groups = list(
            client.paged_search(
                f"OU=Fabrikam,{samba_fabrikam['LDAP_BASE_DN']}", SMART_GROUP_FILTER, GROUPID_ATTRIBUTES
            )
        )
    assert [g["attributes"]["extensionData"] for g in groups] == [[b"\xfe\xedfabrikam\x00"]]


# --- connection errors ----------------------------------------------------------------------------


def test_wrong_password_is_bind_refused_without_the_password(samba_corp: dict[str, str]) -> None:
    wrong = "Wr0ng-Secret-Value-1729"
    with pytest.raises(EngineError) as err:
        _client(samba_corp, password=SecretStr(wrong)).connect()
    assert err.value.error_id == "DirectoryBindRefused"
    assert samba_corp["LDAP_URL"] in err.value.message
    leaks.assert_no_leaks({"the wrong password": wrong, "admin password": admin_password(samba_corp).get_secret_value()},
                          texts={"error": repr(err.value.to_error_object())})


def test_closed_port_is_unreachable(samba_corp: dict[str, str]) -> None:
    password = admin_password(samba_corp)
    url = "ldaps://127.0.0.1:1"  # nothing listens on port 1
    with pytest.raises(EngineError) as err:
        _client(samba_corp, url=url, connect_timeout=3).connect()
    assert err.value.error_id == "DirectoryUnreachable"
    assert url in err.value.message and "refused" in err.value.message
    leaks.assert_no_leaks({"admin password": password.get_secret_value()}, texts={"error": repr(err.value.to_error_object())})


def test_certificate_from_another_ca_is_refused(samba_corp: dict[str, str], tmp_path: Path) -> None:
    password = admin_password(samba_corp)
    other = make_ca(tmp_path / "other-ca", "Some Other CA")
    for overrides in (
        {"ca_file": str(other.cert_file)},
        {"ca_file": str(other.cert_file), "url": samba_corp["LDAP_STARTTLS_URL"], "start_tls": True},
    ):
        with pytest.raises(EngineError) as err:
            _client(samba_corp, **overrides).connect()
        assert err.value.error_id == "DirectoryCertificateInvalid", err.value.message
        leaks.assert_no_leaks({"admin password": password.get_secret_value()},
                              texts={"error": repr(err.value.to_error_object())})
    # the right CA but a name the certificate does not carry (localhost is not in its SAN)
    with pytest.raises(EngineError) as err:
        _client(samba_corp, url="ldaps://localhost:636").connect()
    assert err.value.error_id == "DirectoryCertificateInvalid"


def test_verification_off_must_be_explicit(samba_corp: dict[str, str], tmp_path: Path) -> None:
    other = make_ca(tmp_path / "other-ca", "Some Other CA")
    with _client(samba_corp, ca_file=str(other.cert_file), verify=False) as client:
        assert client.root_dse()["defaultNamingContext"] == samba_corp["LDAP_BASE_DN"]
    leaks.assert_no_leaks({"admin password": admin_password(samba_corp).get_secret_value()}, texts={"client": repr(client)})


# --- writing --------------------------------------------------------------------------------------

TARGET = "CN=SG Replace Target,OU=Groups,OU=GroupID Test,{base}"


def test_replace_attributes_with_current_expected_values(samba_corp: dict[str, str]) -> None:
    dn = TARGET.format(base=samba_corp["LDAP_BASE_DN"])
    with _client(samba_corp) as client:
        before = client.read_entry(dn, GROUPID_ATTRIBUTES)
        assert before is not None
        expected = _by_name(before["attributes"])
        new = {
            "extensionData": [b"\x00new\xff\xfe", b"second \x80 value"],
            "extensionAttribute12": ["v2 – 11".encode()],
            "extensionAttribute13": [b"added"],
        }
        full_expected = {a: expected.get(a, []) for a in new}
        assert client.replace_attributes(dn, new, full_expected) is True
        after = _by_name(client.read_entry(dn, GROUPID_ATTRIBUTES)["attributes"])  # type: ignore[index]
        assert {a: sorted(v) for a, v in after.items()} == {
            "extensionData": sorted(new["extensionData"]),
            "extensionAttribute12": new["extensionAttribute12"],
            "extensionAttribute13": new["extensionAttribute13"],
        }
        # the same values again: nothing to do
        assert client.replace_attributes(dn, new, new) is False
        # and back, so the test can run again on a kept DC
        restore = {a: full_expected[a] for a in new}
        assert client.replace_attributes(dn, restore, new) is True
        assert _by_name(client.read_entry(dn, GROUPID_ATTRIBUTES)["attributes"]) == expected  # type: ignore[index]


def test_replace_attributes_with_stale_expected_changes_nothing(samba_corp: dict[str, str]) -> None:
    dn = TARGET.format(base=samba_corp["LDAP_BASE_DN"])
    with _client(samba_corp) as client:
        before = _by_name(client.read_entry(dn, GROUPID_ATTRIBUTES)["attributes"])  # type: ignore[index]
        stale_cases = [
            {
                "extensionData": [b"\x01something else\xff"],
                "extensionAttribute12": before["extensionAttribute12"],
            },
            {"extensionData": before["extensionData"], "extensionAttribute12": [b"v0"]},
            {"extensionData": [], "extensionAttribute12": before["extensionAttribute12"]},
            {**before, "extensionAttribute15": [b"was set meanwhile?"]},
        ]
        for stale in stale_cases:
            with pytest.raises(EngineError) as err:
                client.replace_attributes(
                    dn, {"extensionData": [b"upgraded"], "extensionAttribute12": [b"v11"]}, stale
                )
            assert err.value.error_id == "GroupChangedConcurrently"
            assert dn in err.value.message and err.value.target == dn
            assert _by_name(client.read_entry(dn, GROUPID_ATTRIBUTES)["attributes"]) == before  # type: ignore[index]


def test_server_rejects_the_modify_when_a_value_changed_after_the_read(samba_corp: dict[str, str]) -> None:
    """The check is the server's, not only the client's read: change the group between the
    client's comparison and its modify (through a second connection) and the modify must fail."""
    dn = TARGET.format(base=samba_corp["LDAP_BASE_DN"])
    with _client(samba_corp) as client, _client(samba_corp) as other:
        before = _by_name(client.read_entry(dn, GROUPID_ATTRIBUTES)["attributes"])  # type: ignore[index]
        original_read = client.read_entry

        def read_then_interfere(entry_dn: str, attributes: object) -> object:
            result = original_read(entry_dn, attributes)  # type: ignore[arg-type]
            other.connection.modify(dn, {"extensionData": [(ldap3.MODIFY_REPLACE, [b"someone else"])]})
            assert other.connection.result["result"] == 0
            return result

        client.read_entry = read_then_interfere  # type: ignore[method-assign]
        with pytest.raises(EngineError) as err:
            client.replace_attributes(
                dn, {"extensionData": [b"upgraded"]}, {"extensionData": before["extensionData"]}
            )
        client.read_entry = original_read  # type: ignore[method-assign]
        assert err.value.error_id == "GroupChangedConcurrently"
        now = _by_name(client.read_entry(dn, GROUPID_ATTRIBUTES)["attributes"])  # type: ignore[index]
        assert now["extensionData"] == [b"someone else"]
        other.connection.modify(dn, {"extensionData": [(ldap3.MODIFY_REPLACE, before["extensionData"])]})
        assert other.connection.result["result"] == 0


def test_replace_attributes_on_a_missing_group(samba_corp: dict[str, str]) -> None:
    dn = f"CN=No Such Group,{samba_corp['LDAP_BASE_DN']}"
    with _client(samba_corp) as client, pytest.raises(EngineError) as err:
        client.replace_attributes(dn, {"extensionAttribute12": [b"x"]}, {"extensionAttribute12": []})
    assert err.value.error_id == "GroupNotFound" and dn in err.value.message


# --- the test bed itself --------------------------------------------------------------------------


def _samba_processes() -> set[int]:
    found = set()
    for proc in psutil.process_iter(["name", "exe"]):
        if proc.info["name"] == "samba" or (proc.info["exe"] or "").endswith("/samba"):
            found.add(proc.pid)
    return found


def test_start_then_stop_leaves_no_samba_process(tmp_path: Path) -> None:
    # A third forest on its own address, in its own state directory (template cached beside the others).
    from testbed.fixtures_samba import state_dir_path  # imported once the plugin is registered

    state_dir = state_dir_path() / "lifecycle"
    domain, address = "lifecycle.example.com", "127.0.0.3"
    before = _samba_processes()
    env = samba_dc.start(state_dir, domain, address)
    try:
        pid = int(env["LDAP_PID"])
        assert pid in _samba_processes() - before
        assert samba_dc.status(state_dir, domain) == env
        assert oct(os.stat(env["LDAP_PASSWORD_FILE"]).st_mode & 0o777) == "0o600"
        ctx = ssl.create_default_context(cafile=env["LDAP_CA_FILE"])
        assert ctx is not None
        with _client(env) as client:
            assert client.root_dse()["defaultNamingContext"] == "DC=lifecycle,DC=example,DC=com"
    finally:
        assert samba_dc.stop(state_dir, domain) is True
    assert _samba_processes() - before == set()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert samba_dc.status(state_dir, domain) is None
    assert samba_dc.stop(state_dir, domain) is False


def test_split_ldif_keeps_values_byte_for_byte(tmp_path: Path) -> None:
    adds, links = tmp_path / "adds.ldif", tmp_path / "links.ldif"
    n_adds, n_links = samba_dc.split_ldif(CORP_LDIF, adds, links)
    assert (n_adds, n_links) == (15, 5)
    original = _ldif_groups(CORP_LDIF)
    with adds.open("rb") as handle:
        for dn, entry in ldif.LDIFParser(handle, encoding=None).parse():
            assert "member" not in entry and "managedBy" not in entry
            if dn.lower() in original:
                assert {a: entry[a] for a in GROUPID_ATTRIBUTES if a in entry} == original[dn.lower()]
    assert b"changetype: modify" in links.read_bytes()


def test_certs_name_the_address(tmp_path: Path) -> None:
    from cryptography import x509

    ca = make_ca(tmp_path)
    cert = make_server_certificate(ca, tmp_path, ip_addresses=["127.0.0.9"], dns_names=["dc.example.test"])
    loaded = x509.load_pem_x509_certificate(cert.cert_file.read_bytes())
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.9"]
    assert oct(cert.key_file.stat().st_mode & 0o777) == "0o600"


# --- the pool of binds kept between serve's requests (storage/directory_pool.py) ---------------------------
def test_pool_keeps_a_bind_only_while_it_is_young_switched_on_and_within_its_size(samba_corp: dict[str, str]) -> None:
    from groupid_upgrade.storage.directory_pool import DirectoryPool

    off = DirectoryPool()
    client = _client(samba_corp).connect()
    off.release(client, healthy=True)
    assert not client.is_connected and off.idle_count() == 0  # a one-shot process keeps nothing

    pool = DirectoryPool(max_idle=2)
    pool.enable()
    first = pool.connect(_client(samba_corp))
    pool.release(first, healthy=True)
    assert pool.connect(_client(samba_corp)) is first and pool.reused == 1
    pool.release(first, healthy=False)  # its request failed: closed, not kept
    assert not first.is_connected and pool.idle_count() == 0

    kept = [pool.connect(_client(samba_corp)) for _ in range(3)]
    for client in kept:
        pool.release(client, healthy=True)
    assert pool.idle_count() == 2 and not kept[0].is_connected  # the oldest beyond max_idle is closed
    pool.close_all()
    assert pool.idle_count() == 0 and not any(client.is_connected for client in kept)

    stale = DirectoryPool(idle_seconds=0)
    stale.enable()
    old = stale.connect(_client(samba_corp))
    stale.release(old, healthy=True)
    new = stale.connect(_client(samba_corp))
    assert new is not old and stale.reused == 0 and not old.is_connected and new.is_alive()
    new.close()


def test_pool_hands_a_young_bind_out_without_a_round_trip_and_replaces_one_the_server_closed(
        samba_corp: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Back-to-back requests cost no rootDSE probe; a connection the domain controller closed (its socket
    reads end of stream) is seen locally and replaced by a new bind; one idle past probe_after_seconds is
    probed again."""
    import socket

    from groupid_upgrade.storage.directory import DirectoryClient
    from groupid_upgrade.storage.directory_pool import DirectoryPool

    probes: list[DirectoryClient] = []
    real_is_alive = DirectoryClient.is_alive

    def counted(self: DirectoryClient) -> bool:
        probes.append(self)
        return real_is_alive(self)

    monkeypatch.setattr(DirectoryClient, "is_alive", counted)
    pool = DirectoryPool()
    pool.enable()
    first = pool.connect(_client(samba_corp))
    pool.release(first, healthy=True)
    again = pool.connect(_client(samba_corp))
    assert again is first and pool.reused == 1 and probes == [] and first.is_quiet()
    assert again.root_dse()  # and it works

    pool.release(again, healthy=True)
    first.connection.socket.shutdown(socket.SHUT_RD)  # reads end of stream, as after the server closed it
    assert not first.is_quiet()
    replaced = pool.connect(_client(samba_corp))
    assert replaced is not first and not first.is_connected and pool.reused == 1 and replaced.root_dse()

    probing = DirectoryPool(probe_after_seconds=0)
    probing.enable()
    probing.release(replaced, healthy=True)
    assert probing.connect(_client(samba_corp)) is replaced and probes == [replaced]
    replaced.close()
