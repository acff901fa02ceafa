"""A 9/10 managed group's definition as it sits in the group's own AD attributes.

docs/formats.md, "Managed groups in the directory": ``extensionData`` holds one value per facet,
each ``b"GID" + version byte + facet byte`` followed by the facet's XML in UTF-16LE;
``extensionAttribute12`` names the kind of managed group, ``13`` its expiry policy, ``14`` the last
membership update, ``15`` the GroupID version that wrote it. The engine reads and writes this format
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, tostring

from ..model.installation import GroupType

MAGIC = b"GID"
FORMAT_VERSION = 1
FACET_QUERY = 1
FACET_DYNASTY = 2
FACET_OWNERS = 3

KIND_BY_TYPE = {
    GroupType.SMART_GROUP: "SmartGroup",
    GroupType.PARENT_DYNASTY: "Dynasty",
    GroupType.MIDDLE_DYNASTY: "Dynasty",
    GroupType.LEAF_DYNASTY: "Dynasty",
    GroupType.PASSWORD_EXPIRY: "PasswordExpiry",
}
DYNASTY_ROLE = {GroupType.PARENT_DYNASTY: "Parent", GroupType.MIDDLE_DYNASTY: "Middle", GroupType.LEAF_DYNASTY: "Leaf"}
TYPE_BY_ROLE = {v: k for k, v in DYNASTY_ROLE.items()}


@dataclass
class GroupDefinition:
    group_type: GroupType
    object_types: list[str] = field(default_factory=lambda: ["user"])
    criteria: str = ""
    start_path: str = ""
    scope: str = "Subtree"  # Subtree | OneLevel
    group_by: str | None = None  # Dynasty
    # Dynasty middle/leaf: the parent by DN (objectGUIDs are assigned by the directory on import,
    # so a DN is what an LDIF export and a re-imported test directory agree on).
    parent_dn: str | None = None
    expiry_days: int | None = None  # None = Never
    last_update: str | None = None
    version: str = "10.0"
    additional_owners: list[str] = field(default_factory=list)


def _facet(kind: int, elem: Element) -> bytes:
    return MAGIC + bytes([FORMAT_VERSION, kind]) + tostring(elem, encoding="unicode").encode("utf-16-le")


def encode(defn: GroupDefinition) -> dict[str, list[bytes]]:
    """The attribute values (raw bytes) that hold ``defn`` in a 9/10 directory."""
    attrs: dict[str, list[bytes]] = {}
    if defn.group_type == GroupType.NON_MANAGED:
        return attrs
    facets = []
    query = Element("Query", {"ObjectTypes": ",".join(defn.object_types), "StartPath": defn.start_path,
                              "Scope": defn.scope})
    query.text = defn.criteria
    facets.append(_facet(FACET_QUERY, query))
    if defn.group_type in DYNASTY_ROLE:
        dyn = Element("Dynasty", {"Role": DYNASTY_ROLE[defn.group_type], "GroupBy": defn.group_by or ""})
        if defn.parent_dn:
            dyn.set("ParentDn", defn.parent_dn)
        facets.append(_facet(FACET_DYNASTY, dyn))
    if defn.additional_owners:
        owners = Element("Owners")
        for dn in defn.additional_owners:
            owner = Element("Owner", {"Dn": dn})
            owners.append(owner)
        facets.append(_facet(FACET_OWNERS, owners))
    attrs["extensionData"] = facets
    attrs["extensionAttribute12"] = [KIND_BY_TYPE[defn.group_type].encode("utf-8")]
    attrs["extensionAttribute13"] = [("Never" if defn.expiry_days is None else str(defn.expiry_days)).encode("utf-8")]
    if defn.last_update:
        attrs["extensionAttribute14"] = [defn.last_update.encode("utf-8")]
    attrs["extensionAttribute15"] = [defn.version.encode("utf-8")]
    return attrs
