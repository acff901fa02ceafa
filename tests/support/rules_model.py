"""The rules R3, R8..R12a written once more, from shared/spec/rules.md and docs/decisions.md, as
a reference the generated installations are checked against. Deliberately plain: one function per
decision, no shared code with ``planning/`` (a bug copied into both would hide itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .installations import Estate, JobSpec, Side, StoreSpec


def bare(domain: str | None) -> str | None:
    return None if domain is None else (domain.strip().rstrip(".").lower() or None)


def dns_ancestors(domain: str) -> list[str]:
    """Nearest first: ``x.a.corp.com`` -> ``a.corp.com``, ``corp.com``, ``com``."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))]


def under(child: str, parent: str) -> bool:
    return child != parent and child.endswith("." + parent)


@dataclass(frozen=True)
class Placement:
    kind: str  # store | new | none | skip
    rule: str
    store: int | None = None  # source store id (kind store)
    root: str | None = None  # new store's root (kind new)


@dataclass
class Expected:
    placements: dict[str, Placement] = field(default_factory=dict)  # job id -> placement
    new_stores: dict[str, list[str]] = field(default_factory=dict)  # root -> domains
    questions: set[str] = field(default_factory=set)
    reports: Placement | None = None
    schedules: dict[int, Placement] = field(default_factory=dict)  # kind "question" when asked


