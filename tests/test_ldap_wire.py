"""storage/ldap_wire.py: the read by DN and the modify of a group, encoded without pyasn1.

Offline: on generated DNs, attribute names, values and message ids, each message is byte for byte the
one ldap3 encodes (pyasn1's BER encoder) and the request kept for its answer is the one ldap3 keeps.
On the corp Samba DC: the fast path leaves the connection as ``conn.search`` and ``conn.modify`` leave
it (result, response, last error), refusals included, and connections it must not take go to ldap3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ldap3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.operation.modify import modify_operation
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.strategy.base import BaseStrategy
from pyasn1.codec.ber import encoder

from groupid_upgrade.storage import ldap_wire

OPERATIONS = [ldap3.MODIFY_ADD, ldap3.MODIFY_DELETE, ldap3.MODIFY_REPLACE, ldap3.MODIFY_INCREMENT]


def ldap3_message(message_id: int, kind: str, request: Any) -> tuple[bytes, dict[str, Any]]:
    """What ldap3's ``BaseStrategy.send`` encodes and keeps for ``request``."""
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName(kind, request)
    return encoder.encode(message), BaseStrategy.decode_request(kind, request, None)


dns = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)
names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-;"), min_size=1,
                max_size=40)
values = st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=100).map(str.encode),
                            st.sampled_from([127, 128, 255, 256, 65_536]).map(lambda size: b"\x00" * size)),
                  max_size=4)
message_ids = st.integers(min_value=1, max_value=2**31 - 1)


@settings(max_examples=200, deadline=None)
@given(dn=dns, attributes=st.lists(names, min_size=1, max_size=12), message_id=message_ids)
def test_read_by_dn_is_ldap3s_message_byte_for_byte(dn: str, attributes: list[str], message_id: int) -> None:
    request = search_operation(dn, "(objectClass=*)", ldap3.BASE, ldap3.DEREF_ALWAYS, attributes, 0, 0, False, True,
                               True, None, validator=None, check_names=True)
    encoded, record = ldap3_message(message_id, "searchRequest", request)
    assert ldap_wire._message(message_id, ldap_wire.search_base_object(dn, attributes)) == encoded
    assert ldap_wire.search_record(dn, attributes) == record


@settings(max_examples=200, deadline=None)
@given(dn=dns, message_id=message_ids,
       changes=st.dictionaries(names, st.lists(st.tuples(st.sampled_from(OPERATIONS), values), min_size=1, max_size=3),
                               min_size=1, max_size=5))
def test_modify_is_ldap3s_message_byte_for_byte(dn: str, message_id: int,
                                                changes: dict[str, list[tuple[str, list[bytes]]]]) -> None:
    request = modify_operation(dn, changes, True, None, None, True)
    encoded, record = ldap3_message(message_id, "modifyRequest", request)
    assert ldap_wire._message(message_id, ldap_wire.modify_request(dn, changes)) == encoded
    assert ldap_wire.modify_record(dn, changes) == record


def test_lengths_at_the_form_boundaries() -> None:
    """Short form up to 127 octets, then one, two and three length octets, as pyasn1 writes them."""
    for size in (0, 1, 127, 128, 255, 256, 65_535, 65_536):
        request = modify_operation("CN=x", {"a": [(ldap3.MODIFY_ADD, [b"v" * size])]}, True, None, None, True)
        assert ldap_wire._message(size + 1, ldap_wire.modify_request("CN=x", {"a": [(ldap3.MODIFY_ADD, [b"v" * size])]})) \
            == ldap3_message(size + 1, "modifyRequest", request)[0]


