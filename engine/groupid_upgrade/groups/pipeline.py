"""The per-group pipeline of Upgrade-Group (R13), shared by ``group.upgrade`` and the Groups module.

Groups stream from one paged search per container (or per domain), and are handled in batches:
1. read and convert (pure: ``conversion.py``); an upgraded group is recognised by ``extensionAttribute15``
   naming an 11 version and is left alone (``AlreadyUpgraded``);
2. write the 11 definition back to each group with ONE modify that deletes exactly the values read in
   step 1 and adds the new ones, so the server refuses it if the group changed meanwhile
   (``GroupChangedConcurrently``: reported, nothing overwritten);
3. index the batch's group documents in Elasticsearch (when the target has one; ids are objectGUIDs);
4. one target transaction: the ``Gid.Group`` rows and a ledger row ``Groups/group:<objectGUID>`` each.
A crash between 2 and 4 leaves groups upgraded in AD but not in the ledger: the next run finds them
``AlreadyUpgraded`` and writes their rows and documents from the 11 definition they carry.
Memory is one batch plus the set of groups seen (to visit each once) and the Dynasty index of a domain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import EngineError
from ..faults import fault_point
from ..model.installation import GroupType
from ..model.settings import AnswerFile, DirectorySettings
from ..reporting import Reporter
from ..source.group_definition import DefinitionInvalid, GroupDefinition, decode
from ..target import schema as t
from ..target.ledger import group_key, now_iso
from ..target.writer import TargetInstallation
from . import conversion as conv
from .selection import (
    DYNASTY_MEMBERS,
    Selection,
    dn_domain,
    is_dn,
    is_guid,
    name_filter,
    rdn_value,
)

DEFAULT_BATCH_SIZE = 200
WRITE_CONNECTIONS = 2  # per domain: modifies of a batch in flight at once
PAGE_SIZE = 500
GROUP_ATTRIBUTES = ("objectGUID", "cn", "name", "sAMAccountName", "objectClass")
GID_ATTRIBUTES = ("extensionAttribute12", "extensionAttribute13", "extensionAttribute14", "extensionAttribute15")
SUPPORTED_SOURCE_VERSIONS = ("9", "10")
GROUP_INDEX_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "objectGuid": {"type": "keyword"},
        "identityStoreId": {"type": "integer"},
        "distinguishedName": {"type": "keyword"},
        "name": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "samAccountName": {"type": "keyword"},
        "groupType": {"type": "integer"},
        "parentObjectGuid": {"type": "keyword"},
        "definition": {"type": "object", "enabled": False},
        "upgradedOn": {"type": "date"},
    },
}
Status = Literal["Upgraded", "AlreadyUpgraded", "Skipped", "Failed", "WouldUpgrade"]


def group_index_name(prefix: str, store_id: int) -> str:
    return f"{prefix}-groups-{store_id}"


@dataclass
class StoreInfo:
    """An Active Directory identity store of the target and the directory domains it serves."""

    id: int
    name: str
    domains: list[str]
    origin: str = "Upgraded"


@dataclass
class Work:
    """One group in a batch: what was read, what will be written, how it ended."""

    facts: conv.GroupFacts
    domain: str
    store: StoreInfo
    identity: str
    group_type: int
    status: Status = "Upgraded"
    conversion: conv.Conversion | None = None
    definition: dict[str, Any] | None = None  # the 11 definition (new, or read back when already upgraded)
    parent_guid: str | None = None
    source_version: str | None = None
    repair: bool = False  # upgraded in AD, not yet in the target: write rows and document only
    error: EngineError | None = None
    reason: str | None = None
    changes: list[str] = field(default_factory=list)


@dataclass
class Summary:
    selected: int = 0
    upgraded: int = 0
    already_upgraded: int = 0
    skipped: int = 0
    failed: int = 0
    would_upgrade: int = 0
    history_rows: int = 0
    # (dn, objectGUID, store) of the upgraded groups, kept only with keepUserHistory (memory: one tuple per group)
    upgraded_groups: list[tuple[str, str, int]] = field(default_factory=list)

    def count(self, status: Status) -> None:
        self.selected += 1
        attr = {"Upgraded": "upgraded", "AlreadyUpgraded": "already_upgraded", "Skipped": "skipped",
                "Failed": "failed", "WouldUpgrade": "would_upgrade"}[status]
        setattr(self, attr, getattr(self, attr) + 1)


class GroupPipeline:
    def __init__(self, answers: AnswerFile, target: TargetInstallation, stores: list[StoreInfo],
                 selection: Selection, reporter: Reporter, *, run_id: str,
                 directories: dict[str, DirectorySettings], search: Any = None, index_prefix: str = "groupid11",
                 batch_size: int = DEFAULT_BATCH_SIZE, activity: str = "groups",
                 parent_activity: str | None = None) -> None:
        self.answers = answers
        self.target = target
        self.stores = stores
        self.selection = selection
        self.reporter = reporter
        self.run_id = run_id
        self.directories = directories
        self.search = search
        self.index_prefix = index_prefix
        self.batch_size = batch_size
        self.activity = activity
        self.parent_activity = parent_activity
        self.target_version = answers.target.version
        self.store_of_domain = {d: s for s in stores for d in s.domains if d in directories}
        self._clients: dict[str, Any] = {}
        self._seen: set[str] = set()
        self._dynasty: dict[str, dict[str, list[dict[str, Any]]]] = {}  # domain -> parent dn -> children
        self._dynasty_by_dn: dict[str, dict[str, dict[str, Any]]] = {}
        self._pending_members: dict[str, tuple[str, str, StoreInfo, str]] = {}  # guid -> (dn, domain, store, id)
        self._ensured: set[str] = set()
        self.summary = Summary()
        self._batch: list[Work] = []
        self.attributes = [*GROUP_ATTRIBUTES, *selection.data_attributes, *GID_ATTRIBUTES]

    # --- directories ------------------------------------------------------------------------------
    def client(self, domain: str) -> Any:
        if domain not in self._clients:
            self._clients[domain] = self._connect(domain, self.reporter)
        return self._clients[domain]

    def _connect(self, domain: str, reporter: Reporter | None) -> Any:
        from ..storage.connections import directory_client
        from ..storage.directory_pool import POOL

        return POOL.connect(directory_client(domain, self.directories[domain], reporter))

    def close(self, *, healthy: bool = False) -> None:
        """Hand the connections back (kept for the next request by ``serve``) or, after an error, close them."""
        from ..storage.directory_pool import POOL

        for client in self._clients.values():
            POOL.release(client, healthy=healthy)
        self._clients.clear()

    # --- the run ------------------------------------------------------------------------------------
    def run(self) -> Summary:
        healthy = False
        try:
            for domain, entry, identity, named in self._candidates():
                self.reporter.check_cancelled("the group upgrade")
                self._take(domain, entry, identity, named)
            self._refuse_lonely_members()
            self._flush(last=True)
            healthy = True
        finally:
            self.close(healthy=healthy)
        self.reporter.progress(self.activity, "Upgrading groups", "Done", self.summary.selected,
                               self.summary.selected, parent_activity_id=self.parent_activity, completed=True)
        return self.summary

    def _candidates(self) -> Iterator[tuple[str, dict[str, Any], str, bool]]:
        sel = self.selection
        for identity in sel.identities:
            found = self._resolve(identity)
            if found is not None:
                yield found[0], found[1], identity, True
        for dn, scope in sel.containers:
            domain = dn_domain(dn)
            for entry in self.client(domain).paged_search(dn, sel.search_filter(), self.attributes, scope=scope,
                                                          page_size=PAGE_SIZE):
                yield domain, entry, entry["dn"], False
        if sel.everything:
            for domain in sorted(self.store_of_domain):
                client = self.client(domain)
                base = client.root_dse().get("defaultNamingContext") or ",".join(
                    f"DC={label}" for label in domain.split("."))
                for entry in client.paged_search(base, sel.search_filter(), self.attributes, page_size=PAGE_SIZE):
                    yield domain, entry, entry["dn"], False

    def _resolve(self, identity: str) -> tuple[str, dict[str, Any]] | None:
        """One identity (DN, objectGUID, CN, name or sAMAccountName) to exactly one group, or a Failed record."""
        text = identity.strip()
        matches: list[tuple[str, dict[str, Any]]] = []
        try:
            if is_dn(text):
                domain = dn_domain(text)
                if domain not in self.store_of_domain:
                    raise EngineError("DirectoryNotConfigured", f"The group {text} is in {domain}, which is no "
                                      "directory of the selected identity stores in the answer file.", target=text,
                                      recommended_action="Add the domain under directories in the answer file, or "
                                                         "give identityStoreId of its store.")
                entry = self.client(domain).read_entry(text, self.attributes)
                if entry is not None and self._is_group(entry):
                    matches.append((domain, entry))
            else:
                ldap_filter = (f"(&(objectClass=group)(objectGUID={conv.guid_filter_value(text.strip('{}'))}))"
                               if is_guid(text) else name_filter(text))
                for domain in sorted(self.store_of_domain):
                    client = self.client(domain)
                    base = client.root_dse().get("defaultNamingContext") or ""
                    matches.extend((domain, e) for e in client.paged_search(base, ldap_filter, self.attributes,
                                                                            page_size=PAGE_SIZE))
            if not matches:
                raise EngineError("GroupNotFound", f"No group matches the identity {text!r} in "
                                  f"{', '.join(sorted(self.store_of_domain))}.", target=text,
                                  recommended_action="Give the group's DN, objectGUID, CN, name or sAMAccountName.")
            if len(matches) > 1:
                dns = sorted(e["dn"] for _d, e in matches)
                raise EngineError("GroupIdentityAmbiguous", f"The identity {text!r} matches {len(dns)} groups: "
                                  f"{'; '.join(dns)}.", target=text,
                                  recommended_action="Name the group by its DN or objectGUID.",
                                  extra={"matches": dns})
        except EngineError as error:
            if error.error_id in ("DirectoryUnreachable", "DirectoryBindRefused", "DirectoryCertificateInvalid"):
                raise
            self._record_failure(text, None, error)
            return None
        return matches[0]

    @staticmethod
    def _is_group(entry: dict[str, Any]) -> bool:
        classes = {v.decode("utf-8", "replace").lower() for k, vs in entry["attributes"].items()
                   if k.lower() == "objectclass" for v in vs}
        return "group" in classes

    # --- one group -----------------------------------------------------------------------------------
    def _facts(self, entry: dict[str, Any]) -> conv.GroupFacts:
        raw = {k.lower(): v for k, v in entry["attributes"].items()}
        guid = conv.guid_text(raw["objectguid"][0]) if raw.get("objectguid") else ""

        def text(name: str) -> str | None:
            values = raw.get(name.lower()) or []
            return values[0].decode("utf-8", "replace") if values else None

        return conv.GroupFacts(dn=entry["dn"], object_guid=guid, name=text("name") or text("cn")
                               or rdn_value(entry["dn"]), sam_account_name=text("sAMAccountName"), raw=raw)

    def _data_attribute(self, facts: conv.GroupFacts) -> str:
        for name in self.selection.data_attributes:
            if facts.raw.get(name.lower()):
                return name
        return self.selection.data_attributes[0]

    def _read(self, facts: conv.GroupFacts) -> tuple[int, GroupDefinition | None, dict[str, Any] | None]:
        """(GroupType, 9/10 definition, 11 definition if already upgraded). Raises EngineError."""
        attribute = self._data_attribute(facts)
        version = facts.first("extensionAttribute15")
        if conv.is_upgraded(version):
            eleven = conv.decode_eleven(facts.raw.get(attribute.lower(), [])) or conv.eleven_definition(None)
            return int(eleven.get("IMSGManagedGroupType") or 1), None, eleven
        try:
            defn = decode(facts.raw, data_attribute=attribute,
                          default_version=self.selection.source_version or self.answers.source.version)
        except DefinitionInvalid as exc:
            raise EngineError("GroupDefinitionInvalid", f"The GroupID definition of {facts.dn} cannot be read: {exc}.",
                              target=facts.dn, recommended_action="Correct or remove the group's GroupID attributes "
                              "(extensionData, extensionAttribute12..15), or restore them from the LDIF backup; the "
                              "other groups are upgraded.") from None
        return (int(defn.group_type) if defn else int(GroupType.NON_MANAGED)), defn, None

    def _take(self, domain: str, entry: dict[str, Any], identity: str, named: bool) -> None:
        facts = self._facts(entry)
        if not facts.object_guid or facts.object_guid in self._seen:
            return
        store = self.store_of_domain[domain]
        try:
            gtype, defn, eleven = self._read(facts)
        except EngineError as error:
            self._seen.add(facts.object_guid)
            self._add(Work(facts, domain, store, identity, 0, status="Failed", error=error))
            return
        if gtype in DYNASTY_MEMBERS:
            if named or int(GroupType.PARENT_DYNASTY) in self.selection.group_types:
                self._pending_members[facts.object_guid] = (facts.dn, domain, store, identity)
            return
        self._seen.add(facts.object_guid)
        if gtype not in self.selection.group_types:
            if named:  # named, but not of a selected type: say so
                self._add(Work(facts, domain, store, identity, gtype, status="Skipped",
                               reason=f"its GroupType {gtype} is not among the selected groupType values"))
            return
        self._add(self._work(facts, domain, store, identity, gtype, defn, eleven))
        if gtype == int(GroupType.PARENT_DYNASTY):
            self._take_chain(domain, store, facts, defn, eleven)

    def _work(self, facts: conv.GroupFacts, domain: str, store: StoreInfo, identity: str, gtype: int,
              defn: GroupDefinition | None, eleven: dict[str, Any] | None, *, parent_guid: str | None = None,
              expiry: int | None = None, inherited: bool = False) -> Work:
        work = Work(facts, domain, store, identity, gtype, parent_guid=parent_guid)
        if eleven is not None:
            work.status = "AlreadyUpgraded"
            work.definition = eleven
            work.parent_guid = eleven.get("IMSGDynastyParent") or None
            # a non-managed group carries no IMSGUpgradedFrom: the version the first write used (R15: a
            # resumed run writes the row an uninterrupted run writes)
            work.source_version = eleven.get("IMSGUpgradedFrom") or (self.selection.source_version
                                                                     or self.answers.source.version)
            work.repair = not self.target.ledger.is_done(group_key(facts.object_guid))
            work.changes = ["the target row and group document were written from the 11 definition"] \
                if work.repair else []
            return work
        version = defn.version if defn else (self.selection.source_version or self.answers.source.version)
        work.source_version = version
        if defn is not None and version.split(".")[0] not in SUPPORTED_SOURCE_VERSIONS:
            work.status = "Skipped"
            work.reason = f"its definition was written by GroupID {version}; Upgrade-Group upgrades 9.0 and 10.0"
            return work
        work.conversion = conv.convert(facts, defn, self.target_version, self._data_attribute(facts),
                                       parent_guid=parent_guid, expiry_days=expiry, inherited_expiry=inherited)
        work.definition = work.conversion.definition
        work.changes = list(work.conversion.changes)
        if self.selection.what_if:
            work.status = "WouldUpgrade"
        return work

    # --- Dynasties ------------------------------------------------------------------------------------
    def _dynasty_index(self, domain: str) -> dict[str, list[dict[str, Any]]]:
        """Parent DN (lower case) -> its Dynasty children, from one paged search of the domain."""
        if domain not in self._dynasty:
            children: dict[str, list[dict[str, Any]]] = {}
            by_dn: dict[str, dict[str, Any]] = {}
            client = self.client(domain)
            base = client.root_dse().get("defaultNamingContext") or ""
            for entry in client.paged_search(base, "(&(objectClass=group)(extensionAttribute12=Dynasty))",
                                             self.attributes, page_size=PAGE_SIZE):
                by_dn[entry["dn"].lower()] = entry
                facts = self._facts(entry)
                try:
                    _gtype, defn, eleven = self._read(facts)
                except EngineError:
                    continue
                parent = (eleven or {}).get("IMSGDynastyParentDn") if eleven else (defn.parent_dn if defn else None)
                if parent:
                    children.setdefault(parent.lower(), []).append(entry)
            self._dynasty[domain] = children
            self._dynasty_by_dn[domain] = by_dn
        return self._dynasty[domain]

    def _take_chain(self, domain: str, store: StoreInfo, parent: conv.GroupFacts, defn: GroupDefinition | None,
                    eleven: dict[str, Any] | None) -> None:
        """A parent brings its middle and leaf groups along, parents first, each linked to its parent."""
        index = self._dynasty_index(domain)
        expiry = defn.expiry_days if defn else None
        if eleven is not None:
            policy = eleven.get("IMSGExpirationPolicy")
            expiry = int(policy) if policy and policy.isdigit() else None
        queue: list[tuple[conv.GroupFacts, int]] = [(parent, 0)]
        while queue:
            node, depth = queue.pop(0)
            if depth > 8:  # a cycle in broken data: stop rather than loop
                break
            for entry in sorted(index.get(node.dn.lower(), []), key=lambda e: e["dn"].lower()):
                facts = self._facts(entry)
                if facts.object_guid in self._seen:
                    continue
                self._seen.add(facts.object_guid)
                self._pending_members.pop(facts.object_guid, None)
                try:
                    gtype, child_defn, child_eleven = self._read(facts)
                except EngineError as error:
                    self._add(Work(facts, domain, store, facts.dn, 0, status="Failed", error=error))
                    continue
                work = self._work(facts, domain, store, facts.dn, gtype, child_defn, child_eleven,
                                  parent_guid=node.object_guid, expiry=expiry, inherited=True)
                work.reason = f"brought along by its parent Dynasty {node.name}"
                self._add(work)
                queue.append((facts, depth + 1))

    def _top_parent(self, domain: str, dn: str) -> tuple[str, str]:
        """(name, DN) of the top parent of a Dynasty member."""
        self._dynasty_index(domain)
        by_dn = self._dynasty_by_dn[domain]
        current = by_dn.get(dn.lower())
        name, top = rdn_value(dn), dn
        for _ in range(8):
            if current is None:
                break
            facts = self._facts(current)
            try:
                _gtype, defn, eleven = self._read(facts)
            except EngineError:
                break
            parent_dn = (eleven or {}).get("IMSGDynastyParentDn") if eleven else (defn.parent_dn if defn else None)
            if not parent_dn:
                name, top = facts.name, facts.dn
                break
            top = parent_dn
            current = by_dn.get(parent_dn.lower())
            name = self._facts(current).name if current else rdn_value(parent_dn)
        return name, top

    def _refuse_lonely_members(self) -> None:
        for guid, (dn, domain, _store, identity) in list(self._pending_members.items()):
            if guid in self._seen:
                continue
            self._seen.add(guid)
            name, top = self._top_parent(domain, dn)
            error = EngineError("DynastyMemberAlone", f"{rdn_value(dn)} is a middle or leaf Dynasty group and cannot "
                                f"be upgraded alone; upgrade its parent Dynasty {name} ({top}), which brings the "
                                "whole chain along.", target=dn,
                                recommended_action=f"Run Upgrade-Group -Identity \"{top}\".",
                                extra={"parent": name, "parentDn": top})
            self._record_failure(identity, dn, error)
        self._pending_members.clear()

    # --- batches --------------------------------------------------------------------------------------
    def _add(self, work: Work) -> None:
        self._batch.append(work)
        if len(self._batch) >= self.batch_size:
            self._flush()

    def _flush(self, *, last: bool = False) -> None:
        """Write and record the batch; its progress is given unless it is the last (``run`` then says Done)."""
        batch, self._batch = self._batch, []
        if not batch:
            return
        if not self.selection.what_if:
            self._write_directory([w for w in batch if w.status == "Upgraded" and w.conversion is not None])
            fault_point("groups-after-directory")
            writes = [w for w in batch if w.status == "Upgraded" or (w.status == "AlreadyUpgraded" and w.repair)]
            if writes:
                self._index(writes)
                writes = [w for w in writes if w.status != "Failed"]
                self._commit(writes)
        for work in batch:
            self._record(work)
        if last:
            return
        self.reporter.progress(self.activity, "Upgrading groups", f"{self.summary.selected} groups",
                               self.summary.selected, None, parent_activity_id=self.parent_activity)

    def _write_directory(self, works: list[Work]) -> None:
        """The batch's modifies over WRITE_CONNECTIONS connections per domain at once: each waits for its
        domain controller's answer, so the round trips overlap (one group per modify, as before)."""

        def write(chunk: list[Work], slot: int) -> None:
            for work in chunk:
                try:
                    self._writer(work.domain, slot).replace_attributes(
                        work.facts.dn, work.conversion.new_values, work.conversion.expected,  # type: ignore[union-attr]
                        reread=False)
                except EngineError as error:
                    work.status, work.error = "Failed", error
                    continue
                fault_point("groups-group-written")  # the crash matrix: killed between two groups' modifies

        if len(works) < 2 * WRITE_CONNECTIONS:
            write(works, 0)
            return
        for work in works:  # connect (and fail) here, in order, not inside the threads
            for slot in range(WRITE_CONNECTIONS):
                self._writer(work.domain, slot)
        chunks = [works[i::WRITE_CONNECTIONS] for i in range(WRITE_CONNECTIONS)]
        with ThreadPoolExecutor(max_workers=WRITE_CONNECTIONS, thread_name_prefix="group-write") as pool:
            for future in [pool.submit(write, chunk, slot) for slot, chunk in enumerate(chunks)]:
                future.result()

    def _writer(self, domain: str, slot: int) -> Any:
        """Slot 0 is the reading connection (its paged search waits while the batch is written)."""
        if slot == 0:
            return self.client(domain)
        key = f"{domain}#{slot}"
        if key not in self._clients:
            self._clients[key] = self._connect(domain, None)
        return self._clients[key]

    def _row(self, work: Work) -> dict[str, Any]:
        return {"ObjectGuid": work.facts.object_guid, "IdentityStoreId": work.store.id,
                "DistinguishedName": work.facts.dn, "Name": work.facts.name,
                "SamAccountName": work.facts.sam_account_name, "GroupType": work.group_type,
                "ParentObjectGuid": work.parent_guid, "DefinitionJson": conv.definition_json(work.definition or {}),
                "SourceVersion": work.source_version, "UpgradedOn": now_iso()}

    def _index(self, writes: list[Work]) -> None:
        if self.search is None:
            return
        for store_id in {w.store.id for w in writes}:
            index = group_index_name(self.index_prefix, store_id)
            if index not in self._ensured:
                self.search.ensure_index(index, mappings=GROUP_INDEX_MAPPINGS)
                self._ensured.add(index)
        actions = []
        for work in writes:
            row = self._row(work)
            actions.append({"_index": group_index_name(self.index_prefix, work.store.id), "_id": work.facts.object_guid,
                            "_source": {"objectGuid": row["ObjectGuid"], "identityStoreId": row["IdentityStoreId"],
                                        "distinguishedName": row["DistinguishedName"], "name": row["Name"],
                                        "samAccountName": row["SamAccountName"], "groupType": row["GroupType"],
                                        "parentObjectGuid": row["ParentObjectGuid"],
                                        "definition": work.definition, "upgradedOn": row["UpgradedOn"]}})
        by_id = {w.facts.object_guid: w for w in writes}
        for ok, item in self.search.bulk_index(actions):
            if ok:
                continue
            op = next(iter(item.values()))
            refused = by_id.get(op.get("_id"))
            if refused is not None:
                reason = (op.get("error") or {}).get("reason") or str(op.get("status"))
                refused.status = "Failed"
                refused.error = EngineError("SearchOperationFailed", f"Elasticsearch {self.search.url} refused the "
                                            f"document of {refused.facts.dn}: {reason}; the next run writes it "
                                            "again.", target=refused.facts.dn,
                                            recommended_action="Fix the cause named, then run the same request again.")

    def _commit(self, writes: list[Work]) -> None:
        if not writes:
            return
        with self.target.ledger.transaction() as writer:
            for work in writes:
                writer.write(t.GROUP, self._row(work))
                writer.record(group_key(work.facts.object_guid), "Groups", work.facts.dn, self.run_id)
            fault_point("groups-in-transaction")

    # --- records --------------------------------------------------------------------------------------
    def _record(self, work: Work) -> None:
        status = work.status
        self.summary.count(status)
        if status in ("Upgraded", "AlreadyUpgraded") and self.selection.keep_user_history:
            self.summary.upgraded_groups.append((work.facts.dn, work.facts.object_guid, work.store.id))
        data: dict[str, Any] = {
            "identity": work.identity, "distinguishedName": work.facts.dn, "name": work.facts.name,
            "objectGuid": work.facts.object_guid, "identityStoreId": work.store.id, "groupType": work.group_type or None,
            "status": status, "changes": work.changes,
        }
        if work.parent_guid:
            data["parentObjectGuid"] = work.parent_guid
        if work.reason:
            data["reason"] = work.reason
        if work.error is not None:
            data["error"] = work.error.to_error_object()
            # The record carries the failure (one ErrorRecord in PowerShell, one line in the CLI).
            self.reporter.log("verbose", f"Group {work.facts.dn}: {work.error.message}")
        self.reporter.record("GroupUpgrade", {k: v for k, v in data.items() if v is not None})

    def _record_failure(self, identity: str, dn: str | None, error: EngineError) -> None:
        self.summary.count("Failed")
        data = {"identity": identity, "status": "Failed", "changes": [], "error": error.to_error_object()}
        if dn:
            data["distinguishedName"] = dn
        self.reporter.log("verbose", f"Group {identity}: {error.message}")
        self.reporter.record("GroupUpgrade", data)


