"""``upgrade.run``: carry out the Plan, unit by unit, through the ledger (R12, R15, R16, R19)."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from typing import Any, Literal

from pydantic import Field

from ..api import MethodSpec
from ..crypto import PREFIX as ENC_PREFIX
from ..crypto import SecretBox
from ..errors import Cancelled, EngineError
from ..faults import fault_point
from ..model.base import Result, WireModel
from ..model.installation import Provider, SyncJob, parse_connection_string
from ..model.settings import AnswerFile
from ..planning.planner import Blueprint, Unit, data_source_identity
from ..reporting import Reporter
from ..run_log import RunLog
from ..safety.paths import source_guard
from ..source.installation import SourceInstallation
from ..storage.sql import Table
from ..target import schema as t
from ..target.writer import TargetInstallation, as_json, copy_file, copy_folder, pfx_columns
from .plan_method import PlanParams, compute_blueprint, load_settings

# Modules this version of the engine can run (History and Groups land with their issues).
# The target cannot be written at all: the run stops (its ledger is consistent) and resumes next time.
RUN_STOPPING_ERRORS = frozenset({"TargetLocked", "TargetWriteFailed"})
RUNNABLE_MODULES = ("Configuration", "Synchronize", "Schedules", "Reports", "History", "Groups")
ModuleStatus = Literal["Succeeded", "PartiallySucceeded", "Failed", "Skipped"]


class RunParams(PlanParams):
    what_if: bool = Field(False, description="Do everything but write; stream what would be done as records.")


class UnitFailure(WireModel):
    unit: str
    name: str
    error: dict[str, Any]


class ModuleResult(WireModel):
    module: str
    status: ModuleStatus
    done: int = 0
    already_done: int = 0
    failed: int = 0
    failures: list[UnitFailure] = Field(default_factory=list)
    reason: str | None = None
    notes: list[str] = Field(default_factory=list, description="What an admin should know of the result.")


class RunResult(Result):
    run_id: str
    status: ModuleStatus
    what_if: bool = False
    modules: list[ModuleResult]
    log_path: str


class Executor:
    def __init__(self, answers: AnswerFile, blueprint: Blueprint, source: SourceInstallation,
                 target: TargetInstallation, reporter: Reporter, *, what_if: bool) -> None:
        self.answers = answers
        self.blueprint = blueprint
        self.source = source
        self.target = target
        self.reporter = reporter
        self.what_if = what_if
        self.run_id = str(uuid.uuid4())
        self._source_box: SecretBox | None = None
        self._target_box: SecretBox | None = None
        self._search: Any = None
        self._mover: Any = None
        self._run_started = False

    @property
    def source_box(self) -> SecretBox:
        if self._source_box is None:
            self._source_box = self.source.secret_box()
        return self._source_box

    @property
    def target_box(self) -> SecretBox:
        if self._target_box is None:
            self._target_box = self.target.secret_box()
        return self._target_box

    @property
    def search(self) -> Any:
        """The target's Elasticsearch, or None on the embedded default (history then waits in the outbox)."""
        settings = self.answers.target.elasticsearch
        if settings is None:
            return None
        if self._search is None:
            from ..storage.search import SearchClient

            self._search = SearchClient(settings.url, settings.user_name, settings.password,
                                        str(settings.ca_file) if settings.ca_file else None,
                                        max_retries=settings.max_retries,
                                        initial_backoff=settings.initial_backoff_seconds)
        return self._search

    def history_mover(self, done: set[str]) -> Any:
        if self._mover is None:
            from ..history.pipeline import HistoryMover

            settings = self.answers.target.elasticsearch
            self._mover = HistoryMover(self.source.db, self.target, self.search,
                                       settings.index_prefix if settings else "groupid11", self.reporter,
                                       self.run_id, done, batch_size=self.answers.target.history_batch_size)
        return self._mover

    def reencrypt(self, value: str | None, what: str) -> str | None:
        """A source secret, decrypted with the source passphrase and encrypted with the target's."""
        if value is None:
            return None
        plain = self.source_box.decrypt(value, what=what) if value.startswith(ENC_PREFIX) else value
        return self.target_box.encrypt(plain)

    def reencrypt_connection(self, connection: dict[str, str], what: str) -> dict[str, str]:
        out = dict(connection)
        for key in list(out):
            if key.lower() in ("password", "pwd") and out[key]:
                out[key] = self.reencrypt(out[key], what) or ""
        return out

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> RunResult:
        units = self.blueprint.units
        done = self.target.done_units()
        log = RunLog(None if self.what_if else self.target.log_path(), self.run_id, self.reporter)
        modules = self.blueprint.plan.modules
        results: list[ModuleResult] = []
        try:
            if not self.what_if:
                _ = self.target_box  # verify or set the target passphrase before the first write
                self.target.start_run(self.run_id, modules)
                self._run_started = True
            log.write("run-started", modules=modules, whatIf=self.what_if)
            self._log_plan(log)
            total = len(units)
            position = 0
            for module in modules:
                module_units = [u for u in units if u.module == module]
                result = ModuleResult(module=module, status="Succeeded")
                log.write("module-started", module=module, units=len(module_units))
                if module == "History" and not self.what_if:
                    self._drain_outbox(done, result, log)
                    self._recheck_history(module_units, done, result, log)
                if module == "Groups":  # no planned units: the groups come from the directory (R13)
                    from ..groups.method import run_groups_module

                    run_groups_module(self, done, result, log)
                for index, unit in enumerate(module_units, start=1):
                    position += 1
                    self.reporter.check_cancelled("the upgrade")
                    self.reporter.progress("upgrade", "Upgrading GroupID", f"{module}: {unit.name}", position, total)
                    self.reporter.progress(f"upgrade/{module}", module, unit.name, index - 1, len(module_units),
                                           parent_activity_id="upgrade")
                    self._run_unit(unit, done, result, log)
                if module_units:
                    self.reporter.progress(f"upgrade/{module}", module, "Done", len(module_units), len(module_units),
                                           parent_activity_id="upgrade", completed=True)
                if module == "History" and not self.what_if:
                    result.notes = self._history_notes()
                if result.status != "Skipped":
                    result.status = module_status(result)
                else:
                    log.write("module-skipped", module=module, reason=result.reason)
                results.append(result)
                log.write("module-finished", module=module, status=result.status, done=result.done,
                          alreadyDone=result.already_done, failed=result.failed)
                self.reporter.record("ModuleResult", result.wire())
            status = overall_status(results)
            if not self.what_if:
                self.target.finish_run(self.run_id, status)
            log.write("run-finished", status=status, modules=len(results))
            self.reporter.progress("upgrade", "Upgrading GroupID", "Done", total, total, completed=True)
        except Cancelled:
            self._stopped(log, "run-cancelled", "Cancelled", self.reporter.cancelled_by or "the caller")
            raise
        except KeyboardInterrupt:
            self._stopped(log, "run-interrupted", "Interrupted", f"{_user()} (Ctrl+C)")
            raise
        except EngineError as error:
            self._stopped(log, "run-failed", "Failed", None, error)
            raise
        except Exception as exc:
            self._stopped(log, "run-interrupted", "Interrupted", f"an unexpected {type(exc).__name__}")
            raise
        finally:
            log.close()
        return RunResult(run_id=self.run_id, status=status, what_if=self.what_if, modules=results,
                         log_path=str(self.target.log_path()))

    def _log_plan(self, log: RunLog) -> None:
        """What the plan said before anything ran: its warnings and the items it skips, with why."""
        for warning in self.blueprint.plan.warnings:
            log.write("plan-warning", module=warning.module, message=warning.message, objectName=warning.object_name)
        for item in self.blueprint.plan.items:
            if item.action == "skip":
                log.write("item-skipped", module=item.module, objectType=item.object_type, objectId=item.object_id,
                          name=item.name, reason=item.reason)

    def _stopped(self, log: RunLog, event: str, status: str, by: str | None, error: EngineError | None = None
                 ) -> None:
        """A run that did not reach its end says so: in the log and in its Upg.Run row (status shows it)."""
        fields: dict[str, Any] = {"status": status}
        if by:
            fields["by"] = by
        if error is not None:
            fields.update(errorId=error.error_id, message=error.message)
        log.write(event, **fields)
        if not self._run_started:  # stopped before its Upg.Run row (a wrong passphrase): the log says it
            return
        # The reason the run stopped is the error to report, not a failure to record it.
        with contextlib.suppress(Exception):
            self.target.stop_run(self.run_id, status, by, error.error_id if error else None)

    def _history_notes(self) -> list[str]:
        from ..target import schema as target_schema

        db = self.target.db
        rows = db.count(target_schema.HISTORY.name)
        waiting = db.count(target_schema.SEARCH_OUTBOX.name)
        notes = [f"{rows:,} history rows in the target database"]
        if waiting:
            notes.append(f"{waiting:,} history documents wait in the outbox: a run with target.elasticsearch in the "
                         "answer file sends them")
        return notes

    def _drain_outbox(self, done: set[str], result: ModuleResult, log: RunLog) -> None:
        """History kept by an earlier run without Elasticsearch goes out first (nothing is lost)."""
        if self.search is None:
            return
        mover = self.history_mover(done)
        if not mover.outbox_pending():
            return
        try:
            sent = mover.drain_outbox()
            log.write("outbox-drained", documents=sent)
        except EngineError as error:
            self._fail(UnitFailure(unit="History/outbox", name="history kept for Elasticsearch",
                                   error=error.to_error_object()), error, result, log, "History")

    def _recheck_history(self, units: list[Unit], done: set[str], result: ModuleResult, log: RunLog) -> None:
        """Stores done earlier are checked again once Elasticsearch is there: the index must agree too."""
        if self.search is None:
            return
        for unit in units:
            if unit.key not in done:
                continue
            try:
                self.history_mover(done).check_counts(unit.payload["storeId"], unit.payload["storeId"],
                                                      unit.payload["storeName"])
            except EngineError as error:
                self._fail(UnitFailure(unit=unit.key, name=unit.name, error=error.to_error_object()), error, result,
                           log, "History")

    def _fail(self, failure: UnitFailure, error: EngineError, result: ModuleResult, log: RunLog, module: str) -> None:
        result.failed += 1
        result.failures.append(failure)
        log.write("unit-failed", module=module, unit=failure.unit, name=failure.name, errorId=error.error_id,
                  message=error.message)
        self.reporter.record("UnitFailed", failure.wire())
        self.reporter.log("warning", f"{module}: {failure.name} failed: {error.message}")

    def _run_unit(self, unit: Unit, done: set[str], result: ModuleResult, log: RunLog) -> None:
        if unit.key in done:
            result.already_done += 1
            log.write("unit-already-done", module=unit.module, unit=unit.key, name=unit.name)
            if self.what_if:
                self.reporter.record("WhatIf", {"unit": unit.key, "name": unit.name, "action": "AlreadyDone"})
            return
        error = unit.error
        if error is None:
            missing = [r for r in unit.requires if r not in done]
            if missing:
                error = EngineError("PrerequisiteNotMet", f"{unit.name} needs {', '.join(missing)}, which was not "
                                    "upgraded.", target=unit.key,
                                    recommended_action="Fix the failed item it depends on, then run again.")
        if self.what_if:
            self.reporter.record("WhatIf", {"unit": unit.key, "name": unit.name,
                                            "action": "WouldFail" if error else "WouldWrite",
                                            **({"error": error.to_error_object()} if error else {})})
            if error is None:
                done.add(unit.key)  # so what depends on it is shown as it would run
                result.done += 1
            else:
                result.failed += 1
            return
        if error is None:
            try:
                if unit.kind == "history":
                    self.history_mover(done).move_store(unit.payload["storeId"], unit.payload["storeId"],
                                                        unit.payload["storeName"])
                rows = self.execute(unit)
                fault_point("unit-before-write")
                self.target.write_unit(unit.key, unit.module, unit.name, self.run_id, rows)
            except EngineError as exc:
                if exc.error_id in RUN_STOPPING_ERRORS:
                    raise  # not this unit's fault: every next unit would fail the same way
                error = exc
        if error is not None:
            self._fail(UnitFailure(unit=unit.key, name=unit.name, error=error.to_error_object()), error, result, log,
                       unit.module)
            return
        done.add(unit.key)
        result.done += 1
        log.write("unit-done", module=unit.module, unit=unit.key, name=unit.name)

    # --- unit kinds --------------------------------------------------------------------------------
    def execute(self, unit: Unit) -> list[tuple[Table, dict[str, Any]]]:
        handler = getattr(self, "unit_" + unit.kind.replace("-", "_"))
        return handler(unit, **unit.payload)

    def unit_store(self, unit: Unit, store: Any, entra: Any, entraQuestion: str) -> list:
        row = {
            "IdentityStoreId": store.id, "Name": store.name, "StoreType": store.type.value, "DomainName": store.domain,
            "IsEnabled": 1, "Origin": "Upgraded", "SourceIdentityStoreId": store.id,
            "ConnectionString": store.connection_string, "ServiceAccount": store.service_account,
            "ServiceAccountPassword": self.reencrypt(
                store.service_account_password.get_secret_value() if store.service_account_password else None,
                f"the service account password of {store.label}"),
            "ApplicationId": store.application_id, "Cloud": store.cloud, "PrimaryDomainName": store.primary_domain,
        }
        row.update(pfx_columns(self.target_box, entra, self.blueprint.facts.credential_thumbprints.get(entraQuestion)))
        return [(t.IDENTITY_STORE, row)]

    def unit_messaging(self, unit: Unit, provider: Any, storeId: int, o365: Any) -> list:
        row = {
            "MessagingProviderId": provider.id, "IdentityStoreId": storeId, "ProviderType": provider.type.value,
            "Domain": provider.domain, "UserName": provider.user_name,
            "Password": self.reencrypt(provider.password.get_secret_value() if provider.password else None,
                                       f"the password of {unit.name}"),
            "ApplicationId": provider.application_id, "Cloud": provider.cloud,
        }
        row.update(pfx_columns(self.target_box, o365,
                               self.blueprint.facts.credential_thumbprints.get(f"o365:{storeId}:credentials")))
        return [(t.MESSAGING_PROVIDER, row)]

    def unit_setting(self, unit: Unit, name: str, value: str) -> list:
        return [(t.SETTING, {"Name": name, "Value": value})]

    def unit_approver(self, unit: Unit, approver: Any, fixed: str | None) -> list:
        return [(t.WORKFLOW_APPROVER, {"WorkflowApproverId": approver.id, "IdentityStoreId": approver.store_id,
                                       "WorkflowName": approver.workflow_name, "ApproverKind": "Fixed",
                                       "Approver": fixed or approver.approver, "SourceApprover": approver.approver})]

    def unit_datasource(self, unit: Unit, dataSourceId: str, connectionString: str, provider: str) -> list:
        parts = self.reencrypt_connection(parse_connection_string(connectionString), f"data source {unit.name}")
        text = ";".join(f'{k}="{v}"' if ";" in v else f"{k}={v}" for k, v in parts.items())
        return [(t.DATA_SOURCE, {"DataSourceId": dataSourceId, "Name": unit.name, "ProviderType": provider,
                                 "ConnectionString": text})]

    def unit_file(self, unit: Unit, area: str, relative: str) -> list:
        src = self.source.layout.replication_attributes / relative
        copy_file(src, self.target.layout.replication_attributes / relative)
        return []

    def unit_folder(self, unit: Unit, area: str, relative: str) -> list:
        copy_folder(self.source.layout.password_exception_lists / relative,
                    self.target.layout.password_exception_lists / relative)
        return []

    def unit_new_store(self, unit: Unit, storeId: int, root: str, domains: list[str], serviceAccount: Any,
                       jobsById: dict[str, SyncJob]) -> list:
        credential = serviceAccount["credential"]
        password: str | None = credential.password.get_secret_value() if credential.password else None
        from_job = serviceAccount.get("passwordFromJob")
        if password is None and from_job:
            job = jobsById.get(from_job) or self._any_job(from_job)
            if job is None:
                raise EngineError("AnswerInvalid", f"passwordFromJob of forest:{root}:serviceAccount names job "
                                  f"{from_job}, which is not a job of this installation.",
                                  target=f"answers.forest:{root}:serviceAccount",
                                  recommended_action="Give the id of a job whose destination is in this forest.")
            side = job.destination if job.destination.is_directory else job.source
            password = side.connection.get("Password")
            password = self.source_box.decrypt(password, what=f"the password of job {job.name!r}") \
                if password and password.startswith(ENC_PREFIX) else password
        origin = "CreatedForReports" if unit.module == "Reports" else (
            "CreatedForForest" if len(domains) > 1 or root not in domains else "CreatedForDomain")
        return [(t.IDENTITY_STORE, {
            "IdentityStoreId": storeId, "Name": unit.name, "StoreType": "ActiveDirectory", "DomainName": root,
            "ForestDomains": ",".join(domains), "IsEnabled": 1, "Origin": origin,
            "ServiceAccount": credential.user_name,
            "ServiceAccountPassword": self.target_box.encrypt(password) if password else None,
        })]

    def _any_job(self, job_id: str) -> SyncJob | None:
        for u in self.blueprint.units:
            job = u.payload.get("job")
            if job is not None and job.id == job_id:
                return job
            coll = u.payload.get("collection")
            if coll is not None:
                for j in coll.jobs:
                    if j.id == job_id:
                        return j
        return None

    def _side(self, provider: Provider, store_id: int | None, what: str) -> dict[str, Any]:
        conn = self.reencrypt_connection(provider.connection, what)
        if provider.is_directory:
            return {"kind": "IdentityStore", "identityStoreId": store_id, "provider": provider.provider,
                    "connection": conn}
        text = ";".join(f"{k}={v}" for k, v in provider.connection.items())
        ds_id = hashlib.sha256(data_source_identity(f"Provider={provider.provider};{text}").encode()).hexdigest()[:16]
        return {"kind": "DataSource", "dataSourceId": ds_id, "provider": provider.provider, "connection": conn}

    def _job_row(self, job: SyncJob, store_id: int | None, o365: Any, question: str) -> dict[str, Any]:
        what = f"job {job.name!r}"
        messaging = None
        if job.messaging is not None:
            messaging = {"provider": job.messaging.provider.value, "domain": job.messaging.domain}
            messaging.update(pfx_columns(self.target_box, o365, self.blueprint.facts.credential_thumbprints.get(question)))
        return {
            "JobId": job.id, "IdentityStoreId": store_id, "CollectionId": job.collection_id, "Name": job.name,
            "Kind": "JobTemplate" if job.kind == "jobTemplate" else "Job", "IsEnabled": int(job.enabled),
            "SourceJson": as_json(self._side(job.source, store_id, what)),
            "DestinationJson": as_json(self._side(job.destination, store_id, what)),
            "MessagingJson": as_json(messaging) if messaging else None, "Script": job.script, "SourceFile": job.file,
        }

    def unit_job(self, unit: Unit, job: SyncJob, storeId: int | None, o365: Any, o365Question: str) -> list:
        return [(t.SYNC_JOB, self._job_row(job, storeId, o365, o365Question))]

    def unit_collection(self, unit: Unit, collection: Any, storeId: int | None, jobStores: dict[str, int | None],
                        o365: dict[str, Any]) -> list:
        rows: list = [(t.JOB_COLLECTION, {"CollectionId": collection.id, "IdentityStoreId": storeId,
                                          "Name": collection.name,
                                          "Kind": "CollectionTemplate" if collection.kind == "collectionTemplate"
                                          else "Collection", "SourceFile": collection.file})]
        for job in collection.jobs:
            q = f"job:{job.id}:o365Credentials"
            rows.append((t.SYNC_JOB, self._job_row(job, jobStores.get(job.id), o365.get(job.id), q)))
        return rows

    def unit_schedule(self, unit: Unit, schedule: Any, storeId: int | None, newName: str, jobType: str,
                      jobs: list[str], collections: list[str]) -> list:
        sid = str(schedule.id)
        rows: list = [(t.SCHEDULE, {"ScheduleId": sid, "SourceScheduleId": schedule.id, "IdentityStoreId": storeId,
                                    "Name": newName, "JobType": jobType, "TriggerType": schedule.trigger_type,
                                    "TriggerData": schedule.trigger_data, "IsEnabled": int(schedule.enabled)})]
        for kind, ids in (("Job", jobs), ("JobCollection", collections)):
            for target_id in ids:
                rows.append((t.SCHEDULE_TARGET, {"ScheduleTargetId": f"{sid}:{kind}:{target_id}", "ScheduleId": sid,
                                                 "TargetKind": kind, "TargetId": target_id}))
        return rows

    def unit_new_schedule(self, unit: Unit, storeId: int, name: str) -> list:
        return [(t.SCHEDULE, {"ScheduleId": f"Entitlement:{name}:{storeId}", "SourceScheduleId": None,
                              "IdentityStoreId": storeId, "Name": name, "JobType": "Entitlement",
                              "TriggerType": "Daily", "TriggerData": "00:00", "IsEnabled": 1})]

    def unit_report(self, unit: Unit, report: Any, storeId: int | None) -> list:
        if storeId is None:
            raise EngineError("QuestionsOpen", f"Report {report.name!r} has no identity store to be bound to.",
                              target="answers.reports:store", recommended_action="Answer reports:store.")
        src = self.source.layout.reports / report.file_name
        if not src.is_file():
            raise EngineError("SourceFolderNotFound", f"The file {src} of report {report.name!r} does not exist.",
                              target=str(src), recommended_action="Restore the Reports folder from a backup, or "
                                                                  "ignore: the other reports are upgraded.")
        copy_file(src, self.target.layout.reports / str(storeId) / report.file_name)
        return [(t.REPORT_BINDING, {"ReportId": report.id, "IdentityStoreId": storeId, "Name": report.name,
                                    "Category": report.category, "FileName": report.file_name,
                                    "GeneratedOn": report.generated_on.isoformat()})]

    def unit_history(self, unit: Unit, storeId: int, storeName: str, rows: int) -> list:
        return []  # the rows went in batches (history/pipeline.py); this records the store as done

    def unit_job_file(self, unit: Unit) -> list:  # pragma: no cover - job-file units always carry their error
        raise AssertionError("job-file units fail at plan time")


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no user name (no USER, no passwd entry) must not hide why the run stopped
        return "the user"