class Model:
    def __init__(self, estate: Estate, ldap_roots: dict[str, str] | None = None) -> None:
        self.estate = estate
        self.ldap = dict(ldap_roots or {})
        self.by_domain: dict[str, StoreSpec] = {}
        for store in estate.stores:
            self.by_domain[bare(store.domain) or ""] = store

    def upgraded(self, store: StoreSpec) -> bool:
        return store.enabled and store.type != "GoogleWorkspace"

    def existing(self, domain: str) -> Placement | None:
        """R8 (its own store), R3/R12 (its own store is not upgraded), R9 (an AD store of a DNS
        ancestor in the same forest: the nearest decides, disabled means skipped)."""
        own = self.by_domain.get(domain)
        if own is not None:
            if not own.enabled:
                return Placement("skip", "R3")
            if own.type == "GoogleWorkspace":
                return Placement("skip", "R12")
            return Placement("store", "R8", store=own.id)
        root = self.ldap.get(domain)
        for ancestor in dns_ancestors(domain):
            if root is not None and ancestor != root and not under(ancestor, root):
                break  # above the forest root rootDSE named: another forest
            store = self.by_domain.get(ancestor)
            if store is None or store.type != "ActiveDirectory":
                continue
            return Placement("store", "R9", store=store.id) if store.enabled else Placement("skip", "R3")
        return None

    def roots(self, needing: list[str]) -> dict[str, str]:
        names = sorted(set(needing))
        out = {}
        for domain in names:
            if domain in self.ldap:
                out[domain] = self.ldap[domain]
                continue
            parents = [p for p in names if under(domain, p)]
            if parents:
                top = min(parents, key=lambda p: p.count("."))
                out[domain] = self.ldap.get(top, top)
            else:
                out[domain] = domain
        return out

    def covering(self, domain: str, new_stores: dict[str, list[str]]) -> str | None:
        """The created store of ``domain``'s forest: the one made for it, else the one rootDSE names,
        else the nearest DNS ancestor that is a created store's root."""
        for root, domains in new_stores.items():
            if domain in domains:
                return root
        if domain in self.ldap:
            return self.ldap[domain] if self.ldap[domain] in new_stores else None
        for candidate in [domain, *dns_ancestors(domain)]:
            if candidate in new_stores:
                return candidate
        return None

    def expected(self) -> Expected:
        e = self.estate
        exp = Expected()
        real = e.all_jobs()
        needing = []
        for job in real:
            d = bare(job.destination.domain) if job.destination.is_directory else None
            if d is not None and self.existing(d) is None:
                needing.append(d)
        for domain, root in self.roots(needing).items():
            exp.new_stores.setdefault(root, []).append(domain)
        for job in real + e.templates + [j for c in e.collection_templates for j in c.jobs]:
            exp.placements[job.id] = self.place(job, exp.new_stores)
        for store in e.stores:
            if store.enabled and store.type == "MicrosoftAzure":
                exp.questions.add(f"entra:{store.id}:credentials")
            if self.upgraded(store) and store.messaging == "Office365":
                exp.questions.add(f"o365:{store.id}:credentials")
        for job in real:
            if job.office365 and exp.placements[job.id].kind != "skip":
                exp.questions.add(f"job:{job.id}:o365Credentials")
        for root in exp.new_stores:
            exp.questions.add(f"forest:{root}:serviceAccount")
        if e.reports:
            exp.reports = self.reports_placement(exp.new_stores)
            if exp.reports.kind == "question":
                exp.questions.add("reports:store")
        for sched in e.schedules:
            exp.schedules[sched.id] = self.schedule(sched.job_type, sched.store_id, sched.targets, exp)
            if exp.schedules[sched.id].kind == "question":
                exp.questions.add(f"schedule:{sched.id}:store")
        return exp

    def place(self, job: JobSpec, new_stores: dict[str, list[str]]) -> Placement:
        side: Side | None = job.destination if job.destination.is_directory else (
            job.source if job.source.is_directory else None)
        if side is None:
            return Placement("none", "R8")
        domain = bare(side.domain) or ""
        found = self.existing(domain)
        if found is not None:
            return found
        root = self.covering(domain, new_stores)
        if root is not None:
            return Placement("new", "R9", root=root)
        return Placement("none", "R8")

    def reports_placement(self, new_stores: dict[str, list[str]]) -> Placement:
        domain = bare(self.estate.server_domain)
        if domain is None:
            return Placement("question", "R10")
        found = self.existing(domain)
        if found is not None and found.kind == "skip" and found.rule == "R3":
            return Placement("skip", "R3")
        if found is not None and found.kind == "store":
            store = next(s for s in self.estate.stores if s.id == found.store)
            if store.type == "ActiveDirectory":
                return Placement("store", "R10", store=store.id)
            return Placement("question", "R10")
        if found is None:
            root = self.covering(domain, new_stores)
            if root is not None:
                return Placement("new", "R10", root=root)
        return Placement("question", "R10")

    def schedule(self, job_type: str, store_id: int | None, targets: list[tuple[str, str]], exp: Expected
                 ) -> Placement:
        if job_type != "Synchronize":
            store = next(s for s in self.estate.stores if s.id == store_id)
            if not store.enabled:
                return Placement("skip", "R3")
            if store.type == "GoogleWorkspace":
                return Placement("skip", "R12")
            return Placement("store", "R12a" if job_type == "Insights" else "R11", store=store.id)
        jobs = {j.id: j for j in self.estate.jobs}
        colls = {c.id: c for c in self.estate.collections}
        members: list[JobSpec] = []
        for kind, tid in targets:
            if kind == "Job" and tid in jobs:
                members.append(jobs[tid])
            elif kind == "JobCollection" and tid in colls:
                members.extend(colls[tid].jobs)
        placed = [exp.placements[m.id] for m in members]
        if members and all(p.kind == "skip" for p in placed):
            return Placement("skip", "R12" if all(p.rule == "R12" for p in placed) else "R3")
        stores = {(p.kind, p.store, p.root) for m, p in zip(members, placed, strict=True)
                  if p.kind in ("store", "new") and m.destination.is_directory}
        if len(stores) == 1:
            kind, store, root = next(iter(stores))
            return Placement(kind, "R11", store=store, root=root)
        if not stores and not exp.new_stores and not any(self.upgraded(s) for s in self.estate.stores):
            return Placement("none", "R11")  # no store in the target to choose from
        return Placement("question", "R11")
