"""The Plan of the sample, rule by rule (R3, R5..R12a): every store, move, creation, skip, warning
and question the rules imply for what docs/sample.md says the sample holds, asserted by name.

The expectations are written from the sample's description and the rules, not read back from a
plan: a change in the planner that moves one job, drops one warning or adds one question fails the
rule it breaks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import helpers
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.settings_params import PlanParams
from groupid_upgrade.upgrade.plan_method import plan_handler

pytest_plugins = ["helpers"]

FABRIKAM, CONTOSO, LEGACY, GOOGLE = 1, 2, 3, 4


@pytest.fixture(scope="module")
def plan(sample: helpers.Sample) -> dict[str, Any]:
    return plan_handler(PlanParams(answer_file=sample.answer_file), CollectingReporter()).wire()


def items(plan: dict[str, Any], module: str, object_type: str) -> dict[str, dict[str, Any]]:
    """The module's items of one object type, by name (names are unique within a type here; the
    schedules the upgrade creates, one pair per Active Directory store, by ``name@store``)."""
    found = [i for i in plan["items"] if i["module"] == module and i["objectType"] == object_type]
    by_name = {i["name"] + (f"@{i['target']}" if object_type == "Schedule" and i["action"] == "create" else ""): i
               for i in found}
    assert len(by_name) == len(found), f"duplicate {object_type} names in {module}"
    return by_name


def actions(plan: dict[str, Any], module: str, object_type: str) -> dict[str, str]:
    return {name: i["action"] for name, i in items(plan, module, object_type).items()}


def questions(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {q["id"]: q for q in plan["questions"]}


def warnings(plan: dict[str, Any]) -> list[str]:
    return [w["message"] for w in plan["warnings"]]


def job_ids(plan: dict[str, Any]) -> dict[str, str]:
    return {name: i["objectId"] for name, i in items(plan, "Synchronize", "SyncJob").items()}


# --- R3: disabled stores and everything that hangs on them ---------------------------------------
def test_r3_the_disabled_store_is_skipped_with_its_reason(plan: dict[str, Any]) -> None:
    legacy = items(plan, "Configuration", "IdentityStore")["Legacy"]
    assert (legacy["action"], legacy["rule"], legacy["objectId"]) == ("skip", "R3", str(LEGACY))
    assert "disabled" in legacy["reason"]


def test_r3_the_job_to_the_disabled_stores_domain_is_skipped_and_gets_no_new_store(plan: dict[str, Any]) -> None:
    job = items(plan, "Synchronize", "SyncJob")["Legacy accounts"]
    assert (job["action"], job["rule"]) == ("skip", "R3")
    assert "legacy.example.net" in job["reason"]
    created = items(plan, "Synchronize", "IdentityStore")
    assert "legacy.example.net" not in created
    assert "forest:legacy.example.net:serviceAccount" not in questions(plan)


def test_r3_the_disabled_stores_schedules_and_history_are_skipped(plan: dict[str, Any]) -> None:
    schedules = items(plan, "Schedules", "Schedule")
    assert (schedules["Legacy sync"]["action"], schedules["Legacy sync"]["rule"]) == ("skip", "R3")
    assert (schedules["Legacy lifecycle"]["action"], schedules["Legacy lifecycle"]["rule"]) == ("skip", "R3")
    history = items(plan, "History", "History")
    assert history["history of Legacy"]["action"] == "skip" and history["history of Legacy"]["rule"] == "R3"
    assert history["history of Google"]["action"] == "skip"


def test_r3_history_rows_of_enabled_stores_move_and_the_counts_are_the_sources(
        plan: dict[str, Any], sample: helpers.Sample) -> None:
    per_store = dict(sample.query("SELECT IdentityStoreId, COUNT(*) FROM Hist_History GROUP BY IdentityStoreId"))
    history = items(plan, "History", "History")
    for name, store, action in (("Fabrikam", FABRIKAM, "move"), ("Contoso Cloud", CONTOSO, "move"),
                                ("Legacy", LEGACY, "skip"), ("Google", GOOGLE, "skip")):
        item = history[f"history of {name}"]
        assert item["action"] == action
        assert item["reason"].startswith(f"{per_store[store]} rows"), item["reason"]


# --- R5, R6, R7: credential triples ----------------------------------------------------------------
def test_r5_the_entra_store_asks_for_its_credentials(plan: dict[str, Any]) -> None:
    q = questions(plan)[f"entra:{CONTOSO}:credentials"]
    assert (q["rule"], q["objectName"], q["answerKind"], q["answered"]) == ("R5", "Contoso Cloud", "pfxCredentials", True)
    store = items(plan, "Configuration", "IdentityStore")["Contoso Cloud"]
    assert store["action"] == "convert"


def test_r6_the_office_365_provider_asks_for_its_credentials_and_converts_with_its_store(plan: dict[str, Any]) -> None:
    q = questions(plan)[f"o365:{FABRIKAM}:credentials"]
    assert (q["rule"], q["objectName"], q["answered"]) == ("R6", "Fabrikam", True)
    provider = items(plan, "Configuration", "MessagingProvider")["Office365 of Fabrikam"]
    assert (provider["action"], provider["rule"]) == ("convert", "R6")


def test_r7_exactly_the_job_with_office_365_messaging_asks_for_its_credentials(plan: dict[str, Any]) -> None:
    per_job = [q for q in plan["questions"] if q["id"].startswith("job:")]
    assert [(q["objectName"], q["rule"]) for q in per_job] == [("Fabrikam mail users", "R7")]
    assert per_job[0]["id"] == f"job:{job_ids(plan)['Fabrikam mail users']}:o365Credentials"


# --- R8: jobs to existing stores -------------------------------------------------------------------
def test_r8_jobs_to_existing_stores_match_by_dns_name_case_insensitively(plan: dict[str, Any]) -> None:
    jobs = items(plan, "Synchronize", "SyncJob")
    for name in ("Fabrikam export", "Fabrikam mail users", "Partners to Fabrikam", "Weekly Fabrikam export"):
        assert (jobs[name]["action"], jobs[name]["rule"]) == ("move", "R8")
        assert jobs[name]["reason"] == "moves to the identity store Fabrikam of fabrikam.example.com"
        assert jobs[name]["target"] == "Fabrikam"
    assert jobs["Contoso cloud users"]["reason"] == (
        "moves to the identity store Contoso Cloud of contoso.onmicrosoft.com")


def test_r8_a_trailing_dot_and_capitals_reach_the_same_forest_store(plan: dict[str, Any]) -> None:
    # "Sales.Corp.Example.Com." is written with capitals and a trailing dot in its job
    assert items(plan, "Synchronize", "SyncJob")["Sales feed"]["reason"] == (
        "moves to the identity store created for the forest corp.example.com (its destination sales.corp.example.com)")
    corp = items(plan, "Synchronize", "IdentityStore")["corp.example.com"]
    assert "sales.corp.example.com" in corp["reason"]


# --- R9: forests ------------------------------------------------------------------------------------
def test_r9_one_store_per_forest_and_one_per_undetermined_domain(plan: dict[str, Any]) -> None:
    created = items(plan, "Synchronize", "IdentityStore")
    assert set(created) == {"corp.example.com", "partner.example.net", "eu.northwind.example.org",
                            "us.northwind.example.org"}
    assert all(i["action"] == "create" and i["rule"] == "R9" for i in created.values())
    corp = created["corp.example.com"]["reason"]
    assert "one identity store per forest" in corp
    assert all(d in corp for d in ("child.corp.example.com", "corp.example.com", "sales.corp.example.com"))
    for own in ("partner.example.net", "eu.northwind.example.org", "us.northwind.example.org"):
        assert "its forest cannot be determined" in created[own]["reason"]


def test_r9_siblings_whose_parent_is_no_destination_are_not_merged(plan: dict[str, Any]) -> None:
    jobs = items(plan, "Synchronize", "SyncJob")
    for name, domain in (("Northwind EU", "eu.northwind.example.org"), ("Northwind US", "us.northwind.example.org")):
        assert jobs[name]["reason"] == f"moves to the identity store created for the forest {domain} (its destination {domain})"
        assert jobs[name]["target"] == domain
    assert "northwind.example.org" not in items(plan, "Synchronize", "IdentityStore")


def test_r9_every_job_of_the_corp_forest_moves_to_its_store(plan: dict[str, Any]) -> None:
    jobs = items(plan, "Synchronize", "SyncJob")
    side = re.compile(r"created for the forest corp\.example\.com \(its (?:destination|source) (\S+)\)$")
    corp_forest = {name: m.group(1) for name, i in jobs.items() if (m := side.search(i["reason"]))}
    assert all(jobs[name]["target"] == "corp.example.com" for name in corp_forest)
    assert corp_forest == {
        "Contractors to Child": "child.corp.example.com", "Corp export": "corp.example.com",
        "HR staff to Corp": "corp.example.com", "Sales feed": "sales.corp.example.com",
        "Nightly HR to Corp": "corp.example.com", "Nightly contractors to Child": "child.corp.example.com",
        "Template: CSV to AD": "corp.example.com", "Template step 1": "corp.example.com",
    }


def test_r9_each_created_store_asks_for_its_service_account_prefilled_from_the_first_job(
        plan: dict[str, Any]) -> None:
    qs = questions(plan)
    ids = job_ids(plan)
    for root in ("corp.example.com", "partner.example.net", "eu.northwind.example.org", "us.northwind.example.org"):
        q = qs[f"forest:{root}:serviceAccount"]
        assert (q["rule"], q["answerKind"], q["objectName"]) == ("R9", "serviceAccount", root)
    # the first job by name whose destination is in the corp forest
    assert qs["forest:corp.example.com:serviceAccount"]["suggested"]["passwordFromJob"] == ids["Contractors to Child"]
    assert qs["forest:partner.example.net:serviceAccount"]["suggested"]["passwordFromJob"] == ids["Partner directory"]


# --- R10: reports -----------------------------------------------------------------------------------
def test_r10_reports_bind_to_the_store_created_for_the_servers_forest(plan: dict[str, Any]) -> None:
    reports = items(plan, "Reports", "Report")
    assert set(reports) == {"Groups by owner", "Expired groups", "Users without manager"}
    for item in reports.values():
        assert (item["action"], item["rule"]) == ("move", "R10")
        assert item["reason"] == "bound to the identity store created for the forest corp.example.com"
    assert "reports:store" not in questions(plan)


# --- R11: schedules ---------------------------------------------------------------------------------
def test_r11_schedules_follow_their_directory_destinations(plan: dict[str, Any]) -> None:
    schedules = items(plan, "Schedules", "Schedule")
    for name in ("Nightly HR", "Fabrikam mixed", "Nightly collection"):
        assert (schedules[name]["action"], schedules[name]["rule"]) == ("move", "R11")
        assert schedules[name]["reason"].startswith(f"the identity store {schedules[name]['target']} of its "
                                                    "directory destinations")
    assert "SynchronizeJobPortal_Nightly HR" in schedules["Nightly HR"]["reason"]
    assert "SmartGroup_Smart Group Update" in schedules["Smart Group Update"]["reason"]


def test_r11_file_only_and_two_store_schedules_are_questions_answered_by_the_sample(plan: dict[str, Any]) -> None:
    asked = {q["id"]: q["objectName"] for q in plan["questions"] if q["id"].startswith("schedule:")}
    assert asked == {"schedule:3:store": "Exports only", "schedule:4:store": "Two stores",
                     "schedule:6:store": "Weekly exports collection", "schedule:11:store": "Corp and Fabrikam"}
    schedules = items(plan, "Schedules", "Schedule")
    assert "only file-based destinations" in schedules["Exports only"]["reason"]
    assert "only file-based destinations" in schedules["Weekly exports collection"]["reason"]
    assert "different identity stores" in schedules["Two stores"]["reason"]


def test_r11_job_collections_are_placed_with_their_jobs(plan: dict[str, Any]) -> None:
    collections = actions(plan, "Synchronize", "JobCollection")
    assert collections == {"Nightly directory feeds": "move", "Weekly exports": "move",
                           "Template: nightly pair": "move"}


# --- R12: warnings for what the vendor does not upgrade ---------------------------------------------
def test_r12_the_google_store_is_skipped_with_a_warning(plan: dict[str, Any]) -> None:
    google = items(plan, "Configuration", "IdentityStore")["Google"]
    assert (google["action"], google["rule"]) == ("skip", "R12")
    assert "Google Workspace identity store 'Google' is not upgraded; create it again in 11." in warnings(plan)


def test_r12_warnings_name_portals_notifications_saml_and_odbc(plan: dict[str, Any]) -> None:
    text = warnings(plan)
    for portal in ("GroupIDPortal", "GroupIDPasswordCenter", "GroupIDHelpdesk"):
        assert any(f"Portal '{portal}' is not upgraded beyond its advanced and design settings" in w for w in text)
    assert "Pending notifications in the email queue are not upgraded." in text
    assert any(w.startswith("SAML configurations are not upgraded") for w in text)
    assert any("'Odbc 6' uses an ODBC system DSN" in w for w in text)
    assert len(text) == 8, text


# --- R12a: the vendor's transformations --------------------------------------------------------------
def test_r12a_insights_becomes_entitlement_and_two_schedules_are_created(plan: dict[str, Any]) -> None:
    schedules = items(plan, "Schedules", "Schedule")
    assert (schedules["Insights"]["action"], schedules["Insights"]["rule"]) == ("transform", "R12a")
    assert "GroupID Entitlement" in schedules["Insights"]["reason"]
    # for every Active Directory store of the target: the upgraded Fabrikam and the four created ones
    for name in ("Entitlement Scope", "Entitlement Temporary Permissions"):
        for store in ("Fabrikam", "corp.example.com", "partner.example.net", "eu.northwind.example.org",
                      "us.northwind.example.org"):
            assert (schedules[f"{name}@{store}"]["action"], schedules[f"{name}@{store}"]["rule"]) == ("create", "R12a")
    assert len([s for s in schedules if s.startswith("Entitlement ")]) == 10


def test_r12a_log_levels_reset_to_error(plan: dict[str, Any]) -> None:
    settings = items(plan, "Configuration", "Setting")
    assert set(settings) == {"ReplicationServiceLogLevel", "DataServiceLogLevel"}
    assert all(i["action"] == "transform" and "reset to Error" in i["reason"] for i in settings.values())


def test_r12a_variable_approvers_become_fixed_guids_and_fixed_ones_stay(plan: dict[str, Any]) -> None:
    approvers = items(plan, "Configuration", "WorkflowApprover")
    assert approvers["Join group"]["action"] == "transform" and "managedBy" in approvers["Join group"]["reason"]
    assert approvers["Create group"]["action"] == "transform"
    assert "additionalOwner" in approvers["Create group"]["reason"]
    assert approvers["Delete group"]["action"] == "copy"


def test_r12a_one_data_source_per_distinct_connection_string_smart_groups_first(plan: dict[str, Any]) -> None:
    sources = [i for i in plan["items"] if i["objectType"] == "DataSource"]
    assert [s["name"] for s in sources] == ["SqlServer 1", "Excel 2", "Excel 3", "Text 4", "Text 5", "Odbc 6", "Text 7"]
    assert "Smart Group" in sources[0]["reason"]
    assert len({s["objectId"] for s in sources}) == len(sources)


def test_r12a_a_hard_coded_script_path_is_a_warning(plan: dict[str, Any]) -> None:
    assert any("'HR staff to Corp'" in w and "hard-coded path" in w for w in warnings(plan))


# --- questions: the template and the sample's answers ----------------------------------------------
def test_r12_the_sample_answers_every_question(plan: dict[str, Any]) -> None:
    assert plan["questions"] and all(q["answered"] for q in plan["questions"])


def test_r12_the_answer_template_lists_exactly_the_open_questions(
        sample: helpers.Sample, engine_log_dir: Path, tmp_path: Path, plan: dict[str, Any]) -> None:
    data = sample.answers
    dropped = ["schedule:4:store", "forest:partner.example.net:serviceAccount"]
    for qid in dropped:
        data["answers"].pop(qid)
    answer_file = sample.write_answers(data, f"answers-template-{tmp_path.name}.json")
    template = tmp_path / "template.json"
    done = helpers.run_cli("plan", "--answer-file", answer_file, "--emit-answer-template", template,
                           log_dir=engine_log_dir)
    assert template.is_file(), done.stderr
    written = json.loads(template.read_text(encoding="utf-8"))["answers"]
    # the user's own answers are kept as written; each open question gets its skeleton or suggestion
    assert sorted(set(written) - set(data["answers"])) == sorted(dropped)
    assert {k: written[k] for k in data["answers"]} == data["answers"]
    assert written["schedule:4:store"] is None
    partner = questions(plan)["forest:partner.example.net:serviceAccount"]["suggested"]
    assert written["forest:partner.example.net:serviceAccount"] == partner
    full = tmp_path / "template-full.json"
    helpers.run_cli("plan", "--answer-file", sample.answer_file, "--emit-answer-template", full,
                    log_dir=engine_log_dir)
    assert json.loads(full.read_text(encoding="utf-8"))["answers"] == sample.answers["answers"]
    answer_file.unlink()
