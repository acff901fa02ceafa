"""The upgrade plan: rules R3, R5..R12a as pure functions of what the source holds.

Input: a ``SourceSnapshot`` (read from the source beforehand), the answer file, and ``Facts``
gathered by I/O beforehand (forest roots from rootDSE, credential checks). Output: the ``Plan`` a
person reads and the ordered ``Unit``s the executor writes, each with a stable ledger key (R15).
Nothing here reads a file, a database or the network.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..errors import EngineError
from ..model.installation import (
    IdentityStore,
    JobCollection,
    MessagingType,
    Report,
    Schedule,
    StoreType,
    SyncJob,
    WorkflowApprover,
    normalize_domain,
    parse_connection_string,
)
from ..model.plan import Plan, PlanAction, PlanItem, PlanWarning, Question
from ..model.settings import AnswerFile, Credential, NewStoreAnswer, PfxCredentials
from .forests import infer_forest_roots, is_dns_parent
from .placement import Placement, StoreDirectory

# Well-known approver GUIDs that replace variable approvers in 11 (R12a; docs/decisions.md).
APPROVER_NAMESPACE = uuid.UUID("6c1d3f4e-9a0b-4c2d-8e7f-112233445566")
SCHEDULE_PREFIX = {
    "Synchronize": "SynchronizeJobPortal_",
    "SmartGroupUpdate": "SmartGroup_",
    "Reports": "ReportPortal_",
    "GroupLifeCycle": "GroupLifeCycle_",
    "HistoryRetention": "HistoryRetention_",
}
HARD_CODED_PATH = re.compile(r"(?:[A-Za-z]:\\|\\\\[A-Za-z0-9_.-]+\\)")
LOG_LEVEL_SETTINGS = ("ReplicationServiceLogLevel", "DataServiceLogLevel")


@dataclass
class SourceSnapshot:
    version: str
    product_version: str
    server_domain: str | None
    stores: list[IdentityStore]
    jobs: list[SyncJob]
    collections: list[JobCollection]
    templates: list[SyncJob]
    collection_templates: list[JobCollection]
    job_file_problems: list[tuple[str, EngineError]]
    schedules: list[Schedule]
    reports: list[Report]
    approvers: list[WorkflowApprover]
    settings: dict[str, str]
    smart_group_data_sources: list[str]  # connection strings, in managed-group order
    smart_group_scripts: list[tuple[str, str]]  # (group name, script)
    replication_files: list[str]
    password_exception_folders: list[str]
    portals: list[str]


@dataclass
class Facts:
    ldap_roots: dict[str, str] = field(default_factory=dict)  # domain -> forest root from rootDSE
    credential_problems: dict[str, EngineError] = field(default_factory=dict)  # question id -> error
    credential_thumbprints: dict[str, str] = field(default_factory=dict)  # question id -> thumbprint


@dataclass
class Unit:
    """One unit of work: written in one transaction with its ledger row (R15)."""

    key: str
    module: str
    kind: str
    name: str
    payload: dict[str, Any] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)
    error: EngineError | None = None  # known to fail already at plan time (R16)


@dataclass
class Blueprint:
    plan: Plan
    units: list[Unit]
    target_store_names: dict[int, str]
    facts: Facts


def store_unit_key(store_id: int) -> str:
    return f"Configuration/store:{store_id}"


def new_store_unit_key(root: str) -> str:
    return f"Synchronize/new-store:{root}"


class Planner:
    def __init__(self, snap: SourceSnapshot, answers: AnswerFile, facts: Facts, modules: list[str],
                 source_version: str, target_version: str, inventory: Any) -> None:
        self.snap = snap
        self.answers = answers
        self.facts = facts
        self.modules = modules
        self.plan = Plan(source_version=source_version, target_version=target_version, modules=modules,
                         inventory=inventory)
        self.units: list[Unit] = []
        self.asked: set[str] = set()
        # target store id -> (unit key that creates it, display name)
        self.target_stores: dict[int, tuple[str, str]] = {}
        self.ad_target_stores: set[int] = set()  # target stores of type Active Directory (R12a)
        self.job_store: dict[str, int | None] = {}  # job id -> target store id (None: none, or skipped)
        self.job_skipped: dict[str, str] = {}  # job id -> the rule that skipped it (R3, R12)
        self.new_store_by_root: dict[str, int] = {}
        self.directory = StoreDirectory(snap.stores, facts.ldap_roots)
        self.failing_stores: set[int] = set()  # stores known at plan time to fail (R16)
        self.job_o365: dict[str, Any] = {}  # job id -> its Office 365 credentials answer (R7)
        self.reports_domain = normalize_domain(snap.server_domain)  # R10: the reports' domain

    # --- helpers -----------------------------------------------------------------------------------
    def item(self, module: str, action: PlanAction, object_type: str, object_id: str, name: str, reason: str,
             target: str | None = None, rule: str | None = None) -> None:
        self.plan.items.append(PlanItem(module=module, action=action, object_type=object_type,
                                        object_id=str(object_id), name=name, reason=reason, target=target,
                                        rule=rule))

    def warn(self, module: str, message: str, object_name: str | None = None, rule: str | None = "R12") -> None:
        self.plan.warnings.append(PlanWarning(module=module, message=message, object_name=object_name, rule=rule))

    def unit(self, module: str, kind: str, key: str, title: str, **payload: Any) -> Unit:
        requires = payload.pop("requires", [])
        error = payload.pop("error", None)
        u = Unit(key=f"{module}/{key}", module=module, kind=kind, name=title, payload=payload,
                 requires=requires, error=error)
        self.units.append(u)
        return u

    def ask(self, qid: str, module: str, prompt: str, object_name: str, answer_kind: str, rule: str,
            suggested: Any = None, choices: list[dict[str, Any]] | None = None) -> Any:
        """Register a question; return its answer (or None while it is open)."""
        self.asked.add(qid)
        raw = self.answers.answers.get(qid)
        answer, problem = (None, None) if raw is None else self._parse_answer(qid, answer_kind, raw, choices)
        if problem is None and answer is not None:
            problem = self.facts.credential_problems.get(qid)
        question = Question(id=qid, module=module, prompt=prompt, object_name=object_name, answer_kind=answer_kind,
                            suggested=suggested, choices=choices, answered=answer is not None and problem is None,
                            rule=rule)
        if problem is not None:
            question.problem = {"errorId": problem.error_id, "message": problem.message}
        self.plan.questions.append(question)
        return answer if problem is None else None

    def _parse_answer(self, qid: str, kind: str, raw: Any, choices: list[dict[str, Any]] | None
                      ) -> tuple[Any, EngineError | None]:
        def invalid(what: str) -> tuple[None, EngineError]:
            return None, EngineError("AnswerInvalid", f"The answer to question {qid} is invalid: {what}.",
                                     target=f"answers.{qid}",
                                     recommended_action="See docs/answer-file.md for the answer's shape.")

        try:
            if kind == "storeId":
                if not (isinstance(raw, int) and not isinstance(raw, bool)) and not (
                        isinstance(raw, str) and raw.strip().isdigit()):
                    return invalid(f"expected the id (a number) of one of the stores "
                                   f"{sorted(c['storeId'] for c in choices or [])}")
                store_id = int(raw)
                if choices is not None and store_id not in {c["storeId"] for c in choices}:
                    return invalid(f"store {store_id} is not one of the choices "
                                   f"{sorted(c['storeId'] for c in choices)}")
                return store_id, None
            if kind == "pfxCredentials":
                return PfxCredentials.model_validate(raw), None
            if kind == "serviceAccount":
                if not isinstance(raw, dict):
                    return invalid("expected an object with userName and password (or passwordFromJob)")
                from_job = raw.get("passwordFromJob")
                cred = Credential.model_validate({k: v for k, v in raw.items() if k != "passwordFromJob"})
                if cred.password is None and from_job is None and not cred.user_name.endswith("$"):
                    return invalid("a password (or passwordFromJob) is needed unless the account is a gMSA "
                                   "(its name ends in $)")
                return {"credential": cred, "passwordFromJob": from_job}, None
            if kind == "reportsStore":
                if isinstance(raw, int) or (isinstance(raw, str) and raw.isdigit()):
                    store_id = int(raw)
                    if choices is not None and store_id not in {c["storeId"] for c in choices}:
                        return invalid(f"store {store_id} is not an Active Directory store for "
                                       f"{self.reports_domain or 'the server domain'}")
                    return store_id, None
                if isinstance(raw, dict) and raw.get("type", "ActiveDirectory") != "ActiveDirectory":
                    return invalid(f"reports can be bound only to an Active Directory store, not {raw.get('type')}")
                new_store = NewStoreAnswer.model_validate(raw)
                domain = normalize_domain(new_store.domain) or ""
                server = self.reports_domain
                if not domain:
                    return invalid(f"the store needs a domain: {server or 'the server domain'} or its forest root")
                if server and domain != server and not is_dns_parent(domain, server):
                    return invalid(f"the store would be for {domain}, but the reports are of {server} (give {server} "
                                   "or its forest root)")
                return new_store, None
        except (ValueError, TypeError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if isinstance(exc, ValidationError):
                msg = "; ".join((".".join(map(str, e["loc"])) + ": " if e["loc"] else "") + e["msg"]
                                for e in exc.errors())
            return invalid(msg)
        return invalid(f"unknown answer kind {kind}")

    # --- the plan ----------------------------------------------------------------------------------
    def build(self) -> Blueprint:
        self.configuration()
        if "Synchronize" in self.modules or "Schedules" in self.modules or "Reports" in self.modules:
            self.synchronize(record="Synchronize" in self.modules)
        if "Reports" in self.modules:
            self.reports()
        if "Schedules" in self.modules:
            self.schedules()
        if "History" in self.modules:
            self.history()
        for qid in sorted(set(self.answers.answers) - self.asked):
            self.warn("Configuration", f"The answer file answers {qid}, which is no question of this plan "
                                       "(a typo, or an object that is gone).", qid, rule="R12")
        names = {sid: name for sid, (_key, name) in self.target_stores.items()}
        return Blueprint(plan=self.plan, units=self.units, target_store_names=names, facts=self.facts)

    def _not_upgraded(self, store: IdentityStore) -> tuple[str, str]:
        """Why a store's objects are skipped, and the rule: disabled (R3) or Google Workspace (R12)."""
        if not store.enabled:
            return "R3", f"its identity store {store.name} is disabled; its data stays intact in the source"
        return "R12", f"its identity store {store.name} is not upgraded (Google Workspace)"

    # Configuration: stores, messaging, settings, approvers, data sources, files (R3, R5, R6, R12a)
    def configuration(self) -> None:
        run = "Configuration" in self.modules
        for store in self.snap.stores:
            domain = normalize_domain(store.domain) or store.domain
            if not store.enabled or store.type == StoreType.GOOGLE_WORKSPACE:
                rule, why = self._not_upgraded(store)
                self.item("Configuration", "skip", "IdentityStore", str(store.id), store.name,
                          "the identity store is disabled: disabled stores are not upgraded; its data stays "
                          "intact in the source" if rule == "R3" else
                          "Google Workspace stores are not upgraded by the vendor", rule=rule)
                if rule == "R12":
                    self.warn("Configuration", f"Google Workspace identity store {store.name!r} is not upgraded; "
                                               "create it again in 11.", store.name)
                if store.messaging is not None:
                    self.item("Configuration", "skip", "MessagingProvider", str(store.messaging.id),
                              f"{store.messaging.type.value} of {store.name}", f"skipped with its store: {why}",
                              rule=rule)
                continue
            self.target_stores[store.id] = (store_unit_key(store.id), store.name)
            if store.type == StoreType.ACTIVE_DIRECTORY:
                self.ad_target_stores.add(store.id)
            error = None
            if store.connection_string:
                try:
                    parse_connection_string(store.connection_string)
                except ValueError as exc:
                    error = EngineError(
                        "ConnectionStringInvalid",
                        f"The connection string of {store.label} cannot be parsed ({exc}).",
                        target=store.label,
                        recommended_action="Correct the store's connection string in GroupID 10, then run again.")
            if error is not None:
                self.failing_stores.add(store.id)
            creds = None
            if store.type == StoreType.ENTRA_ID:
                qid = f"entra:{store.id}:credentials"
                creds = self.ask(qid, "Configuration", f"Client secret, PFX certificate and its password for "
                                 f"Microsoft Entra ID store {store.name!r}", store.name, "pfxCredentials", "R5")
            if run:
                self.item("Configuration", "fail" if error else "convert", "IdentityStore", str(store.id),
                          store.name, error.message if error else
                          f"{store.type.value} store for {domain}, converted to the 11 model",
                          rule="R16" if error else "R2")
                self.unit("Configuration", "store", f"store:{store.id}", store.name, store=store,
                          entra=creds, entraQuestion=f"entra:{store.id}:credentials", error=error)
            if store.messaging is not None and store.messaging.type != MessagingType.NONE:
                self._messaging(store, run)
        if not run:
            return
        for name in LOG_LEVEL_SETTINGS:
            old = self.snap.settings.get(name)
            self.item("Configuration", "transform", "Setting", name, name,
                      f"log level {old or '(unset)'} is reset to Error, as the vendor's upgrade does", rule="R12a")
            self.unit("Configuration", "setting", f"setting:{name}", name, name=name, value="Error")
        self._approvers()
        self._data_sources()
        for rel in self.snap.replication_files:
            self.item("Configuration", "copy", "ReplicationAttributes", rel, rel, "replication-attribute file",
                      rule="R2")
            self.unit("Configuration", "file", f"replication-file:{rel}", rel, area="replication", relative=rel)
        for rel in self.snap.password_exception_folders:
            self.item("Configuration", "copy", "PasswordExceptionList", rel, rel, "password exception list",
                      rule="R2")
            self.unit("Configuration", "folder", f"password-exceptions:{rel}", rel, area="passwordExceptions",
                      relative=rel)
        for portal in self.snap.portals:
            self.warn("Configuration", f"Portal {portal!r} is not upgraded beyond its advanced and design settings; "
                                       "toolbars, navigation bars, search forms and branding must be redone in 11.",
                      portal)
        for group_name, script in self.snap.smart_group_scripts:
            if HARD_CODED_PATH.search(script):
                self.warn("Configuration", f"The script of Smart Group {group_name!r} is copied unchanged and holds a "
                                           "hard-coded path; on a different server it may break.", group_name,
                          rule="R12a")
        self.warn("Configuration", "Pending notifications in the email queue are not upgraded.")
        self.warn("Configuration", "SAML configurations are not upgraded; configure them again in 11.")

    def _messaging(self, store: IdentityStore, run: bool) -> None:
        msg = store.messaging
        assert msg is not None
        creds = None
        if msg.type == MessagingType.OFFICE_365:
            creds = self.ask(f"o365:{store.id}:credentials", "Configuration",
                             f"Client secret, PFX certificate and its password for the Office 365 messaging "
                             f"provider of {store.label}", store.name, "pfxCredentials", "R6")
        if run:
            self.item("Configuration", "convert", "MessagingProvider", str(msg.id), f"{msg.type.value} of {store.name}",
                      f"messaging provider converted with its identity store {store.name}", target=store.name,
                      rule="R6")
            self.unit("Configuration", "messaging", f"messaging:{msg.id}", f"{msg.type.value} of {store.name}",
                      provider=msg, storeId=store.id, o365=creds, requires=[store_unit_key(store.id)])

    def _approvers(self) -> None:
        sr = re.search(r"SR(\d+)", self.snap.product_version or "")
        sr1_or_later = self.snap.version == "10.0" and sr is not None and int(sr.group(1)) >= 1
        stores = {s.id: s for s in self.snap.stores}
        for appr in self.snap.approvers:
            if appr.store_id not in self.target_stores:
                store = stores.get(appr.store_id)
                rule, why = self._not_upgraded(store) if store is not None else (
                    "R16", f"its identity store {appr.store_id} does not exist in the source")
                self.item("Configuration", "skip", "WorkflowApprover", str(appr.id), appr.workflow_name,
                          f"skipped with its store: {why}", rule=rule)
                continue
            if appr.approver_kind == "Variable" and sr1_or_later:
                fixed = str(uuid.uuid5(APPROVER_NAMESPACE, appr.approver))
                self.item("Configuration", "transform", "WorkflowApprover", str(appr.id), appr.workflow_name,
                          f"variable approver {appr.approver} becomes the fixed GUID {fixed}", rule="R12a")
                self.unit("Configuration", "approver", f"approver:{appr.id}", appr.workflow_name, approver=appr,
                          fixed=fixed, requires=[store_unit_key(appr.store_id)])
            else:
                self.item("Configuration", "copy", "WorkflowApprover", str(appr.id), appr.workflow_name,
                          f"{appr.approver_kind.lower()} approver kept as it is", rule="R12a")
                self.unit("Configuration", "approver", f"approver:{appr.id}", appr.workflow_name, approver=appr,
                          fixed=appr.approver if appr.approver_kind == "Fixed" else None,
                          requires=[store_unit_key(appr.store_id)])

    def _data_sources(self) -> None:
        """One data source per distinct connection string: Smart Groups first, then jobs (R12a)."""
        seen: dict[str, str] = {}
        ordered: list[tuple[str, str]] = [(c, "Smart Group") for c in self.snap.smart_group_data_sources]
        for job in self._all_live_jobs():
            for side in (job.source, job.destination):
                if not side.is_directory:
                    ordered.append((_connection_text(side.provider, side.connection), f"job {job.name!r}"))
        for text, first_user in ordered:
            identity = data_source_identity(text)
            if identity in seen:
                continue
            ds_id = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:16]
            seen[identity] = ds_id
            provider = parse_connection_string(text).get("Provider", "DataSource")
            name = f"{provider} {len(seen)}"
            self.item("Configuration", "create", "DataSource", ds_id, name,
                      f"one data source per distinct connection string (first used by {first_user})", rule="R12a")
            self.unit("Configuration", "datasource", f"datasource:{ds_id}", name, dataSourceId=ds_id,
                      connectionString=text, provider=provider)
            if "dsn=" in text.lower():
                self.warn("Configuration", f"Data source {name!r} uses an ODBC system DSN; on a different server "
                                           "it must be created there, or the jobs and Smart Groups using it break.",
                          name)

    def _all_live_jobs(self) -> list[SyncJob]:
        jobs = list(self.snap.jobs)
        for coll in self.snap.collections:
            jobs.extend(coll.jobs)
        return jobs

    # Synchronize: jobs to stores, new stores per forest (R3, R7, R8, R9)
    def synchronize(self, record: bool) -> None:
        self.directory = StoreDirectory(self.snap.stores, self.facts.ldap_roots)
        jobs = self._all_live_jobs()
        needing: dict[str, list[SyncJob]] = {}  # destination domains with no store of their own or of their forest
        for job in jobs:
            domain = job.destination_domain
            if domain is None or self.directory.existing(domain) is not None:
                continue
            needing.setdefault(domain, []).append(job)
        roots = infer_forest_roots(needing, self.facts.ldap_roots)
        forests: dict[str, list[str]] = {}
        for domain, (root, _how) in roots.items():
            forests.setdefault(root, []).append(domain)
        next_id = max([s.id for s in self.snap.stores] + [0]) + 1
        for root in sorted(forests):
            store_id = next_id
            next_id += 1
            self.new_store_by_root[root] = store_id
            domains = sorted(forests[root])
            self.directory.add_new(root, store_id, domains)
            how = {roots[d][1] for d in domains}
            kind = "forest" if len(domains) > 1 or "ldap" in how or "dns" in how else "domain"
            name = f"{root}"
            self.target_stores[store_id] = (new_store_unit_key(root), name)
            self.ad_target_stores.add(store_id)
            forest_jobs = sorted((j for d in domains for j in needing[d]), key=lambda j: (j.name.lower(), j.id))
            first = forest_jobs[0]
            suggested = {"userName": first.destination.connection.get("UserName"), "passwordFromJob": first.id}
            answer = self.ask(f"forest:{root}:serviceAccount", "Synchronize",
                              f"Service account (read access on the whole {kind} {root}) for the identity store "
                              f"created for {', '.join(domains)}", root, "serviceAccount", "R9", suggested=suggested)
            if record:
                reason = (f"one identity store per {kind}: {', '.join(domains)} have no store"
                          f" (forest root from {'LDAP rootDSE' if 'ldap' in how else 'DNS names'})"
                          if kind == "forest" else f"{root}: its forest cannot be determined, one store for the domain")
                self.item("Synchronize", "create", "IdentityStore", str(store_id), name, reason, rule="R9")
                self.unit("Synchronize", "new-store", f"new-store:{root}", name, storeId=store_id, root=root,
                          domains=domains, serviceAccount=answer, jobsById={j.id: j for j in forest_jobs})
        for job in jobs + self.snap.templates + [j for c in self.snap.collection_templates for j in c.jobs]:
            self._place_job(job, record)
        for coll in self.snap.collections + self.snap.collection_templates:
            self._place_collection(coll, record)
        for rel, err in self.snap.job_file_problems:
            if record:
                self.item("Synchronize", "fail", "JobFile", rel, rel, err.message, rule="R16")
                self.unit("Synchronize", "job-file", f"job-file:{rel}", rel, error=err)

    def job_placement(self, job: SyncJob) -> Placement:
        """A job goes with its directory destination; a job that only reads a directory goes to that
        directory's store when there is one (none is created for it); a job with no directory side
        has no store (R8, R9, R3)."""
        if job.destination.is_directory:
            return self.directory.place(job.destination_domain, "destination")
        if job.source.is_directory:
            return self.directory.place(normalize_domain(job.source.domain), "source")
        return Placement("R8", "neither side is a directory; it is kept with no identity store")

    def _place_job(self, job: SyncJob, record: bool) -> None:
        placement = self.job_placement(job)
        store_id = placement.store_id
        self.job_store[job.id] = store_id
        if placement.skipped:
            self.job_skipped[job.id] = placement.rule
            if record:
                self.item("Synchronize", "skip", "SyncJob", job.id, job.name, placement.reason, rule=placement.rule)
            return
        o365 = None
        if job.messaging is not None and job.messaging.provider == MessagingType.OFFICE_365 and job.kind == "job":
            o365 = self.ask(f"job:{job.id}:o365Credentials", "Synchronize",
                            f"Client secret, PFX certificate and its password for Office 365 messaging of "
                            f"Synchronize job {job.name!r}", job.name, "pfxCredentials", "R7")
            self.job_o365[job.id] = o365
        if job.script and HARD_CODED_PATH.search(job.script):
            self.warn("Synchronize", f"The script of job {job.name!r} is copied unchanged and holds a hard-coded "
                                     "path; on a different server it may break.", job.name, rule="R12a")
        if not record:
            return
        target = self.target_stores[store_id][1] if store_id is not None else None
        reason = placement.reason if store_id is None else f"moves to {placement.reason}"
        self.item("Synchronize", "move", "SyncJob", job.id, job.name, reason, target=target, rule=placement.rule)
        if job.collection_id is None:
            requires = [self.target_stores[store_id][0]] if store_id is not None else []
            self.unit("Synchronize", "job", f"job:{job.id}", job.name, job=job, storeId=store_id, o365=o365,
                      o365Question=f"job:{job.id}:o365Credentials", requires=requires)

    def _place_collection(self, coll: JobCollection, record: bool) -> None:
        live = [j for j in coll.jobs if j.id not in self.job_skipped]
        stores = {s for j in live if (s := self.job_store.get(j.id)) is not None}
        store_id = next(iter(stores)) if len(stores) == 1 else None
        if not record:
            return
        count = f"a collection of {len(coll.jobs)} job{'' if len(coll.jobs) == 1 else 's'}"
        if coll.jobs and not live:
            rules = {self.job_skipped[j.id] for j in coll.jobs}
            rule = "R12" if rules == {"R12"} else "R3"
            self.item("Synchronize", "skip", "JobCollection", coll.id, coll.name,
                      f"{count}, every one skipped (" + ("its identity store is not upgraded" if rule == "R12"
                                                         else "a disabled identity store") + ")", rule=rule)
            return
        target = self.target_stores[store_id][1] if store_id is not None else None
        if store_id is not None:
            reason = f"{count}, placed with its jobs in the identity store {target}"
        elif stores:
            reason = f"{count} in {len(stores)} identity stores: the collection belongs to none (each job keeps its own)"
        else:
            reason = f"{count}, none of them in an identity store"
        if len(live) < len(coll.jobs):
            reason += f"; {len(coll.jobs) - len(live)} of its jobs are skipped (listed with the jobs)"
        self.item("Synchronize", "move", "JobCollection", coll.id, coll.name, reason, target=target, rule="R8")
        requires = [self.target_stores[s][0] for s in sorted(stores)]
        # the skipped jobs stay in the source only: the collection is written with its other jobs
        written = coll if len(live) == len(coll.jobs) else coll.model_copy(update={"jobs": live})
        self.unit("Synchronize", "collection", f"collection:{coll.id}", coll.name, collection=written,
                  storeId=store_id, jobStores={j.id: self.job_store.get(j.id) for j in live}, requires=requires,
                  o365={j.id: self.job_o365.get(j.id) for j in live})

    # Schedules (R3, R11, R12a)
    def schedules(self) -> None:
        collections = {c.id: c for c in self.snap.collections}
        jobs = {j.id: j for j in self.snap.jobs}
        stores = {s.id: s for s in self.snap.stores}
        for sched in self.snap.schedules:
            if sched.job_type == "Synchronize":
                self._synchronize_schedule(sched, jobs, collections)
                continue
            if sched.store_id is not None and sched.store_id not in self.target_stores:
                store = stores.get(sched.store_id)
                rule, why = self._not_upgraded(store) if store is not None else (
                    "R16", f"its identity store {sched.store_id} does not exist in the source")
                self.item("Schedules", "skip", "Schedule", str(sched.id), sched.name, why, rule=rule)
                continue
            if sched.job_type == "Insights":
                target = self.target_stores[sched.store_id][1] if sched.store_id is not None else None
                self.item("Schedules", "transform", "Schedule", str(sched.id), sched.name,
                          "the Insights schedule becomes GroupID Entitlement"
                          + (f", in the identity store {target}" if target else ""), target=target, rule="R12a")
                self._schedule_unit(sched, sched.store_id, "renamed", "GroupID Entitlement", job_type="Entitlement",
                                    record=False)
                continue
            prefix = SCHEDULE_PREFIX.get(sched.job_type, "")
            name = self.target_stores[sched.store_id][1] if sched.store_id is not None else None
            self._schedule_unit(sched, sched.store_id, f"stays with its identity store {name}" if name
                                else "bound to no identity store", prefix + sched.name)
        # The 11 upgrade creates both Entitlement schedules; this product creates them for every
        # Active Directory store of the target, upgraded or created (docs/decisions.md).
        for store_id in sorted(self.ad_target_stores):
            if self.target_stores[store_id][0].startswith("Reports/"):
                continue  # created with the reports store, in the Reports module
            self._entitlement_schedules("Schedules", store_id)

    def _entitlement_schedules(self, module: str, store_id: int) -> None:
        store_name = self.target_stores[store_id][1]
        for name in ("Entitlement Scope", "Entitlement Temporary Permissions"):
            if store_id in self.failing_stores:
                self.item(module, "skip", "Schedule", f"{name}:{store_id}", name,
                          f"its identity store {store_name} fails to upgrade (see Configuration)",
                          target=store_name, rule="R16")
                continue
            self.item(module, "create", "Schedule", f"{name}:{store_id}", name,
                      f"created automatically by the 11 upgrade for the identity store {store_name}",
                      target=store_name, rule="R12a")
            self.unit(module, "new-schedule", f"new-schedule:{name}:{store_id}", name, storeId=store_id,
                      name=name, requires=[self.target_stores[store_id][0]])

    def _synchronize_schedule(self, sched: Schedule, jobs: dict[str, SyncJob],
                              collections: dict[str, JobCollection]) -> None:
        members = [jobs[j] for j in sched.job_ids if j in jobs]
        for cid in sched.collection_ids:
            if cid in collections:
                members.extend(collections[cid].jobs)
        live = [j for j in members if j.id not in self.job_skipped]
        if members and not live:
            rules = {self.job_skipped[j.id] for j in members}
            rule = "R12" if rules == {"R12"} else "R3"
            self.item("Schedules", "skip", "Schedule", str(sched.id), sched.name,
                      "every job on it is skipped (" + ("its identity store is not upgraded" if rule == "R12"
                                                        else "a disabled identity store") + ")", rule=rule)
            return
        dir_stores = sorted({s for j in live if j.destination.is_directory
                             and (s := self.job_store.get(j.id)) is not None})
        new_name = SCHEDULE_PREFIX["Synchronize"] + sched.name
        if len(dir_stores) == 1:
            store_id = dir_stores[0]
            reason = f"the identity store {self.target_stores[store_id][1]} of its directory destinations"
            self._schedule_unit(sched, store_id, reason, new_name)
            return
        if dir_stores:
            choices = [{"storeId": s, "name": self.target_stores[s][1]} for s in dir_stores]
            why = "its jobs have directory destinations in different identity stores"
        else:
            # the stores of Configuration and Synchronize (Schedules needs both); not a store the
            # Reports module creates, which a run without Reports does not know
            choices = [{"storeId": s, "name": n} for s, (key, n) in sorted(self.target_stores.items())
                       if not key.startswith("Reports/")]
            why = "its jobs have only file-based destinations" if live else "it runs no job of this installation"
        qid = f"schedule:{sched.id}:store"
        if not choices:
            # no identity store in the target at all: nothing to choose from (docs/decisions.md)
            self._schedule_unit(sched, None, f"the target has no identity store to choose ({why}); it is kept with "
                                             "none", new_name)
            return
        store_id = self.ask(qid, "Schedules", f"Identity store for schedule {sched.name!r} ({why})",
                            sched.name, "storeId", "R11", choices=choices)
        reason = (f"the identity store {self.target_stores[store_id][1]}, chosen in the answer file ({why})"
                  if store_id is not None else f"waits for the answer to {qid} ({why})")
        self._schedule_unit(sched, store_id, reason, new_name)

    def _schedule_unit(self, sched: Schedule, store_id: int | None, reason: str, new_name: str, *,
                       job_type: str | None = None, record: bool = True) -> None:
        target = self.target_stores[store_id][1] if store_id is not None else None
        if record:
            self.item("Schedules", "move", "Schedule", str(sched.id), sched.name, reason + f"; named {new_name}",
                      target=target, rule="R11")
        requires = [self.target_stores[store_id][0]] if store_id is not None else []
        self.unit("Schedules", "schedule", f"schedule:{sched.id}", sched.name, schedule=sched, storeId=store_id,
                  newName=new_name, jobType=job_type or sched.job_type, requires=requires,
                  jobs=[j for j in sched.job_ids if j not in self.job_skipped],
                  collections=list(sched.collection_ids))

    # History (R3, R14)
    def history(self) -> None:
        rows = {s.id: s.history_rows for s in self.plan.inventory.stores}
        for store in self.snap.stores:
            count = rows.get(store.id, 0)
            if store.id in self.target_stores and store.id not in self.failing_stores:
                self.item("History", "move", "History", str(store.id), f"history of {store.name}",
                          f"{count} rows into the 11 format, the target database and Elasticsearch (or its outbox)"
                          f" of the identity store {store.name}", target=store.name, rule="R14")
                self.unit("History", "history", f"store:{store.id}", f"history of {store.name}", storeId=store.id,
                          storeName=store.name, rows=count, requires=[store_unit_key(store.id)])
            elif store.id in self.failing_stores:
                self.item("History", "skip", "History", str(store.id), f"history of {store.name}",
                          f"{count} rows skipped: its identity store fails to upgrade (see Configuration)", rule="R16")
            else:
                rule, why = self._not_upgraded(store)
                self.item("History", "skip", "History", str(store.id), f"history of {store.name}",
                          f"{count} rows skipped: {why}", rule=rule)

    # Reports (R10)
    def reports(self) -> None:
        if not self.snap.reports:
            return
        domain = self.reports_domain
        store_id: int | None = None
        why = ""
        placement = self.directory.existing(domain) if domain else None
        if placement is not None and placement.skipped and placement.rule == "R3":
            for rep in self.snap.reports:
                self.item("Reports", "skip", "Report", str(rep.id), rep.name,
                          f"the reports server's domain {placement.reason}", rule="R3")
            return
        if placement is not None and placement.store_id is not None:
            if placement.store_id in self.ad_target_stores:
                store_id, why = placement.store_id, placement.reason
        elif placement is None and domain is not None:
            root = self.directory.covering(domain)
            if root is not None:
                store_id = self.new_store_by_root[root]
                why = f"the identity store created for the forest {root}"
        if store_id is None:
            answer = self.ask("reports:store", "Reports",
                              f"Active Directory identity store to create for the reports of "
                              f"{domain or 'the server domain'} (none exists for it)", domain or "",
                              "reportsStore", "R10", choices=[])
            if isinstance(answer, NewStoreAnswer):
                store_id = max(list(self.target_stores) + [s.id for s in self.snap.stores] + [0]) + 1
                root = normalize_domain(answer.domain) or answer.domain
                name = answer.name or root
                self.target_stores[store_id] = (f"Reports/new-store:{root}", name)
                self.ad_target_stores.add(store_id)
                why = f"the identity store {name}, created for the reports as the answer file says"
                self.item("Reports", "create", "IdentityStore", str(store_id), name,
                          f"an Active Directory store for {root}, created for the reports", rule="R10")
                self.unit("Reports", "new-store", f"new-store:{root}", name, storeId=store_id,
                          root=root, domains=[root], serviceAccount={"credential": answer.service_account,
                                                                     "passwordFromJob": None}, jobsById={})
                # its Entitlement schedules come with it, whichever run creates it (R2: any order)
                self._entitlement_schedules("Reports", store_id)
        for rep in self.snap.reports:
            target = self.target_stores[store_id][1] if store_id is not None else None
            self.item("Reports", "move", "Report", str(rep.id), rep.name, f"bound to {why}" if store_id else
                      "waits for the reports:store answer", target=target, rule="R10")
            requires = [self.target_stores[store_id][0]] if store_id is not None else []
            self.unit("Reports", "report", f"report:{rep.id}", rep.name, report=rep, storeId=store_id,
                      requires=requires)


def _connection_text(provider: str, connection: dict[str, str]) -> str:
    parts = {"Provider": provider, **{k: v for k, v in connection.items() if k != "Provider"}}
    return ";".join(f'{k}="{v}"' if ";" in v else f"{k}={v}" for k, v in parts.items())


def data_source_identity(text: str) -> str:
    """Two connection strings name the same data source when their keys (any case, any order) and
    values agree; a password does not make a second data source."""
    parsed = parse_connection_string(text)
    return ";".join(f"{k.lower()}={v}" for k, v in sorted(parsed.items(), key=lambda kv: kv[0].lower())
                    if k.lower() not in ("password", "pwd"))


def build_plan(snap: SourceSnapshot, answers: AnswerFile, facts: Facts, modules: list[str], source_version: str,
               target_version: str, inventory: Any) -> Blueprint:
    return Planner(snap, answers, facts, modules, source_version, target_version, inventory).build()
