"""``upgrade.plan``: the inventory against the sample, R4 (the source is read-only), and every
refusal through the real protocol (``python -m groupid_upgrade serve``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import CATALOG, ENGINE_ERROR, INVALID_PARAMS, Cancelled, EngineError
from groupid_upgrade.model.plan import Plan
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.settings_params import PlanParams
from groupid_upgrade.upgrade.blueprint import compute_plan
from groupid_upgrade.upgrade.plan_method import plan_handler
from support import trees

pytest_plugins = ["helpers"]


def plan_of(answer_file: Path, **params: Any) -> Plan:
    return plan_handler(PlanParams(answer_file=answer_file, **params), CollectingReporter())


# --- counting the sample independently --------------------------------------------------------------
def job_elements(path: Path) -> list[ElementTree.Element]:
    root = ElementTree.fromstring(path.read_bytes())
    return root.findall("Job") + root.findall("JobCollection/Job")


def independent_inventory(sample: helpers.Sample) -> dict[str, Any]:
    jobs = sample.jobs_folder
    counts: dict[str, Any] = {}
    counts["identityStores"] = sample.query("SELECT COUNT(*) FROM Svc_IdentityStore")[0][0]
    counts["enabledIdentityStores"] = sample.query(
        "SELECT COUNT(*) FROM Svc_IdentityStore WHERE IsEnabled = 1"
    )[0][0]
    counts["messagingProviders"] = sample.query(
        "SELECT COUNT(DISTINCT m.IdentityStoreId) FROM Svc_MessagingProvider m "
        "JOIN Svc_IdentityStore s ON s.IdentityStoreId = m.IdentityStoreId"
    )[0][0]
    counts["jobs"] = sum(len(job_elements(p)) for p in helpers.dtmconfig_files(jobs, "Jobs"))
    collections = helpers.dtmconfig_files(jobs, "Group Jobs")
    counts["jobCollections"] = len(collections)
    counts["jobsInCollections"] = sum(len(job_elements(p)) for p in collections)
    counts["jobTemplates"] = len(helpers.dtmconfig_files(jobs, "Job Templates"))
    counts["jobCollectionTemplates"] = len(helpers.dtmconfig_files(jobs, "Job Group Templates"))
    counts["unreadableJobFiles"] = 0
    counts["schedules"] = sample.query("SELECT COUNT(*) FROM Svc_Schedule")[0][0]
    counts["reports"] = sample.query("SELECT COUNT(*) FROM Svc_Report")[0][0]
    counts["managedGroups"] = sample.query("SELECT COUNT(*) FROM Svc_ManagedGroup")[0][0]
    counts["historyRows"] = sample.query("SELECT COUNT(*) FROM Hist_History")[0][0]
    groups = dict(
        sample.query("SELECT IdentityStoreId, COUNT(*) FROM Svc_ManagedGroup GROUP BY IdentityStoreId")
    )
    history = dict(
        sample.query("SELECT IdentityStoreId, COUNT(*) FROM Hist_History GROUP BY IdentityStoreId")
    )
    stores = sample.query(
        "SELECT IdentityStoreId, Name, StoreType, DomainName, IsEnabled FROM Svc_IdentityStore "
        "ORDER BY IdentityStoreId"
    )
    counts["stores"] = [
        {
            "id": sid,
            "name": name,
            "type": kind,
            "domain": domain,
            "enabled": bool(enabled),
            "managedGroups": groups.get(sid, 0),
            "historyRows": history.get(sid, 0),
        }
        for sid, name, kind, domain, enabled in stores
    ]
    return counts


def inventory_of(plan: Plan) -> dict[str, Any]:
    data = plan.wire()["inventory"]
    data["stores"] = [
        {k: s[k] for k in ("id", "name", "type", "domain", "enabled", "managedGroups", "historyRows")}
        for s in data["stores"]
    ]
    return data


def test_plan_inventory_matches_the_sample(sample: helpers.Sample) -> None:
    plan = plan_of(sample.answer_file)
    expected = independent_inventory(sample)
    assert inventory_of(plan) == expected
    # and the sample is what its manifest says: the counts are not both zero by accident
    assert expected["historyRows"] == sample.manifest["history"] > 0
    assert expected["jobs"] > 0 and expected["jobCollections"] > 0 and expected["jobsInCollections"] > 0
    assert expected["identityStores"] > expected["enabledIdentityStores"] > 0
    assert len({s["historyRows"] for s in expected["stores"]}) > 1  # per store, not one total


def test_plan_messaging_per_store_matches_the_database(sample: helpers.Sample) -> None:
    plan = plan_of(sample.answer_file)
    by_store = dict(sample.query("SELECT IdentityStoreId, ProviderType FROM Svc_MessagingProvider"))
    assert {s.id: s.messaging for s in plan.inventory.stores if s.messaging} == by_store


def test_plan_modules_and_versions_follow_the_answer_file(sample: helpers.Sample) -> None:
    answers = sample.answers
    plan = plan_of(sample.answer_file)
    assert plan.source_version == answers["source"]["version"]
    assert plan.target_version == answers["target"]["version"]
    plan = plan_of(sample.answer_file, module=["Reports", "Configuration"])
    assert plan.modules == ["Configuration", "Reports"]


def test_plan_counts_follow_the_source(sample_copy: helpers.Sample) -> None:
    before = plan_of(sample_copy.answer_file).inventory
    history_store = max(before.stores, key=lambda s: s.history_rows).id
    group_store = max(before.stores, key=lambda s: s.managed_groups).id
    deleted_history, deleted_groups = 137, 5
    conn = sqlite3.connect(sample_copy.database)
    with conn:
        conn.execute(
            "DELETE FROM Hist_History WHERE HistoryId IN (SELECT HistoryId FROM Hist_History "
            "WHERE IdentityStoreId = ? ORDER BY HistoryId DESC LIMIT ?)",
            (history_store, deleted_history),
        )
        conn.execute(
            "DELETE FROM Svc_ManagedGroup WHERE ManagedGroupId IN (SELECT ManagedGroupId FROM "
            "Svc_ManagedGroup WHERE IdentityStoreId = ? AND GroupType = 2 ORDER BY ManagedGroupId DESC "
            "LIMIT ?)",
            (group_store, deleted_groups),
        )
    conn.close()
    template = helpers.dtmconfig_files(sample_copy.jobs_folder, "Job Templates")[0]
    template.unlink()

    after = plan_of(sample_copy.answer_file).inventory
    assert after.history_rows == before.history_rows - deleted_history
    assert after.managed_groups == before.managed_groups - deleted_groups
    assert after.job_templates == before.job_templates - 1
    for b, a in zip(before.stores, after.stores, strict=True):
        assert a.history_rows == b.history_rows - (deleted_history if b.id == history_store else 0)
        assert a.managed_groups == b.managed_groups - (deleted_groups if b.id == group_store else 0)
    assert after.jobs == before.jobs and after.schedules == before.schedules


def test_plan_counts_unreadable_job_files(faults_sample: helpers.Sample) -> None:
    plan = plan_of(faults_sample.answer_file)
    readable = 0
    unreadable = 0
    for path in helpers.dtmconfig_files(faults_sample.jobs_folder, "Jobs"):
        try:
            ElementTree.fromstring(path.read_bytes())
        except ElementTree.ParseError:
            unreadable += 1
            continue
        text = path.read_text(encoding="utf-8")
        if 'ConnectionString="Domain=&quot;' in text:
            unreadable += 1  # the unterminated quote of the unparseable destination
        else:
            readable += 1
    assert unreadable == 2
    assert plan.inventory.unreadable_job_files == unreadable
    assert plan.inventory.jobs == readable


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7])
def test_r16_database_damaged_inside_is_database_unreadable(
    sample_copy: helpers.Sample, where: float
) -> None:
    data = bytearray(sample_copy.database.read_bytes())
    start, size = int(len(data) * where), len(data) // 8
    data[start : start + size] = b"\xab" * size  # the header and the size stay right: it opens
    sample_copy.database.write_bytes(bytes(data))
    with pytest.raises(EngineError) as info:
        plan_of(sample_copy.answer_file)
    assert info.value.error_id == "DatabaseUnreadable"
    assert str(sample_copy.database) in info.value.message


# --- R4: the source is read-only --------------------------------------------------------------------
def test_r4_plan_leaves_the_source_unchanged(sample_copy: helpers.Sample, engine_log_dir: Path) -> None:
    before = trees.snapshot(sample_copy.root)
    assert any(k.endswith(".db") for k in before) and any(k.endswith(".dtmconfig") for k in before)
    plan_of(sample_copy.answer_file)
    plan_of(sample_copy.answer_file, module=["Everything"])
    cli = helpers.run_cli("plan", "--answer-file", sample_copy.answer_file, "--json", log_dir=engine_log_dir)
    assert cli.returncode == 0, cli.stderr
    session = helpers.serve([helpers.plan_request(sample_copy.answer_file)], log_dir=engine_log_dir)
    session.result(1)
    trees.assert_unchanged(sample_copy.root, before, "the sample")


class CancelAfter(CollectingReporter):
    """Cancels the request at its ``n``-th progress call (the 2nd comes after the source was read)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.calls = 0

    def progress(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls >= self.n:
            raise Cancelled("the plan")
        super().progress(*args, **kwargs)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_r4_failed_plan_leaves_the_source_unchanged(sample_copy: helpers.Sample, n: int) -> None:
    before = trees.snapshot(sample_copy.root)
    answers = load_answer_file(sample_copy.answer_file)
    reporter = CancelAfter(n)
    with pytest.raises(EngineError) as info:
        compute_plan(answers, reporter)
    assert info.value.error_id == "RequestCancelled"
    assert reporter.calls == n
    trees.assert_unchanged(sample_copy.root, before, "the sample")


def test_r4_refused_plans_leave_the_source_unchanged(sample: helpers.Sample, error_session: Any) -> None:
    # error_session ran every failing plan against the shared sample's folders and database.
    _cases, _session, before = error_session
    trees.assert_unchanged(sample.source, before, "the source")


# --- refusals through the protocol ------------------------------------------------------------------
@pytest.fixture(scope="module")
def error_session(
    sample: helpers.Sample, tmp_path_factory: pytest.TempPathFactory, engine_log_dir: Path
) -> tuple[dict[str, helpers.ErrorCase], helpers.ServeSession, trees.Snapshot]:
    before = trees.snapshot(sample.source)
    cases = helpers.build_error_cases(sample, tmp_path_factory.mktemp("plan-errors"))
    session = helpers.serve([helpers.plan_request(c.answer_file) for c in cases], log_dir=engine_log_dir)
    by_name = {}
    for i, case in enumerate(cases, start=1):
        by_name[case.name] = case
        session.responses[case.name] = session.responses[i]
    return by_name, session, before


CASE_NAMES = [
    "source-version-8",
    "source-version-11",
    "target-version-12",
    "unsupported-pair",
    "unknown-module",
    "module-without-dependency",
    "missing-source-folder",
    "garbage-database",
    "truncated-database",
    "corrupted-database",
    "missing-database",
    "unknown-top-level-key",
    "unknown-nested-key",
    "unknown-keys-everywhere",
    "wrong-type",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_plan_refusal_over_the_protocol(error_session: Any, name: str) -> None:
    cases, session, _ = error_session
    case = cases[name]
    error = session.error(name)
    assert error["data"]["errorId"] == case.error_id
    assert error["data"]["category"] == CATALOG[case.error_id].category
    for culprit in case.culprit:
        assert culprit in error["message"], (culprit, error["message"])
    if case.error_id == "AnswerFileInvalid":
        assert error["code"] == INVALID_PARAMS == -32602
        fields = [e["field"] for e in error["data"]["errors"]]
        assert sorted(fields) == sorted(case.bad_fields)
        assert str(case.answer_file) in error["message"]
    else:
        assert -32099 <= error["code"] <= ENGINE_ERROR == -32000
    assert "Traceback" not in error["message"]


def test_plan_refusals_write_no_traceback(error_session: Any) -> None:
    _cases, session, _ = error_session
    assert set(CASE_NAMES) <= set(session.responses)
    assert "Traceback" not in session.stderr
    assert all("Traceback" not in line for line in session.stdout_lines)
    assert session.exit_code == 0  # the server went on serving after each refusal, then shut down
    assert session.result("shutdown") is None


def test_plan_over_the_protocol_equals_the_in_process_plan(
    sample: helpers.Sample, engine_log_dir: Path
) -> None:
    session = helpers.serve(
        [
            helpers.plan_request(sample.answer_file),
            helpers.plan_request(sample.answer_file, module=["Configuration"]),
        ],
        log_dir=engine_log_dir,
    )
    assert session.result(1) == plan_of(sample.answer_file).wire()
    assert session.result(2)["modules"] == ["Configuration"]
    progress = [n for n in helpers.iter_records(session, "$/progress") if n["requestId"] == 1]
    assert progress and progress[-1]["completed"] is True
    assert "Traceback" not in session.stderr
