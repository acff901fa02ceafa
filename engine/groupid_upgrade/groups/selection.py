"""Which groups a request means (R13), pure: parameter checks and LDAP filters, no I/O here."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import EngineError
from ..model.installation import GroupType

SCOPE_BY_NUMBER = {1: "one", 2: "subtree"}  # the cmdlet's numbers: 1 this container only, 2 subtree
SELECTABLE_TYPES = frozenset({1, 2, 3, 6})
MANAGED_TYPES = frozenset({2, 3, 6})
DYNASTY_MEMBERS = frozenset({int(GroupType.MIDDLE_DYNASTY), int(GroupType.LEAF_DYNASTY)})
ALL_GROUPS_FILTER = "(&(objectClass=group)(objectCategory=group))"
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


@dataclass(frozen=True)
class Selection:
    identities: tuple[str, ...] = ()
    containers: tuple[tuple[str, str], ...] = ()  # (DN, "one" | "subtree")
    group_types: frozenset[int] = SELECTABLE_TYPES
    data_attributes: tuple[str, ...] = ("extensionData",)
    source_version: str | None = None
    keep_user_history: bool = False
    what_if: bool = False
    named_types: bool = False  # groupType was given
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def everything(self) -> bool:
        """Neither identity nor container: the whole domain of each selected store."""
        return not self.identities and not self.containers

    def search_filter(self) -> str:
        return MANAGED_FILTER if self.group_types <= MANAGED_TYPES else ALL_GROUPS_FILTER


# Groups carrying a GroupID attribute (the corrected filter of the backup guide, rules R17).
MANAGED_FILTER = (
    "(&(objectClass=group)(objectCategory=group)(|(extensionData=*)(extensionAttribute15=*)"
    "(extensionAttribute14=*)(extensionAttribute13=*)(extensionAttribute12=*)))"
)


def _invalid(error_id: str, message: str, target: str, action: str) -> EngineError:
    return EngineError(error_id, message, target=target, recommended_action=action)


def group_types(values: Sequence[int | str] | None) -> frozenset[int]:
    if not values:
        return SELECTABLE_TYPES
    out: set[int] = set()
    for raw in values:
        text = str(raw).strip()
        number = int(text) if text.isdigit() else None
        if number in DYNASTY_MEMBERS:
            raise _invalid("GroupTypeUnsupported", f"groupType {number} (a {'middle' if number == 4 else 'leaf'} "
                           "Dynasty) cannot be upgraded on its own, as with the vendor's cmdlet.", "groupType",
                           "Upgrade its parent Dynasty (groupType 3): it brings its middle and leaf groups along.")
        if number not in SELECTABLE_TYPES:
            raise _invalid("GroupTypeUnsupported", f"groupType {text!r} is not a group type; expected 1 (non-managed), "
                           "2 (Smart Group), 3 (parent Dynasty) or 6 (password-expiry Smart Group).", "groupType",
                           "Give one or more of 1, 2, 3, 6.")
        out.add(number)
    return frozenset(out)


def containers(dns: Sequence[str] | None, scopes: Sequence[int | str] | None) -> tuple[tuple[str, str], ...]:
    """searchContainer paired with searchContainerScopeList by position; one scope applies to all."""
    dns = [d.strip() for d in dns or [] if d and d.strip()]
    numbers: list[int] = []
    for raw in scopes or []:
        text = str(raw).strip()
        if not text.isdigit() or int(text) not in SCOPE_BY_NUMBER:
            raise _invalid("SearchScopeMismatch", f"searchContainerScopeList value {text!r} is not a scope; expected 1 "
                           "(this container only) or 2 (subtree).", "searchContainerScopeList", "Give 1 or 2.")
        numbers.append(int(text))
    if numbers and not dns:
        raise _invalid("SearchScopeMismatch", "searchContainerScopeList was given without searchContainer.",
                       "searchContainerScopeList", "Give the containers with searchContainer, or leave the scope out.")
    if len(numbers) > 1 and len(numbers) != len(dns):
        raise _invalid("SearchScopeMismatch", f"{len(dns)} searchContainer value(s) but {len(numbers)} scope value(s); "
                       "they pair by position, or one scope applies to all.", "searchContainerScopeList",
                       "Give one scope per container, or a single scope for all of them.")
    for dn in dns:
        if "=" not in dn or not any(p.strip().upper().startswith("DC=") for p in dn.split(",")):
            raise _invalid("SearchScopeMismatch", f"searchContainer {dn!r} is not a distinguished name with its "
                           "domain (DC=...).", "searchContainer", "Give the container's full DN, e.g. "
                           "OU=Jobs,DC=corp,DC=example,DC=com.")
    scope_of = (lambda i: numbers[i]) if len(numbers) > 1 else (lambda i: numbers[0] if numbers else 2)
    return tuple((dn, SCOPE_BY_NUMBER[scope_of(i)]) for i, dn in enumerate(dns))


def source_version(value: int | float | str | None) -> str | None:
    """groupIdVersion: 9, 10, "9.0" or "10.0" (the vendor accepts both forms)."""
    if value is None:
        return None
    text = str(value).strip()
    for version in ("9.0", "10.0"):
        if text in (version, version.split(".")[0]):
            return version
    raise _invalid("SourceVersionUnsupported", f"groupIdVersion {text!r} is not supported; Upgrade-Group upgrades "
                   "groups of GroupID 9.0 or 10.0.", "groupIdVersion", "Give 9, 10, \"9.0\" or \"10.0\".")


def data_attributes(values: Sequence[str] | None) -> tuple[str, ...]:
    names = [v.strip() for v in values or [] if v and v.strip()]
    for name in names:
        if not _ATTRIBUTE_NAME.match(name):
            raise _invalid("InvalidParams", f"extensionDataAttributes value {name!r} is not an LDAP attribute name.",
                           "extensionDataAttributes", "Give the lDAPDisplayName of the attribute, e.g. extensionData.")
    return tuple(names) or ("extensionData",)


def is_guid(text: str) -> bool:
    return bool(_GUID.match(text.strip()))


def is_dn(text: str) -> bool:
    return "=" in text and any(p.strip().upper().startswith("DC=") for p in text.split(","))


def escape_filter_value(text: str) -> str:
    """RFC 4515 escaping of a value inside an LDAP filter."""
    out = []
    for ch in text:
        if ch in "*()\\\x00":
            out.append("".join(f"\\{b:02x}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def name_filter(name: str) -> str:
    value = escape_filter_value(name)
    return f"(&(objectClass=group)(objectCategory=group)(|(cn={value})(name={value})(sAMAccountName={value})))"


def dn_parts(dn: str) -> list[tuple[str, str]]:
    """(attribute, value) of each RDN; escaped commas (``CN=O'Brien\\, Pat``) stay inside their value."""
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    try:
        return [(attr, value) for attr, value, _sep in parse_dn(dn)]
    except LDAPInvalidDnError:
        return [(p.split("=", 1)[0].strip(), p.split("=", 1)[1].strip()) for p in dn.split(",") if "=" in p]


def dn_domain(dn: str) -> str:
    return ".".join(value for attr, value in dn_parts(dn) if attr.upper() == "DC").lower()


def rdn_value(dn: str) -> str:
    parts = dn_parts(dn)
    return parts[0][1].replace("\\", "") if parts else dn