# --- on the corp DC -------------------------------------------------------------------------------------
def _connection(env: dict[str, str], **options: Any) -> ldap3.Connection:
    tls = ldap3.Tls(ca_certs_file=env["LDAP_CA_FILE"])
    server = ldap3.Server(env["LDAP_ADDRESS"], port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    password = Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()
    return ldap3.Connection(server, env["LDAP_BIND_DN"], password, auto_bind=True, raise_exceptions=False,
                            auto_referrals=False, **options)


def _state(conn: ldap3.Connection) -> tuple[Any, ...]:
    result = dict(conn.result or {})
    response = [(e.get("type"), e.get("dn"), e.get("raw_attributes")) for e in conn.response or []]
    return result.get("result"), result.get("description"), result.get("type"), response, conn.last_error


@pytest.mark.testbed
def test_fast_path_leaves_the_connection_as_ldap3_does(samba_corp: dict[str, str]) -> None:
    base = samba_corp["LDAP_BASE_DN"]
    ou = f"OU=ldap-wire-test,{base}"
    group = f"CN=wire-group,{ou}"
    attributes = ["cn", "objectClass", "extensionAttribute15", "description"]
    fast, slow = _connection(samba_corp), _connection(samba_corp)
    assert ldap_wire.plain(fast)
    try:
        assert slow.add(ou, ["top", "organizationalUnit"]), slow.result
        assert slow.add(group, ["top", "group"], {"sAMAccountName": "wire-group", "extensionAttribute15": "10.0"})
        for dn in (group, f"CN=missing,{ou}", f"CN=x,OU=no such ou,{base}"):  # found, no such object (twice)
            found = ldap_wire.read_base_object(fast, dn, attributes)
            expected = slow.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
            assert (found, _state(fast)) == (expected, _state(slow)), dn
        for conn in (fast, slow):  # a DN ldap3 cannot parse is refused before anything is sent, alike
            with pytest.raises(ldap3.core.exceptions.LDAPInvalidDnError):
                ldap_wire.read_base_object(conn, "not a dn", attributes) if conn is fast else \
                    conn.search("not a dn", "(objectClass=*)", ldap3.BASE, attributes=attributes)
        # a conditional modify that holds, then the same again (the value it deletes is gone: refused)
        change = {"extensionAttribute15": [(ldap3.MODIFY_DELETE, [b"10.0"]), (ldap3.MODIFY_ADD, [b"11.0"])]}
        assert ldap_wire.modify(fast, group, change) is True
        assert fast.result["result"] == 0 and fast.result["type"] == "modifyResponse"
        refused_fast = ldap_wire.modify(fast, group, change)
        fast_state = _state(fast)
        assert slow.modify(group, {"extensionAttribute15": [(ldap3.MODIFY_DELETE, [b"11.0"]),
                                                            (ldap3.MODIFY_ADD, [b"10.0"])]})
        assert slow.modify(group, {"extensionAttribute15": [(ldap3.MODIFY_DELETE, [b"11.0"]),
                                                            (ldap3.MODIFY_ADD, [b"12.0"])]}) is False
        assert (refused_fast, fast_state) == (False, _state(slow))
        ldap_wire.read_base_object(fast, group, ["extensionAttribute15"])
        assert fast.response[0]["raw_attributes"]["extensionAttribute15"] == [b"10.0"]
    finally:
        slow.delete(group)
        slow.delete(ou)
        fast.unbind()
        slow.unbind()


@pytest.mark.testbed
def test_connections_it_must_not_take_go_to_ldap3(samba_corp: dict[str, str]) -> None:
    """A read-only connection is refused by ldap3 itself; referral chasing and usage counters stay ldap3's."""
    group_dn = f"CN=Domain Admins,CN=Users,{samba_corp['LDAP_BASE_DN']}"
    for options in ({"auto_referrals": True}, {"collect_usage": True}, {"read_only": True}):
        conn = _connection(samba_corp, **{k: v for k, v in options.items() if k != "auto_referrals"})
        if "auto_referrals" in options:
            conn.auto_referrals = True
        try:
            assert not ldap_wire.plain(conn) or options == {"read_only": True}
            counted = conn.usage.operations if conn.usage else 0
            assert ldap_wire.read_base_object(conn, group_dn, ["cn"])
            if options == {"collect_usage": True}:
                assert conn.usage.operations == counted + 1  # counted: ldap3's own path
            if options == {"read_only": True}:
                with pytest.raises(ldap3.core.exceptions.LDAPConnectionIsReadOnlyError):
                    ldap_wire.modify(conn, group_dn, {"description": [(ldap3.MODIFY_REPLACE, [b"x"])]})
        finally:
            conn.unbind()
