"""The GroupAttributes part: one LDIF per directory domain of the answer file, written with the
corrected filter (R17) over LDAPS, paged; read back with the ``ldif`` package for verify and restore.

Each entry holds the DN, ``objectGUID``, ``whenChanged`` and whichever of the five GroupID attributes
the group has. Restore finds each group by its objectGUID (a DN may have changed since) and puts
back only the five attributes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldif

from ..errors import EngineError
from ..model.settings import AnswerFile, DirectorySettings
from ..reporting import Reporter
from ..storage.connections import directory_client
from ..storage.directory import GROUPID_ATTRIBUTES, SMART_GROUP_FILTER, DirectoryClient
from ..storage.ldif_io import read_ldif  # the one hardened LDIF reader (no URL fetch, bounded records)
from .manifest import LdifFile

EXTRA_ATTRIBUTES = ("objectGUID", "whenChanged")
EXPORTED = (*GROUPID_ATTRIBUTES, *EXTRA_ATTRIBUTES)
BINARY = frozenset({"objectguid", "extensiondata"})


def _record(attributes: dict[str, list[bytes]]) -> dict[str, list[Any]]:
    """Attribute values for LDIFWriter: text as str (readable LDIF), binary and non-UTF-8 as bytes."""
    out: dict[str, list[Any]] = {}
    for name in EXPORTED:
        values = next((v for k, v in attributes.items() if k.lower() == name.lower()), None)
        if not values:
            continue
        if name.lower() in BINARY:
            out[name] = [bytes(v) for v in values]
            continue
        text: list[Any] = []
        for value in values:
            try:
                text.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                text.append(bytes(value))
        out[name] = text
    return out


def export_domain(domain: str, settings: DirectorySettings, dest: Path, set_rel: str, reporter: Reporter,
                  *, page_size: int = 500) -> LdifFile:
    """Write the LDIF of one domain's GroupID groups to ``dest``; return its manifest record."""
    count = 0
    with directory_client(domain, settings, reporter) as client:
        base = client.root_dse().get("defaultNamingContext") or ",".join(f"DC={p}" for p in domain.split("."))
        with open(dest, "wb") as fh:
            writer = ldif.LDIFWriter(fh, cols=76)
            for entry in client.paged_search(base, SMART_GROUP_FILTER, EXPORTED, page_size=page_size):
                writer.unparse(entry["dn"], _record(entry["attributes"]))
                count += 1
                if count % page_size == 0:
                    reporter.check_cancelled("the backup")
                    reporter.progress("backup-ldif", "Exporting group attributes", f"{domain}: {count} groups", count)
    return LdifFile(domain=domain, file=set_rel, server=settings.url, base_dn=base, filter=SMART_GROUP_FILTER,
                    attributes=list(EXPORTED), entries=count)


def count_entries(path: Path) -> int:
    return sum(1 for _ in read_ldif(path))


def guid_filter(guid: bytes) -> str:
    return "(objectGUID=" + "".join(f"\\{b:02x}" for b in guid) + ")"


def _five(attributes: dict[str, list[bytes]]) -> dict[str, list[bytes]]:
    lowered = {k.lower(): v for k, v in attributes.items()}
    return {name: sorted(lowered.get(name.lower(), [])) for name in GROUPID_ATTRIBUTES}


def _get(attributes: dict[str, list[bytes]], name: str) -> bytes | None:
    values = next((v for k, v in attributes.items() if k.lower() == name.lower()), None)
    return values[0] if values else None


@dataclass
class GroupChange:
    dn: str
    guid: str
    current_dn: str
    wanted: dict[str, list[bytes]]
    current: dict[str, list[bytes]]
    newer: bool


@dataclass
class GroupPlan:
    domain: str
    changes: list[GroupChange] = field(default_factory=list)
    unchanged: int = 0
    missing: list[str] = field(default_factory=list)  # DNs whose objectGUID is no longer in the directory
    skipped: int = 0  # outside the containers asked for


def _under(dn: str, containers: list[str]) -> bool:
    low = dn.lower().replace(" ", "")
    return any(low == c or low.endswith("," + c) for c in containers)


def plan_domain(client: DirectoryClient, path: Path, domain: str, containers: list[str] | None) -> GroupPlan:
    """What restoring one LDIF would change, read from the directory; writes nothing."""
    plan = GroupPlan(domain)
    wanted_containers = [c.lower().replace(" ", "") for c in containers] if containers else None
    base = client.root_dse().get("defaultNamingContext") or ""
    for dn, attrs in read_ldif(path):
        if wanted_containers is not None and not _under(dn, wanted_containers):
            plan.skipped += 1
            continue
        guid = _get(attrs, "objectGUID")
        if guid is None:
            raise EngineError("BackupSetInvalid", f"The entry {dn} of {path} has no objectGUID.", target=str(path),
                              recommended_action="Use a set written by groupid-upgrade backup.")
        found = list(client.paged_search(base, guid_filter(guid), (*GROUPID_ATTRIBUTES, "whenChanged"), page_size=2))
        if not found:
            plan.missing.append(dn)
            continue
        current = found[0]
        have, want = _five(current["attributes"]), _five(attrs)
        if have == want:
            plan.unchanged += 1
            continue
        then, now = _get(attrs, "whenChanged") or b"", _get(current["attributes"], "whenChanged") or b""
        plan.changes.append(GroupChange(dn=dn, guid=base64.b64encode(guid).decode("ascii"), current_dn=current["dn"],
                                        wanted=want, current=have, newer=now > then))
    return plan


def apply_domain(client: DirectoryClient, plan: GroupPlan, reporter: Reporter) -> int:
    """Write the planned changes, each only if the group still holds what the plan read."""
    done = 0
    for change in plan.changes:
        reporter.check_cancelled("the restore")
        client.replace_attributes(change.current_dn, change.wanted, change.current)
        done += 1
        reporter.progress("restore-ldif", "Restoring group attributes", f"{plan.domain}: {done} groups", done,
                          len(plan.changes))
    return done


def directories_of(answers: AnswerFile) -> dict[str, DirectorySettings]:
    return dict(sorted(answers.directories.items()))
