"""The two LDAP requests a group upgrade sends per group, encoded without pyasn1.

ldap3 builds every request as a tree of pyasn1 objects and then encodes it: about 0.5 ms for the read
of one group by DN and 0.6 ms for its modify, more than all the rest of the engine's own work on a
one-group ``group.upgrade`` request (bench/single_groups.py). Those two requests are encoded here
directly (BER, RFC 4511 section 4) and sent through the connection's own strategy, which reads and
decodes the answers as for any other request, so ``conn.result`` and ``conn.response`` are what
``conn.search`` and ``conn.modify`` leave.

Only a plain connection takes this path: ldap3's synchronous strategy, bound (simple), no schema to
check names against, no referral chasing, no usage counters and no ldap3 logging. Any other
connection, and every other request (binds, paged searches, filters, controls), goes through ldap3
unchanged. tests/test_ldap_wire.py checks, on generated DNs, attribute names and values, that every
message is byte for byte the one ldap3 encodes and that the request kept for the answer is the one
ldap3 keeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPSocketOpenError, LDAPSocketSendError, communication_exception_factory
from ldap3.strategy.sync import SyncStrategy
from ldap3.utils.dn import safe_dn
from ldap3.utils.log import BASIC, log_enabled

Changes = Mapping[str, Sequence[tuple[str, Sequence[bytes]]]]

_OPERATIONS = {ldap3.MODIFY_ADD: 0, ldap3.MODIFY_DELETE: 1, ldap3.MODIFY_REPLACE: 2, ldap3.MODIFY_INCREMENT: 3}
_DEREF_ALWAYS = 3  # ldap3's default for a search
_RESULT_SUCCESS = 0


# --- BER (definite, minimal lengths: what pyasn1's encoder writes) ---------------------------------
def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(octets),)) + octets


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _integer(value: int, tag: int = 0x02) -> bytes:
    return _tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _octets(value: bytes) -> bytes:
    return _tlv(0x04, value)


def _message(message_id: int, operation: bytes) -> bytes:
    return _tlv(0x30, _integer(message_id) + operation)


def search_base_object(dn: str, attributes: Sequence[str]) -> bytes:
    """The SearchRequest ([APPLICATION 3]) of ``dn`` alone with filter ``(objectClass=*)``."""
    return _tlv(0x63, _octets(dn.encode("utf-8")) + _integer(0, 0x0A) + _integer(_DEREF_ALWAYS, 0x0A)
                + _integer(0) + _integer(0) + b"\x01\x01\x00"
                + _tlv(0x87, b"objectClass")  # the filter: present [7] objectClass
                + _tlv(0x30, b"".join(_octets(name.encode("utf-8")) for name in attributes)))


def modify_request(dn: str, changes: Changes) -> bytes:
    """The ModifyRequest ([APPLICATION 6]) of ``dn``: per attribute, its operations in the order given."""
    items = b"".join(
        _tlv(0x30, _integer(_OPERATIONS[operation], 0x0A)
             + _tlv(0x30, _octets(name.encode("utf-8")) + _tlv(0x31, b"".join(_octets(bytes(v)) for v in values))))
        for name, operations in changes.items() for operation, values in operations)
    return _tlv(0x66, _octets(dn.encode("utf-8")) + _tlv(0x30, items))


# --- the requests kept for their answers (as ldap3's decode_request gives them) --------------------
def search_record(dn: str, attributes: Sequence[str]) -> dict[str, Any]:
    return {"base": dn, "scope": 0, "dereferenceAlias": _DEREF_ALWAYS, "sizeLimit": 0, "timeLimit": 0,
            "typesOnly": False, "filter": "(objectClass=*)", "attributes": list(attributes),
            "type": "searchRequest", "controls": None}


def _values_as_ldap3_keeps(values: Sequence[bytes]) -> list[Any]:
    try:
        return [bytes(v).decode("utf-8") for v in values]
    except UnicodeDecodeError:
        return [bytes(v) for v in values]


def modify_record(dn: str, changes: Changes) -> dict[str, Any]:
    return {"entry": dn,
            "changes": [{"operation": _OPERATIONS[operation],
                         "attribute": {"type": name, "value": _values_as_ldap3_keeps(values)}}
                        for name, operations in changes.items() for operation, values in operations],
            "type": "modifyRequest", "controls": None}


# --- sending ---------------------------------------------------------------------------------------
def plain(conn: ldap3.Connection) -> bool:
    """True when ``conn`` is one this module may send on (see the module's docstring)."""
    return (type(conn.strategy) is SyncStrategy and conn.listening and not conn.closed
            and not conn.sasl_in_progress and conn.sasl_mechanism is None and not conn.usage
            and not conn.auto_referrals and conn.server is not None and conn.server.schema is None
            and not log_enabled(BASIC))


def _send(conn: ldap3.Connection, operation: bytes, record: dict[str, Any]) -> int:
    """What ldap3's ``BaseStrategy.send`` does, with the message already encoded."""
    message_id = conn.server.next_message_id()
    conn.request = record
    conn.strategy._outstanding[message_id] = record  # the answer is matched to it, as for ldap3's own
    try:
        conn.socket.sendall(_message(message_id, operation))
    except OSError as exc:
        conn.last_error = f"socket sending error{exc}"
        raise communication_exception_factory(LDAPSocketSendError, type(exc)(str(exc)))(conn.last_error) from None
    return message_id


def _request(conn: ldap3.Connection, dn: str, build: Callable[[str], tuple[bytes, dict[str, Any]]],
             receive: Callable[[int], Any], answer_type: str, *, entries_expected: bool) -> bool:
    """One request on a plain connection as ldap3's ``Connection`` methods make it: the DN made safe, the
    message sent and its answer read under the connection's lock, the result judged and left in place."""
    if conn.check_names:
        dn = safe_dn(dn)
    with conn.connection_lock:
        conn.last_error = None
        if not conn.listening:
            raise LDAPSocketOpenError("unable to send message, socket is not open")
        response = receive(_send(conn, *build(dn)))
        conn._entries = []
        result = conn.result
        succeeded = result["type"] == answer_type and (
            len(response) > 0 if entries_expected else result["result"] == _RESULT_SUCCESS)
        if not succeeded and result["result"] != _RESULT_SUCCESS and not conn.last_error:
            conn.last_error = result["description"]
        return succeeded


def read_base_object(conn: ldap3.Connection, dn: str, attributes: Sequence[str]) -> bool:
    """``conn.search(dn, "(objectClass=*)", BASE, attributes=attributes)``, same result, same state."""
    if not plain(conn):
        return bool(conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes)))
    return _request(conn, dn, lambda safe: (search_base_object(safe, attributes), search_record(safe, attributes)),
                    conn.strategy.post_send_search, "searchResDone", entries_expected=True)


def modify(conn: ldap3.Connection, dn: str, changes: Changes) -> bool:
    """``conn.modify(dn, changes)`` (bytes values, operations as lists), same result, same state."""
    if not plain(conn) or conn.read_only or not changes:
        return bool(conn.modify(dn, {name: list(operations) for name, operations in changes.items()}))
    return _request(conn, dn, lambda safe: (modify_request(safe, changes), modify_record(safe, changes)),
                    conn.strategy.post_send_single_response, "modifyResponse", entries_expected=False)
