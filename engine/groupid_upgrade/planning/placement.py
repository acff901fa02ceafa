"""R3, R8, R9: which identity store of the target a directory domain belongs to. Pure.

The order (docs/decisions.md, "Jobs, forests and stores"): the store of the domain itself (R8);
else the Active Directory store of the nearest DNS ancestor in the same forest (R9: "the wizard
does not create a separate identity store for each child domain in the same forest"); else a store
created for the forest (R9, destinations only). A disabled store decides as well as an enabled one:
its domain, and the domains of its forest that have no store of their own, are skipped with it (R3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..model.installation import IdentityStore, StoreType, normalize_domain
from .forests import dns_ancestors, is_dns_parent


@dataclass(frozen=True)
class Placement:
    """Where a domain's objects go: a target store (``store_id``), no store, or skipped."""

    rule: str
    reason: str
    store_id: int | None = None
    skipped: bool = False


class StoreDirectory:
    """The source's identity stores by DNS name, and the stores the plan creates per forest."""

    def __init__(self, stores: Iterable[IdentityStore], ldap_roots: dict[str, str]) -> None:
        self.ldap_roots = ldap_roots
        self.by_domain: dict[str, IdentityStore] = {}
        for store in stores:
            self.by_domain.setdefault(normalize_domain(store.domain) or store.domain, store)
        self.new_roots: dict[str, int] = {}  # root -> target store id
        self.new_domains: dict[str, list[str]] = {}  # root -> the destination domains it was created for

    def existing(self, domain: str) -> Placement | None:
        """The store of ``domain`` or of its forest that exists already; None when there is none."""
        own = self.by_domain.get(domain)
        if own is not None:
            if not own.enabled:
                return Placement("R3", f"{domain} has only a disabled identity store ({own.name}); its data stays "
                                       "intact in the source", skipped=True)
            if own.type == StoreType.GOOGLE_WORKSPACE:
                return Placement("R12", f"its identity store for {domain} is not upgraded (Google Workspace)",
                                 skipped=True)
            return Placement("R8", f"the identity store {own.name} of {domain}", store_id=own.id)
        root = self.ldap_roots.get(domain)
        for ancestor in dns_ancestors(domain):
            if root is not None and ancestor != root and not is_dns_parent(root, ancestor):
                break  # above the forest root that rootDSE named: another forest
            store = self.by_domain.get(ancestor)
            if store is None or store.type != StoreType.ACTIVE_DIRECTORY:
                continue
            if not store.enabled:
                return Placement("R3", f"{domain} is in the forest of {ancestor}, whose identity store {store.name} "
                                       "is disabled; its data stays intact in the source", skipped=True)
            return Placement("R9", f"the identity store {store.name} of its forest {ancestor} ({domain} has no "
                                   "store of its own)", store_id=store.id)
        return None

    def add_new(self, root: str, store_id: int, domains: list[str]) -> None:
        self.new_roots[root] = store_id
        self.new_domains[root] = sorted(domains)

    def covering(self, domain: str) -> str | None:
        """The root of the created store whose forest holds ``domain`` (None: no such store)."""
        for root, domains in self.new_domains.items():
            if domain in domains:
                return root
        if domain in self.ldap_roots:
            root = self.ldap_roots[domain]
            return root if root in self.new_roots else None
        under = [root for root in self.new_roots if domain == root or is_dns_parent(root, domain)]
        return max(under, key=len) if under else None

    def place(self, domain: str | None, role: str) -> Placement:
        """A job side (``destination``/``source``) or the server's domain: its store, or none."""
        if domain is None:
            return Placement("R8", f"its {role} names no domain; it is kept with no identity store")
        found = self.existing(domain)
        if found is not None:
            return found
        root = self.covering(domain)
        if root is not None:
            return Placement("R9", f"the identity store created for the forest {root} (its {role} {domain})",
                             store_id=self.new_roots[root])
        return Placement("R8", f"its {role} {domain} has no identity store and none is created for it (stores are "
                               "created for the destinations of jobs); it is kept with no identity store")
