"""The 11 definition of a group (IMSG* pseudo-attributes), pure: no I/O here.

docs/formats.md, "Groups in 11": the pseudo-attributes the 11 REST API names (``IMSGObjectTypes``,
``IMSGCriteria``, ``IMSGStartPath`` with its scope, ``IMSGManagedGroupType``, ``SmartGroupMainType``)
plus this product's names for what the API leaves out (Dynasty links, expiry policy, owners). The
same definition is written to the target database, the group index and, as one ``extensionData``
value of format version 2, to the group itself; ``extensionAttribute15`` then names the 11 version,
which is how an upgraded group is recognised.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from ..model.installation import GroupType
from ..source.group_definition import DYNASTY_ROLE, MAGIC, GroupDefinition

FORMAT_VERSION_11 = 2
FACET_DEFINITION_11 = 0
UPGRADED_PREFIX = "11."
MAIN_TYPE = {
    GroupType.SMART_GROUP: "X.SmartGroup",
    GroupType.PASSWORD_EXPIRY: "X.PasswordExpiryGroup",
    GroupType.PARENT_DYNASTY: "X.SmartDynasty",
    GroupType.MIDDLE_DYNASTY: "X.SmartDynasty",
    GroupType.LEAF_DYNASTY: "X.SmartDynasty",
}
SCOPE_11 = {"Subtree": "2", "OneLevel": "1"}  # the cmdlet's scope numbers: 1 this container, 2 subtree
LIST_ATTRIBUTES = frozenset({"IMSGAdditionalOwners"})


def guid_text(raw: bytes) -> str:
    """objectGUID (16 bytes, little-endian fields as AD stores it) as its usual text form."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def guid_filter_value(text: str) -> str:
    """An objectGUID for an LDAP filter: every byte escaped (RFC 4515)."""
    return "".join(f"\\{b:02x}" for b in uuid.UUID(text).bytes_le)


def is_upgraded(version_value: str | None) -> bool:
    return bool(version_value) and str(version_value).startswith(UPGRADED_PREFIX)


def eleven_definition(defn: GroupDefinition | None, *, parent_guid: str | None = None,
                      expiry_days: int | None = None, inherited_expiry: bool = False) -> dict[str, Any]:
    """The IMSG* pseudo-attributes of a group (``defn`` None: a non-managed group).

    Dynasty children carry their parent by objectGUID (11) and DN (as 9/10 did); they inherit the
    expiry policy of the top parent (domain brief, section 6) when ``inherited_expiry``.
    """
    if defn is None:
        return {"IMSGManagedGroupType": str(int(GroupType.NON_MANAGED))}
    gtype = defn.group_type
    out: dict[str, Any] = {
        "IMSGManagedGroupType": str(int(gtype)),
        "SmartGroupMainType": MAIN_TYPE[gtype],
        "IMSGObjectTypes": ",".join(defn.object_types),
        "IMSGCriteria": defn.criteria,
        "IMSGStartPath": defn.start_path,
        "IMSGStartPathScope": SCOPE_11[defn.scope],
    }
    if gtype in DYNASTY_ROLE:
        out["IMSGDynastyRole"] = DYNASTY_ROLE[gtype]
        if defn.group_by:
            out["IMSGDynastyGroupBy"] = defn.group_by
        if gtype != GroupType.PARENT_DYNASTY:
            out["IMSGDynastyParent"] = parent_guid or ""
            out["IMSGDynastyParentDn"] = defn.parent_dn or ""
    days = expiry_days if inherited_expiry else defn.expiry_days
    out["IMSGExpirationPolicy"] = "Never" if days is None else str(days)
    if inherited_expiry:
        out["IMSGExpirationPolicyInherited"] = "true"
    if gtype == GroupType.PASSWORD_EXPIRY:
        out["IMSGPasswordExpiryNotification"] = "true"
    if defn.last_update:
        out["IMSGLastMembershipUpdate"] = defn.last_update
    if defn.additional_owners:
        out["IMSGAdditionalOwners"] = list(defn.additional_owners)
    out["IMSGUpgradedFrom"] = defn.version
    return out


def encode_eleven(definition: dict[str, Any]) -> bytes:
    """One ``extensionData`` value holding the 11 definition: ``GID``, format 2, facet 0, UTF-16LE XML."""
    root = Element("GroupDefinition", {"Version": "11"})
    for name, value in definition.items():
        if name in LIST_ATTRIBUTES:
            holder = SubElement(root, name)
            for item in value:
                SubElement(holder, "Value").text = item
        else:
            SubElement(root, name).text = str(value)
    return MAGIC + bytes([FORMAT_VERSION_11, FACET_DEFINITION_11]) + tostring(root, encoding="unicode").encode(
        "utf-16-le")


def decode_eleven(values: list[bytes]) -> dict[str, Any] | None:
    """The 11 definition from ``extensionData`` values, or None when none of them holds one."""
    from defusedxml.ElementTree import fromstring

    for value in values:
        if len(value) > 5 and value[:3] == MAGIC and value[3] == FORMAT_VERSION_11:
            root = fromstring(value[5:].decode("utf-16-le"), forbid_dtd=True)
            out: dict[str, Any] = {}
            for child in root:
                if child.tag in LIST_ATTRIBUTES:
                    out[child.tag] = [v.text or "" for v in child]
                else:
                    out[child.tag] = child.text or ""
            return out
    return None


@dataclass
class GroupFacts:
    """What the pipeline knows of one group entry (read in one paged search)."""

    dn: str
    object_guid: str
    name: str
    sam_account_name: str | None
    raw: dict[str, list[bytes]] = field(repr=False)  # lower-cased attribute names

    def first(self, name: str) -> str | None:
        values = self.raw.get(name.lower()) or []
        return values[0].decode("utf-8", "replace") if values else None


@dataclass
class Conversion:
    """The writes one group needs: new attribute values, the values read (for the conditional
    modify), the target row's fields and a summary of what changed."""

    definition: dict[str, Any]
    new_values: dict[str, list[bytes]]
    expected: dict[str, list[bytes]]
    changes: list[str]


def convert(facts: GroupFacts, defn: GroupDefinition | None, target_version: str, data_attribute: str, *,
            parent_guid: str | None = None, expiry_days: int | None = None,
            inherited_expiry: bool = False) -> Conversion:
    """Pure: the 11 definition of a group and the attribute changes that write it back."""
    definition = eleven_definition(defn, parent_guid=parent_guid, expiry_days=expiry_days,
                                   inherited_expiry=inherited_expiry)
    new: dict[str, list[bytes]] = {"extensionAttribute15": [target_version.encode("utf-8")]}
    changes = [f"extensionAttribute15: {facts.first('extensionAttribute15') or '(none)'} -> {target_version}"]
    if defn is not None:
        new[data_attribute] = [encode_eleven(definition)]
        changes.append(f"{data_attribute}: {len(facts.raw.get(data_attribute.lower(), []))} 9/10 facet(s) -> "
                       f"the 11 definition ({len(definition)} IMSG* attributes)")
    expected = {name: list(facts.raw.get(name.lower(), [])) for name in new}
    return Conversion(definition=definition, new_values=new, expected=expected, changes=changes)


def definition_json(definition: dict[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
