"""Rules R1, R3, R8..R12a on the small installations the generated tests found failing (issue 17).

Each test writes one estate with ``support.installations`` (the documented format) and asserts what
the rule says for it. The estate is the minimal one hypothesis shrank to, named for what it holds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from groupid_upgrade.errors import EngineError
from groupid_upgrade.model.plan import Plan, PlanItem
from groupid_upgrade.planning.planner import Blueprint
from support.engine_runs import environment, plan_estate
from support.installations import (
    CollectionSpec,
    Estate,
    JobSpec,
    ScheduleSpec,
    Side,
    StoreSpec,
    WrittenEstate,
    default_folder_environment,
    write_estate,
)

TEXT = Side("Text")
CSV = Side("Excel", variant=1)


def ad(domain: str) -> Side:
    return Side("ActiveDirectory", domain)


def job(n: int, source: Side, destination: Side, **kw: Any) -> JobSpec:
    return JobSpec(id=f"job-{n}", name=f"Job {n}", source=source, destination=destination, **kw)


def store(n: int, domain: str, *, enabled: bool = True, kind: str = "ActiveDirectory", **kw: Any) -> StoreSpec:
    return StoreSpec(id=n, name=f"Store {n}", type=kind, domain=domain, enabled=enabled, **kw)


@pytest.fixture
def written() -> Iterator[Any]:
    """Writes each estate it is given into a folder of its own."""
    with tempfile.TemporaryDirectory(prefix="regression-") as tmp:
        count = iter(range(1_000))

        def write(estate: Estate) -> WrittenEstate:
            return write_estate(estate, Path(tmp, str(next(count))))
        yield write


def blueprint(write: Any, estate: Estate, answers: dict[str, Any] | None = None,
              ldap_roots: dict[str, str] | None = None) -> Blueprint:
    return plan_estate(write(estate), answers or {}, ldap_roots or {})[1]


def item(plan: Plan, object_type: str, object_id: str) -> PlanItem:
    found = [i for i in plan.items if i.object_type == object_type and i.object_id == object_id]
    assert len(found) == 1, f"{object_type} {object_id}: {found}"
    return found[0]


def created_stores(plan: Plan) -> dict[str, PlanItem]:
    return {i.name: i for i in plan.items if i.object_type == "IdentityStore" and i.action == "create"}


# --- R11: a schedule whose jobs have no directory side --------------------------------------------
def test_r11_a_schedule_of_database_to_csv_jobs_is_a_question_not_a_disabled_store_skip(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com")], jobs=[job(1, Side("SqlServer"), CSV)],
                    schedules=[ScheduleSpec(1, "Exports", "Synchronize", None, [("Job", "job-1")])])
    plan = blueprint(written, estate).plan
    sched = item(plan, "Schedule", "1")
    assert (sched.action, sched.rule) == ("move", "R11")
    assert "disabled" not in sched.reason
    assert [q.id for q in plan.questions if q.id.startswith("schedule:")] == ["schedule:1:store"]
    answered = blueprint(written, estate, {"schedule:1:store": 1}).plan
    assert item(answered, "Schedule", "1").target == "Store 1"
    assert not answered.open_questions


def test_r11_with_no_store_in_the_target_the_schedule_is_kept_without_one_and_nothing_is_asked(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, CSV)],
                    schedules=[ScheduleSpec(1, "Exports", "Synchronize", None, [("Job", "job-1")])])
    plan = blueprint(written, estate).plan
    sched = item(plan, "Schedule", "1")
    assert (sched.action, sched.rule, sched.target) == ("move", "R11", None)
    assert not plan.questions


def test_r3_r12_a_schedule_whose_every_job_is_skipped_is_skipped_with_the_rule_that_skipped_them(
        written: Any) -> None:
    estate = Estate(stores=[store(1, "old.com", enabled=False), store(2, "gw.com", kind="GoogleWorkspace"),
                            store(3, "corp.com")],
                    jobs=[job(1, TEXT, ad("old.com")), job(2, TEXT, ad("gw.com")), job(3, TEXT, ad("corp.com"))],
                    schedules=[ScheduleSpec(1, "Old", "Synchronize", None, [("Job", "job-1")]),
                               ScheduleSpec(2, "Google", "Synchronize", None, [("Job", "job-2")]),
                               ScheduleSpec(3, "Both", "Synchronize", None, [("Job", "job-2"), ("Job", "job-1")]),
                               ScheduleSpec(4, "Live", "Synchronize", None, [("Job", "job-1"), ("Job", "job-3")])])
    bp = blueprint(written, estate)
    expected = {
        "1": ("skip", "R3", "every job on it is skipped (a disabled identity store)"),
        "2": ("skip", "R12", "every job on it is skipped (its identity store is not upgraded)"),
        "3": ("skip", "R3", "every job on it is skipped (a disabled identity store)"),
        "4": ("move", "R11", "the identity store Store 3 of its directory destinations; named SynchronizeJobPortal_Live"),
    }
    for sched_id, want in expected.items():
        got = item(bp.plan, "Schedule", sched_id)
        assert (got.action, got.rule, got.reason) == want
        assert got.module == "Schedules"
    live = next(u for u in bp.units if u.key == "Schedules/schedule:4")
    assert (live.payload["newName"], live.payload["jobs"], live.payload["storeId"]) == (
        "SynchronizeJobPortal_Live", ["job-3"], 3)


def test_r11_the_schedule_questions_say_why_and_offer_the_right_stores(written: Any) -> None:
    estate = Estate(server_domain="corp.com", reports=["R"],
                    stores=[store(1, "corp.com", kind="MicrosoftAzure"), store(2, "fabrikam.com")],
                    jobs=[job(1, Side("SqlServer"), CSV), job(2, TEXT, ad("corp.com")), job(3, TEXT, ad("fabrikam.com"))],
                    schedules=[ScheduleSpec(1, "Exports", "Synchronize", None, [("Job", "job-1")]),
                               ScheduleSpec(2, "Two", "Synchronize", None, [("Job", "job-2"), ("Job", "job-3")]),
                               ScheduleSpec(3, "Empty", "Synchronize", None, [])])
    reports_store = {"reports:store": {"type": "ActiveDirectory", "domain": "corp.com", "name": "Reports",
                                       "serviceAccount": {"userName": "X\\gmsa$"}}}
    plan = blueprint(written, estate, reports_store).plan
    asked = {q.id: q for q in plan.questions}
    everything = [{"storeId": 1, "name": "Store 1"}, {"storeId": 2, "name": "Store 2"}]  # not the reports store
    for qid, why, choices in (
            ("schedule:1:store", "its jobs have only file-based destinations", everything),
            ("schedule:2:store", "its jobs have directory destinations in different identity stores", everything),
            ("schedule:3:store", "it runs no job of this installation", everything)):
        q = asked[qid]
        assert (q.module, q.rule, q.answer_kind, q.choices) == ("Schedules", "R11", "storeId", choices)
        assert q.prompt == f"Identity store for schedule {q.object_name!r} ({why})"
        sched = item(plan, "Schedule", qid.split(":")[1])
        assert sched.reason == f"waits for the answer to {qid} ({why}); named SynchronizeJobPortal_{q.object_name}"
    answered = blueprint(written, estate, {**reports_store, "schedule:1:store": 2}).plan
    assert item(answered, "Schedule", "1").reason == (
        "the identity store Store 2, chosen in the answer file (its jobs have only file-based destinations); "
        "named SynchronizeJobPortal_Exports")


def test_r11_a_schedule_kept_without_a_store_says_so_and_keeps_its_name(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, CSV)],
                    schedules=[ScheduleSpec(1, "Exports", "Synchronize", None, [("Job", "job-1")])])
    bp = blueprint(written, estate)
    assert item(bp.plan, "Schedule", "1").reason == (
        "the target has no identity store to choose (its jobs have only file-based destinations); it is kept with "
        "none; named SynchronizeJobPortal_Exports")
    unit = next(u for u in bp.units if u.key == "Schedules/schedule:1")
    assert (unit.payload["newName"], unit.payload["storeId"], unit.payload["jobs"]) == (
        "SynchronizeJobPortal_Exports", None, ["job-1"])
    assert item(bp.plan, "SyncJob", "job-1").reason == "neither side is a directory; it is kept with no identity store"


# --- R8/R9: child domains of an existing store's forest ---------------------------------------------
def test_r9_child_and_grandchild_domains_go_to_the_existing_store_of_their_forest(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.example.com")],
                    jobs=[job(1, TEXT, ad("child.corp.example.com")), job(2, TEXT, ad("GC.Child.Corp.Example.com."))])
    plan = blueprint(written, estate).plan
    assert created_stores(plan) == {}
    assert not [q for q in plan.questions if q.id.startswith("forest:")]
    for n, domain in ((1, "child.corp.example.com"), (2, "gc.child.corp.example.com")):
        moved = item(plan, "SyncJob", f"job-{n}")
        assert (moved.action, moved.rule, moved.target) == ("move", "R9", "Store 1")
        assert moved.reason == (f"moves to the identity store Store 1 of its forest corp.example.com ({domain} has no "
                                "store of its own)")


def test_r9_look_alike_domains_are_not_children(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com")],
                    jobs=[job(1, TEXT, ad("xcorp.com")), job(2, TEXT, ad("corp.com.au")), job(3, TEXT, ad("a.corp.com"))])
    plan = blueprint(written, estate).plan
    assert set(created_stores(plan)) == {"xcorp.com", "corp.com.au"}
    assert item(plan, "SyncJob", "job-3").target == "Store 1"


def test_r9_a_domain_rootdse_names_its_own_forest_root_is_not_joined_to_the_dns_parents_store(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com")], jobs=[job(1, TEXT, ad("x.a.corp.com"))])
    plan = blueprint(written, estate, ldap_roots={"x.a.corp.com": "x.a.corp.com"}).plan
    assert set(created_stores(plan)) == {"x.a.corp.com"}
    assert item(plan, "SyncJob", "job-1").target == "x.a.corp.com"


def test_r3_a_child_of_a_disabled_stores_forest_is_skipped_and_gets_no_store(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com", enabled=False)], jobs=[job(1, TEXT, ad("a.corp.com"))])
    plan = blueprint(written, estate).plan
    skipped = item(plan, "SyncJob", "job-1")
    assert (skipped.action, skipped.rule) == ("skip", "R3")
    assert "disabled" in skipped.reason and "Store 1" in skipped.reason
    assert created_stores(plan) == {} and not plan.questions


def test_decision_a_store_only_for_a_child_domain_does_not_serve_its_parent(written: Any) -> None:
    """docs/decisions.md: the parent gets a store of its own forest; the child keeps its store."""
    estate = Estate(stores=[store(1, "child.corp.com")],
                    jobs=[job(1, TEXT, ad("corp.com")), job(2, TEXT, ad("child.corp.com")),
                          job(3, TEXT, ad("other.corp.com"))])
    plan = blueprint(written, estate).plan
    assert set(created_stores(plan)) == {"corp.com"}
    assert "other.corp.com" in created_stores(plan)["corp.com"].reason
    assert item(plan, "SyncJob", "job-1").target == "corp.com"
    assert item(plan, "SyncJob", "job-2").target == "Store 1"
    assert item(plan, "SyncJob", "job-3").target == "corp.com"


# --- R9: stores are made for destinations only ----------------------------------------------------
def test_r9_a_domain_that_is_only_a_source_gets_no_store_and_no_question(written: Any) -> None:
    estate = Estate(jobs=[job(1, ad("reader.example.org"), CSV)])
    plan = blueprint(written, estate).plan
    assert created_stores(plan) == {} and not plan.questions
    kept = item(plan, "SyncJob", "job-1")
    assert (kept.action, kept.rule, kept.target) == ("move", "R8", None)
    assert kept.reason == ("its source reader.example.org has no identity store and none is created for it (stores are "
                           "created for the destinations of jobs); it is kept with no identity store")


def test_r9_the_account_is_prefilled_from_a_job_writing_the_forest_never_from_one_reading_it(written: Any) -> None:
    estate = Estate(jobs=[JobSpec("job-a", "A reads corp", ad("corp.com"), CSV),
                          JobSpec("job-b", "B writes corp", TEXT, ad("corp.com"))])
    plan = blueprint(written, estate).plan
    question = next(q for q in plan.questions if q.id == "forest:corp.com:serviceAccount")
    assert question.suggested == {"userName": "CORP\\svc-job-b", "passwordFromJob": "job-b"}
    # the reader goes with the store created for its forest (it exists for the writer)
    assert item(plan, "SyncJob", "job-a").target == "corp.com"


def test_r9_a_template_or_a_reader_of_a_child_domain_goes_to_the_store_created_for_its_forest(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("corp.com")), job(2, ad("a.corp.com"), CSV)],
                    templates=[job(3, TEXT, ad("x.a.corp.com"))])
    plan = blueprint(written, estate).plan
    assert set(created_stores(plan)) == {"corp.com"}  # for the destination only
    for n in (2, 3):
        placed = item(plan, "SyncJob", f"job-{n}")
        assert (placed.action, placed.rule, placed.target) == ("move", "R9", "corp.com")


def test_r9_a_reader_goes_to_the_store_created_for_the_forest_rootdse_names_and_only_to_it(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("corp.com")), job(2, ad("eu.example.org"), CSV),
                          job(3, ad("us.example.org"), CSV)])
    facts = {"eu.example.org": "corp.com", "us.example.org": "example.org"}
    plan = blueprint(written, estate, ldap_roots=facts).plan
    assert item(plan, "SyncJob", "job-2").target == "corp.com"
    assert item(plan, "SyncJob", "job-3").target is None  # its forest has no store, and none is made for a reader


def test_r9_the_topmost_destination_parent_is_the_forest_root(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("x.a.corp.com")), job(2, TEXT, ad("a.corp.com")), job(3, TEXT, ad("corp.com"))])
    plan = blueprint(written, estate).plan
    assert set(created_stores(plan)) == {"corp.com"}
    assert created_stores(plan)["corp.com"].reason == (
        "one identity store per forest: a.corp.com, corp.com, x.a.corp.com have no store (forest root from DNS names)")


def test_r9_a_parents_rootdse_fact_is_followed_by_its_children(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("a.corp.com")), job(2, TEXT, ad("corp.com"))])
    plan = blueprint(written, estate, ldap_roots={"corp.com": "com"}).plan
    assert set(created_stores(plan)) == {"com"}
    assert "forest root from LDAP rootDSE" in created_stores(plan)["com"].reason


def test_r9_a_single_domain_whose_root_rootdse_confirms_is_a_forest(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("eu.example.org"))])
    plan = blueprint(written, estate, ldap_roots={"eu.example.org": "eu.example.org"}).plan
    assert created_stores(plan)["eu.example.org"].reason == (
        "one identity store per forest: eu.example.org have no store (forest root from LDAP rootDSE)")
    question = next(q for q in plan.questions if q.id == "forest:eu.example.org:serviceAccount")
    assert "whole forest eu.example.org" in question.prompt


def test_r9_a_parent_whose_only_child_is_another_forest_is_a_store_of_its_own_domain(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("corp.com")), job(2, TEXT, ad("a.corp.com"))])
    plan = blueprint(written, estate, ldap_roots={"a.corp.com": "a.corp.com"}).plan
    assert set(created_stores(plan)) == {"corp.com", "a.corp.com"}
    assert created_stores(plan)["corp.com"].reason.endswith("(forest root from DNS names)")


def test_r9_a_reader_goes_to_the_nearest_created_forest_store(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("corp.com")), job(2, TEXT, ad("a.corp.com")), job(3, ad("x.a.corp.com"), CSV)])
    plan = blueprint(written, estate, ldap_roots={"a.corp.com": "a.corp.com"}).plan
    assert item(plan, "SyncJob", "job-3").target == "a.corp.com"


def test_r12_a_job_to_a_google_workspace_stores_domain_is_skipped_with_it(written: Any) -> None:
    estate = Estate(stores=[store(1, "example.org", kind="GoogleWorkspace")], jobs=[job(1, TEXT, ad("Example.org."))])
    plan = blueprint(written, estate).plan
    skipped = item(plan, "SyncJob", "job-1")
    assert (skipped.action, skipped.rule, skipped.target) == ("skip", "R12", None)
    assert skipped.reason == "its identity store for example.org is not upgraded (Google Workspace)"
    assert created_stores(plan) == {} and not plan.questions


def test_r3_reasons_say_the_data_stays_in_the_source(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com", enabled=False)],
                    jobs=[job(1, TEXT, ad("corp.com")), job(2, TEXT, ad("a.corp.com"))])
    plan = blueprint(written, estate).plan
    assert item(plan, "SyncJob", "job-1").reason == (
        "corp.com has only a disabled identity store (Store 1); its data stays intact in the source")
    assert item(plan, "SyncJob", "job-2").reason == (
        "a.corp.com is in the forest of corp.com, whose identity store Store 1 is disabled; its data stays intact in "
        "the source")


def test_r8_a_directory_source_without_a_domain_is_kept_with_no_store(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com")], jobs=[job(1, Side("GenericLdap"), CSV)])
    plan = blueprint(written, estate).plan
    kept = item(plan, "SyncJob", "job-1")
    assert (kept.action, kept.rule, kept.target) == ("move", "R8", None)
    assert kept.reason == "its source names no domain; it is kept with no identity store"


# --- rule tags, reasons, wording --------------------------------------------------------------------
def test_rule_tags_name_the_rule_that_decided(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com"), store(2, "old.example.org", enabled=False)],
                    collections=[CollectionSpec("coll-1", "Pair", [job(1, TEXT, ad("corp.com"))])])
    plan = blueprint(written, estate).plan
    assert item(plan, "IdentityStore", "1").rule == "R2"  # converted: not the disabled-store rule
    assert item(plan, "IdentityStore", "2").rule == "R3"
    coll = item(plan, "JobCollection", "coll-1")
    assert (coll.rule, coll.target) == ("R8", "Store 1")
    assert coll.reason == "a collection of 1 job, placed with its jobs in the identity store Store 1"


def test_a_reason_names_the_store_of_its_target_not_the_jobs_domain(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("corp.example.com")), job(2, TEXT, ad("child.corp.example.com"))])
    plan = blueprint(written, estate).plan
    child = item(plan, "SyncJob", "job-2")
    assert child.target == "corp.example.com"
    assert child.reason == ("moves to the identity store created for the forest corp.example.com (its destination "
                            "child.corp.example.com)")


def test_a_messaging_provider_and_approvers_of_a_disabled_store_are_listed_as_skipped(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com", enabled=False, messaging="Exchange2016",
                                  approvers=[("Variable", "managedBy")])])
    plan = blueprint(written, estate).plan
    assert (item(plan, "MessagingProvider", "101").action, item(plan, "MessagingProvider", "101").rule) == ("skip", "R3")
    assert (item(plan, "WorkflowApprover", "1").action, item(plan, "WorkflowApprover", "1").rule) == ("skip", "R3")


def test_a_collection_whose_jobs_are_all_skipped_is_skipped_and_a_partly_skipped_one_keeps_the_rest(
        written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com"), store(2, "old.com", enabled=False)],
                    collections=[CollectionSpec("c-all", "All old", [job(1, TEXT, ad("old.com"))]),
                                 CollectionSpec("c-some", "Mixed", [job(2, TEXT, ad("old.com")),
                                                                     job(3, TEXT, ad("corp.com"))])])
    bp = blueprint(written, estate)
    assert (item(bp.plan, "JobCollection", "c-all").action, item(bp.plan, "JobCollection", "c-all").rule) == (
        "skip", "R3")
    mixed = item(bp.plan, "JobCollection", "c-some")
    assert (mixed.action, mixed.target) == ("move", "Store 1")
    assert mixed.reason == ("a collection of 2 jobs, placed with its jobs in the identity store Store 1; 1 of its jobs "
                            "are skipped (listed with the jobs)")
    unit = next(u for u in bp.units if u.key == "Synchronize/collection:c-some")
    assert (unit.kind, unit.name, unit.requires) == ("collection", "Mixed", ["Configuration/store:1"])
    assert [j.id for j in unit.payload["collection"].jobs] == ["job-3"]
    assert (unit.payload["storeId"], unit.payload["jobStores"], unit.payload["o365"]) == (1, {"job-3": 1},
                                                                                          {"job-3": None})
    whole = next(u for u in bp.units if u.key == "Synchronize/collection:c-all") if any(
        u.key == "Synchronize/collection:c-all" for u in bp.units) else None
    assert whole is None  # a collection skipped whole writes nothing


def test_a_collection_skipped_whole_says_why_and_the_rule(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com"), store(2, "old.com", enabled=False),
                            store(3, "gw.com", kind="GoogleWorkspace")],
                    collections=[CollectionSpec("c-old", "Old", [job(1, TEXT, ad("old.com")), job(2, TEXT, ad("old.com"))]),
                                 CollectionSpec("c-gw", "Google", [job(3, TEXT, ad("gw.com"))]),
                                 CollectionSpec("c-mix", "Both", [job(4, TEXT, ad("gw.com")), job(5, TEXT, ad("old.com"))]),
                                 CollectionSpec("c-two", "Two", [job(6, TEXT, ad("corp.com")), job(7, TEXT, ad("corp.com"))])])
    plan = blueprint(written, estate).plan
    expected = {
        "c-old": ("skip", "R3", "a collection of 2 jobs, every one skipped (a disabled identity store)"),
        "c-gw": ("skip", "R12", "a collection of 1 job, every one skipped (its identity store is not upgraded)"),
        "c-mix": ("skip", "R3", "a collection of 2 jobs, every one skipped (a disabled identity store)"),
        "c-two": ("move", "R8", "a collection of 2 jobs, placed with its jobs in the identity store Store 1"),
    }
    for coll_id, want in expected.items():
        got = item(plan, "JobCollection", coll_id)
        assert (got.action, got.rule, got.reason) == want
        assert got.module == "Synchronize"


def test_r7_a_collection_job_carries_its_office_365_answer_into_the_collection_unit(written: Any) -> None:
    estate = Estate(stores=[store(1, "corp.com")],
                    collections=[CollectionSpec("c-mail", "Mail", [job(1, TEXT, ad("corp.com"), office365=True),
                                                                   job(2, TEXT, ad("corp.com"))])])
    answer = {"clientSecret": "s", "pfxFile": "app.pfx", "pfxPassword": "p"}
    bp = blueprint(written, estate, {"job:job-1:o365Credentials": answer})
    unit = next(u for u in bp.units if u.key == "Synchronize/collection:c-mail")
    assert unit.payload["o365"]["job-2"] is None
    assert unit.payload["o365"]["job-1"].client_secret.get_secret_value() == "s"


# --- R10: reports -----------------------------------------------------------------------------------
def test_r10_the_reports_question_refuses_another_type_and_a_store_of_another_domain(written: Any) -> None:
    estate = Estate(server_domain="corp.com", stores=[store(1, "tenant.onmicrosoft.com", kind="MicrosoftAzure")],
                    reports=["Groups by owner"])
    refused = {
        "entra": {"type": "MicrosoftAzure", "domain": "corp.com", "serviceAccount": {"userName": "X\\gmsa$"}},
        "another store": 1,
        "another domain": {"type": "ActiveDirectory", "domain": "fabrikam.com",
                           "serviceAccount": {"userName": "X\\gmsa$"}},
    }
    for what, answer in refused.items():
        plan = blueprint(written, estate, {"reports:store": answer}).plan
        question = next(q for q in plan.questions if q.id == "reports:store")
        assert not question.answered and question.problem and question.problem["errorId"] == "AnswerInvalid", what
    good = {"type": "ActiveDirectory", "domain": "Corp.com.", "name": "Reports", "serviceAccount": {"userName": "X\\gmsa$"}}
    plan = blueprint(written, estate, {"reports:store": good}).plan
    report = item(plan, "Report", "1")
    assert (report.target, report.reason) == ("Reports", "bound to the identity store Reports, created for the "
                                                         "reports as the answer file says")
    assert "chosen" not in report.reason


def test_r10_reports_of_a_child_server_domain_bind_to_the_existing_store_of_its_forest(written: Any) -> None:
    estate = Estate(server_domain="a.corp.com", stores=[store(1, "corp.com")], reports=["R"])
    plan = blueprint(written, estate).plan
    assert item(plan, "Report", "1").target == "Store 1" and not plan.questions


# --- R12a: Entitlement schedules ----------------------------------------------------------------------
def test_r12a_entitlement_schedules_come_with_a_store_the_upgrade_creates(written: Any) -> None:
    estate = Estate(jobs=[job(1, TEXT, ad("corp.com"))])
    plan = blueprint(written, estate).plan
    created = {(i.name, i.target) for i in plan.items if i.object_type == "Schedule" and i.action == "create"}
    assert created == {("Entitlement Scope", "corp.com"), ("Entitlement Temporary Permissions", "corp.com")}


# --- R1: default folders, version from the database ----------------------------------------------------
def test_r1_the_default_folders_are_used_when_the_answer_file_omits_them(written: Any) -> None:
    estate = Estate(version="9.0", version_written="9", product_version="9.0.1152.0", default_folders=True,
                    jobs=[job(1, TEXT, CSV)])
    files = written(estate)
    assert "programFiles" not in files.settings["source"]
    with environment(default_folder_environment(files)):
        plan = plan_estate(files, {}, {})[1].plan
    assert item(plan, "SyncJob", "job-1").action == "move"
    elsewhere = str(files.root / "elsewhere")
    with environment({"ProgramFiles": elsewhere, "ProgramData": elsewhere}), pytest.raises(EngineError) as refused:
        plan_estate(files, {}, {})
    assert refused.value.error_id == "SourceFolderNotFound"
    assert str(Path("elsewhere", "Imanami", "GroupID 9.0")) in refused.value.message


def test_r1_the_database_decides_the_version_too(written: Any) -> None:
    estate = Estate(version="10.0", version_written="10", product_version="9.0.1152.0")
    with pytest.raises(EngineError) as refused:
        plan_estate(written(estate), {}, {})
    assert refused.value.error_id == "SourceVersionUnsupported"
    assert "9.0.1152.0" in refused.value.message and refused.value.target == "source.version"