def history_of_groups(answers: AnswerFile, target: TargetInstallation, stores: list[StoreInfo],
                      groups: list[tuple[str, str, int]], reporter: Reporter, *, search: Any, index_prefix: str,
                      batch_size: int = 5_000) -> dict[str, int]:
    """keepUserHistory: the source history rows of the given groups (by DN or objectGUID), in the 11
    format, into ``Gid.History`` and the history index (the History pipeline's conversion, R14).

    One keyset pass per upgraded source store, whatever the number of groups; rows are written by key,
    so running it again writes the same rows (each source row lands once).
    Returns the number of rows per group DN.
    """
    from ..history.conversion import HISTORY_INDEX_MAPPINGS, convert_row, document_id, index_name
    from ..source import schema as source_schema
    from ..source.installation import SourceInstallation

    if not groups:
        return {}
    dns = {dn.lower(): dn for dn, _g, _s in groups}
    guids = {guid.lower(): dn for dn, guid, _s in groups}
    counts: dict[str, int] = {}
    db = target.db
    assert db is not None
    store_ids = [s.id for s in stores if s.origin == "Upgraded"]
    columns = source_schema.HISTORY.column_names
    dn_at, guid_at = columns.index("ObjectDn"), columns.index("ObjectGuid")
    with SourceInstallation(answers.source) as source:
        for store_id in store_ids:
            index = index_name(index_prefix, store_id)
            if search is not None:
                search.ensure_index(index, mappings=HISTORY_INDEX_MAPPINGS)
            for page in source.db.keyset_pages_where(source_schema.HISTORY.name, columns, "HistoryId",
                                                     "IdentityStoreId", store_id, batch_size):
                reporter.check_cancelled("the group history upgrade")
                rows, docs = [], []
                for source_row in page:
                    dn = dns.get(str(source_row[dn_at] or "").lower()) or guids.get(str(source_row[guid_at] or
                                                                                        "").lower())
                    if dn is None:
                        continue
                    row, doc = convert_row(source_row, store_id)
                    rows.append(row)
                    docs.append({"_index": index, "_id": document_id(row[0]), "_source": json.loads(doc)})
                    counts[dn] = counts.get(dn, 0) + 1
                if not rows:
                    continue
                if search is not None:
                    refused = [item for ok, item in search.bulk_index(docs) if not ok]
                    if refused:
                        raise EngineError("SearchOperationFailed", f"Elasticsearch {search.url} refused "
                                          f"{len(refused)} history document(s) of the upgraded groups; nothing of "
                                          "that page was recorded.", target=search.url,
                                          recommended_action="Fix the cause, then run the request again.")
                with target.ledger.transaction() as writer:
                    for row in rows:
                        writer.write(t.HISTORY, dict(zip(t.HISTORY.column_names, row, strict=True)))
    return counts
