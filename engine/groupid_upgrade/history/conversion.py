"""9/10 history rows into the 11 format (docs/formats.md, "History in 11"). Pure.

The 11 schema is not public ("as per Directory Manager 11.1 format"): the 11 record keeps every
fact of the source row, normalises the time to UTC (keeping the recorded offset), names the action
as 11 does, and carries the change as a list of old/new pairs. Actions this table does not know are
kept verbatim rather than refused, so no history is lost to an unknown action.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from json.encoder import encode_basestring
from typing import Any

from ..source import schema

HISTORY_TYPE = {
    "IdentityStore": "ObjectHistory",
    "AdminCenter": "AdminCenterHistory",
    "Helpdesk": "HelpdeskHistory",
    "Synchronize": "SynchronizeHistory",
}
ACTION_11 = {
    "OwnershipChange": "OwnerChanged",
    "AdditionalOwnerChange": "AdditionalOwnerChanged",
    "ExpirationPolicyChange": "ExpirationPolicyChanged",
    "GroupExpire": "GroupExpired",
    "GroupRenew": "GroupRenewed",
    "QueryChange": "SmartGroupQueryChanged",
    "ObjectCreated": "ObjectCreated",
    "ObjectDeleted": "ObjectDeleted",
    "Workflow": "WorkflowRequest",
    "SecurityRole": "SecurityRoleChanged",
    "SecurityTypeChange": "SecurityTypeChanged",
    "IdentityStoreConfiguration": "IdentityStoreConfigurationChanged",
    "AdminCenterChange": "AdminCenterChanged",
    "PasswordReset": "PasswordReset",
    "AccountUnlock": "AccountUnlocked",
    "JobRun": "SynchronizeJobRun",
    "ObjectSynchronized": "ObjectSynchronized",
}
# Identity-store configuration history is its own history type in 11.
CONFIGURATION_ACTIONS = {"IdentityStoreConfiguration"}

_COLUMNS = schema.HISTORY.column_names
_I = {name: i for i, name in enumerate(_COLUMNS)}


def history_type(category: str, action: str) -> str:
    if action in CONFIGURATION_ACTIONS:
        return "ConfigurationHistory"
    return HISTORY_TYPE.get(category, f"{category}History")


def index_name(prefix: str, store_id: int) -> str:
    return f"{prefix}-history-{store_id}"


def document_id(history_id: int) -> str:
    """Deterministic: the same source row is the same document, however often it is sent."""
    return f"h{history_id}"


def convert_row(row: tuple[Any, ...], target_store_id: int) -> tuple[tuple[Any, ...], str]:
    """One source row -> (the Gid.History row in target column order, the search document as JSON).

    The document is serialised here, once: the same text goes to Elasticsearch or to the outbox. It is
    written field by field with json's own string escaping (``_json_value``): the same text
    ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))`` gives, at a fraction of the cost
    (building the dict and encoding it was half the time of a row, and History is a million rows)."""
    hid = row[_HISTORY_ID]
    category = row[_CATEGORY]
    action = row[_ACTION]
    occurred = row[_OCCURRED_ON]
    moment = occurred if isinstance(occurred, datetime) else datetime.fromisoformat(occurred)
    utc = moment.astimezone(timezone.utc).isoformat()
    old, new = row[_OLD_VALUE], row[_NEW_VALUE]
    changes = (f'[{{"old":{_json_value(old)},"new":{_json_value(new)}}}]'
               if old is not None or new is not None else None)
    htype = history_type(category, action)
    action11 = ACTION_11.get(action, action)
    guid, object_dn, actor_dn, description = row[_OBJECT_GUID], row[_OBJECT_DN], row[_ACTOR_DN], row[_DESCRIPTION]
    target_row = (hid, target_store_id, htype, action11, guid, object_dn, actor_dn, changes, description, utc,
                  _offset_text(moment), category, action)
    document = (f'{{"historyId":{_json_value(hid)},"identityStoreId":{_json_value(target_store_id)},'
                f'"historyType":{_json_value(htype)},"action":{_json_value(action11)},'
                f'"objectGuid":{_json_value(guid)},"objectDn":{_json_value(object_dn)},'
                f'"actorDn":{_json_value(actor_dn)},"changes":{changes or "[]"},'
                f'"description":{_json_value(description)},"occurredOn":{_json_value(utc)}}}')
    return target_row, document


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_HISTORY_ID, _CATEGORY, _ACTION = _I["HistoryId"], _I["Category"], _I["Action"]
_OCCURRED_ON, _OLD_VALUE, _NEW_VALUE = _I["OccurredOn"], _I["OldValue"], _I["NewValue"]
_OBJECT_GUID, _OBJECT_DN, _ACTOR_DN, _DESCRIPTION = _I["ObjectGuid"], _I["ObjectDn"], _I["ActorDn"], _I["Description"]


def _json_value(value: Any) -> str:
    """``value`` as json.dumps (ensure_ascii=False) writes it; the common column types without the encoder."""
    kind = value.__class__
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
    return _dumps(value)


_OFFSETS: dict[Any, str] = {}


def _offset_text(moment: datetime) -> str:
    """``-05:00`` for the offset the source recorded (few distinct ones: cached)."""
    delta = moment.utcoffset()
    text = _OFFSETS.get(delta)
    if text is None:
        minutes = int(delta.total_seconds() // 60) if delta is not None else 0
        sign = "-" if minutes < 0 else "+"
        text = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        _OFFSETS[delta] = text
    return text


HISTORY_INDEX_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "historyId": {"type": "long"},
        "identityStoreId": {"type": "integer"},
        "historyType": {"type": "keyword"},
        "action": {"type": "keyword"},
        "objectGuid": {"type": "keyword"},
        "objectDn": {"type": "keyword"},
        "actorDn": {"type": "keyword"},
        "description": {"type": "text"},
        "occurredOn": {"type": "date"},
        "changes": {"type": "object", "enabled": False},
    },
}