def module_status(result: ModuleResult) -> ModuleStatus:
    if result.failed == 0:
        return "Succeeded"
    if result.done + result.already_done == 0:
        return "Failed"
    return "PartiallySucceeded"


def overall_status(results: list[ModuleResult]) -> ModuleStatus:
    statuses = {r.status for r in results if r.status != "Skipped"}
    if not statuses or statuses == {"Succeeded"}:
        return "Succeeded"
    if statuses == {"Failed"}:
        return "Failed"
    return "PartiallySucceeded"


def refuse_open_questions(blueprint: Blueprint) -> None:
    open_q = blueprint.plan.open_questions
    if not open_q:
        return
    listed = "; ".join(q.id + (f" ({q.problem['errorId']}: {q.problem['message']})" if q.problem else "")
                       for q in open_q)
    raise EngineError(
        "QuestionsOpen",
        f"The upgrade cannot start while {len(open_q)} question(s) are open: {listed}.",
        target="answers",
        recommended_action="Answer each in the answer file (groupid-upgrade plan --emit-answer-template FILE "
                           "writes a template), then run again.",
        extra={"questions": [q.wire() for q in open_q]},
    )


def run_upgrade(answers: AnswerFile, reporter: Reporter, *, what_if: bool = False) -> RunResult:
    blueprint = compute_blueprint(answers, reporter, available=RUNNABLE_MODULES)
    refuse_open_questions(blueprint)
    with SourceInstallation(answers.source) as source:
        target = TargetInstallation(answers.target, read_only=what_if, guard=source_guard(answers))
        try:
            if target.db is None:  # what-if on a target that does not exist yet: nothing is done
                target.done_units = lambda: set()  # type: ignore[method-assign]
            return Executor(answers, blueprint, source, target, reporter, what_if=what_if).run()
        finally:
            target.close()


def run_handler(params: RunParams, reporter: Reporter) -> RunResult:
    overrides: dict[str, Any] = {}
    if params.module is not None:
        overrides["modules"] = params.module
    if params.validate_online is not None:
        overrides["validateOnline"] = params.validate_online
    return run_upgrade(load_settings(params, reporter, overrides), reporter, what_if=params.what_if)


RUN_METHOD = MethodSpec(
    name="upgrade.run",
    params=RunParams,
    result=RunResult,
    handler=run_handler,
    summary="Run the plan (refuses while questions are open); resumes a crashed run; one record per module.",
    supports_what_if=True,
)
