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


# --- reading (Upgrade-Group, R13) ------------------------------------------------------------------
TYPE_BY_KIND = {"SmartGroup": GroupType.SMART_GROUP, "PasswordExpiry": GroupType.PASSWORD_EXPIRY}


class DefinitionInvalid(ValueError):
    """A 9/10 definition that cannot be read; the message says which attribute and why."""


def _value(attrs: dict[str, list[bytes]], name: str) -> str | None:
    values = attrs.get(name.lower()) or []
    if not values:
        return None
    try:
        return values[0].decode("utf-8").strip()
    except UnicodeDecodeError:
        raise DefinitionInvalid(f"{name} is not UTF-8 text") from None


def _facet_xml(value: bytes, attribute: str) -> tuple[int, Element]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    if len(value) < 5 or value[:3] != MAGIC:
        raise DefinitionInvalid(f"a value of {attribute} does not start with the GroupID marker")
    if value[3] != FORMAT_VERSION:
        raise DefinitionInvalid(f"a value of {attribute} has format version {value[3]}, expected {FORMAT_VERSION}")
    try:
        text = value[5:].decode("utf-16-le")
        return value[4], fromstring(text, forbid_dtd=True)
    except (UnicodeDecodeError, ParseError, DefusedXmlException) as exc:
        raise DefinitionInvalid(f"facet {value[4]} of {attribute} is not readable XML ({type(exc).__name__})") from None


def decode(raw: dict[str, list[bytes]], *, data_attribute: str = "extensionData",
           default_version: str = "10.0") -> GroupDefinition | None:
    """The 9/10 definition held in a group's attributes (names in any case), or None when the group
    carries none of them (a non-managed group). Raises :class:`DefinitionInvalid`."""
    attrs = {k.lower(): v for k, v in raw.items() if v}
    kind = _value(attrs, "extensionAttribute12")
    facets: dict[int, Element] = {}
    for value in attrs.get(data_attribute.lower(), []):
        number, elem = _facet_xml(value, data_attribute)
        facets[number] = elem
    if kind is None and not facets:
        return None
    query = facets.get(FACET_QUERY)
    if query is None or query.tag != "Query":
        raise DefinitionInvalid(f"{data_attribute} holds no query facet")
    dynasty = facets.get(FACET_DYNASTY)
    if kind == "Dynasty" or (kind is None and dynasty is not None):
        if dynasty is None or dynasty.get("Role") not in TYPE_BY_ROLE:
            raise DefinitionInvalid(f"a Dynasty without a readable Dynasty facet in {data_attribute}")
        group_type = TYPE_BY_ROLE[dynasty.get("Role", "")]
    elif kind in TYPE_BY_KIND:
        group_type = TYPE_BY_KIND[kind]
    elif kind is None:
        group_type = GroupType.SMART_GROUP
    else:
        raise DefinitionInvalid(f"extensionAttribute12 is {kind!r}; expected SmartGroup, Dynasty or PasswordExpiry")
    expiry = _value(attrs, "extensionAttribute13")
    expiry_days: int | None = None
    if expiry and expiry.lower() != "never":
        if not expiry.isdigit():
            raise DefinitionInvalid(f"extensionAttribute13 is {expiry!r}; expected a number of days or Never")
        expiry_days = int(expiry)
    scope = query.get("Scope") or "Subtree"
    if scope not in ("Subtree", "OneLevel"):
        raise DefinitionInvalid(f"the query scope is {scope!r}; expected Subtree or OneLevel")
    owners = facets.get(FACET_OWNERS)
    return GroupDefinition(
        group_type=group_type,
        object_types=[t for t in (query.get("ObjectTypes") or "user").split(",") if t],
        criteria=query.text or "",
        start_path=query.get("StartPath") or "",
        scope=scope,
        group_by=(dynasty.get("GroupBy") or None) if dynasty is not None else None,
        parent_dn=dynasty.get("ParentDn") if dynasty is not None else None,
        expiry_days=expiry_days,
        last_update=_value(attrs, "extensionAttribute14"),
        version=_value(attrs, "extensionAttribute15") or default_version,
        additional_owners=[o.get("Dn", "") for o in owners if o.get("Dn")] if owners is not None else [],
    )
