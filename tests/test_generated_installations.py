"""The rules proved on generated installations (issue 17; docs/generated-installations.md).

Every example is a GroupID 9.0/10.0 installation written in the documented format by
``support.installations``; it is planned (with rootDSE facts where drawn), answered as its answer
policy says, planned again, and, when every question is answered and no fact needs a server, run
on SQLite and run again. The invariants are those of the issue: every source object in exactly
one plan item; the rule tag and the target the rules give (``support.rules_model``); questions
asked exactly when a rule needs an answer; wrong-type answers refused; the target holding exactly
what the plan said; a re-run changing nothing but its run row; the source byte-identical.

Sizes: ``ci`` (default) 300 installations; ``GROUPID_GENERATED_PROFILE=full`` 5,000.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.crypto import SecretBox
from groupid_upgrade.model.settings import AnswerFile
from groupid_upgrade.planning.modules import DEPENDENCIES
from groupid_upgrade.planning.planner import Blueprint
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.upgrade.run_method import run_upgrade
from support import trees
from support.engine_runs import absolute_settings, environment, pfx_file, plan_estate
from support.installations import (
    PFX_PASSWORD,
    TARGET_PASSPHRASE,
    Estate,
    WrittenEstate,
    default_folder_environment,
    estates,
    write_estate,
)
from support.rules_model import Expected, Model, Placement, bare

PROFILES = {"ci": 300, "full": 5_000}
PROFILE = os.environ.get("GROUPID_GENERATED_PROFILE", "ci")
EXAMPLES = int(os.environ.get("GROUPID_GENERATED_EXAMPLES", PROFILES.get(PROFILE, PROFILES["ci"])))
# GROUPID_GENERATED_RUN=0 checks plans only (the mutation runs of planning/, docs/generated-installations.md)
RUNS = os.environ.get("GROUPID_GENERATED_RUN", "1") != "0"
ORDER_EXAMPLES = max(EXAMPLES // 15, 20)
# GROUPID_GENERATED_SHRINK=0 reports the first failing estate unshrunk (mutation runs, rule breaks: speed)
PHASES = tuple(Phase) if os.environ.get("GROUPID_GENERATED_SHRINK", "1") != "0" else (
    Phase.explicit, Phase.reuse, Phase.generate)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=PROFILE == "ci", phases=PHASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- planning and answering -------------------------------------------------------------------
def answer_for(question: Any, estate: Estate, pick: int) -> Any:
    policy = estate.answers
    if question.answer_kind == "pfxCredentials":
        return {"clientSecret": "generated-client-secret", "pfxFile": pfx_file(), "pfxPassword": PFX_PASSWORD}
    if question.answer_kind == "serviceAccount":
        suggested = question.suggested or {}
        if policy.gmsa:
            return {"userName": "GEN\\gmsa-groupid$"}
        return {"userName": suggested.get("userName") or "GEN\\svc", "passwordFromJob": suggested["passwordFromJob"]}
    if question.answer_kind == "storeId":
        choices = question.choices or []
        return choices[pick % len(choices)]["storeId"] if choices else None
    if question.answer_kind == "reportsStore":
        domain = bare(estate.server_domain) or "corp.com"
        if policy.wrong_reports == "entra":
            return {"type": "MicrosoftAzure", "domain": domain, "serviceAccount": {"userName": "GEN\\gmsa$"}}
        if policy.wrong_reports == "otherStore" and estate.stores:
            return estate.stores[pick % len(estate.stores)].id
        return {"type": "ActiveDirectory", "domain": domain, "name": "Reports store",
                "serviceAccount": {"userName": "GEN\\gmsa-reports$"}}
    raise AssertionError(f"unknown answer kind {question.answer_kind}")


def answers_for(estate: Estate, blueprint: Blueprint) -> dict[str, Any]:
    policy = estate.answers
    out: dict[str, Any] = {}
    for n, question in enumerate(sorted(blueprint.plan.questions, key=lambda q: q.id)):
        if policy.mode == "none" or (policy.mode == "some" and not policy.flags[n % len(policy.flags)]):
            continue
        value = answer_for(question, estate, policy.picks[n % len(policy.picks)])
        if value is not None:
            out[question.id] = value
    return out


# --- the invariants -----------------------------------------------------------------------------
def source_objects(estate: Estate) -> Counter[tuple[str, str]]:
    objects: Counter[tuple[str, str]] = Counter()
    approver = 0
    for store in estate.stores:
        objects[("IdentityStore", str(store.id))] += 1
        objects[("History", str(store.id))] += 1
        if store.messaging is not None:
            objects[("MessagingProvider", str(100 + store.id))] += 1
        for _ in store.approvers:
            approver += 1
            objects[("WorkflowApprover", str(approver))] += 1
    for job in estate.all_jobs() + estate.templates + [j for c in estate.collection_templates for j in c.jobs]:
        objects[("SyncJob", job.id)] += 1
    for coll in estate.collections + estate.collection_templates:
        objects[("JobCollection", coll.id)] += 1
    for sched in estate.schedules:
        objects[("Schedule", str(sched.id))] += 1
    for n in range(1, len(estate.reports) + 1):
        objects[("Report", str(n))] += 1
    return objects


def store_name(estate: Estate, placement: Placement) -> str | None:
    if placement.kind == "store":
        return next(s.name for s in estate.stores if s.id == placement.store)
    if placement.kind == "new":
        return placement.root
    return None


def check_plan(estate: Estate, blueprint: Blueprint, exp: Expected) -> None:
    plan_ = blueprint.plan
    items = plan_.items
    created = {("IdentityStore", i.object_id) for i in items if i.action == "create"} | {
        (i.object_type, i.object_id) for i in items if i.object_type in ("DataSource", "Setting", "ReplicationAttributes")
        or (i.object_type == "Schedule" and i.action == "create") or (i.object_type == "Schedule" and
                                                                      i.rule == "R16")}
    seen = Counter((i.object_type, i.object_id) for i in items if (i.object_type, i.object_id) not in created)
    wanted = source_objects(estate)
    assert seen == wanted, f"objects lost or doubled: missing {wanted - seen}, extra {seen - wanted}"
    modules = {"SyncJob": {"Synchronize"}, "JobCollection": {"Synchronize"}, "Report": {"Reports"},
               "History": {"History"}, "MessagingProvider": {"Configuration"}, "WorkflowApprover": {"Configuration"},
               "Schedule": {"Schedules", "Reports"}, "IdentityStore": {"Configuration", "Synchronize", "Reports"}}
    for item in items:
        assert item.reason and item.rule, f"item without reason or rule: {item}"
        assert item.module in modules.get(item.object_type, {"Configuration"}), f"item in another module: {item}"
        if item.target is not None:
            assert item.target in item.reason, f"the reason names another store than {item.target!r}: {item}"
        assert "1 jobs" not in item.reason and "to chosen" not in item.reason, item
    by_key = {(i.object_type, i.object_id): i for i in items}
    # stores: created for destination directory domains only, one per forest
    new = {i.name: i for i in items if i.object_type == "IdentityStore" and i.action == "create"
           and i.module == "Synchronize"}
    assert set(new) == set(exp.new_stores), f"new stores {sorted(new)} but the rules create {sorted(exp.new_stores)}"
    for root, item in new.items():
        assert item.rule == "R9"
        for domain in exp.new_stores[root]:
            assert domain in item.reason, (root, item.reason)
    for store in estate.stores:
        item = by_key[("IdentityStore", str(store.id))]
        want = ("skip", "R3") if not store.enabled else ("skip", "R12") if store.type == "GoogleWorkspace" \
            else ("convert", "R2")
        assert (item.action, item.rule) == want, f"store {store.id}: {item}"
        hist = by_key[("History", str(store.id))]
        assert (hist.action, hist.rule) == ("move", "R14") if want[0] == "convert" else (hist.action, hist.rule) == \
            ("skip", want[1]), hist
    for job_id, placement in exp.placements.items():
        item = by_key[("SyncJob", job_id)]
        got = (item.action, item.rule, item.target)
        want_job = ("skip" if placement.kind == "skip" else "move", placement.rule, store_name(estate, placement))
        assert got == want_job, f"job {item.name}: plan says {got}, the rules {want_job} ({item.reason})"
    for coll in estate.collections + estate.collection_templates:
        item = by_key[("JobCollection", coll.id)]
        placed = [exp.placements[j.id] for j in coll.jobs]
        if all(p.kind == "skip" for p in placed):
            want_coll = ("skip", "R12" if all(p.rule == "R12" for p in placed) else "R3", None)
        else:
            names = {store_name(estate, p) for p in placed if p.kind != "skip"} - {None}
            want_coll = ("move", "R8", names.pop() if len(names) == 1 else None)
        assert (item.action, item.rule, item.target) == want_coll, f"collection {coll.name}: {item}"
    asked = {q.id for q in plan_.questions}
    assert asked == exp.questions, f"asked {sorted(asked - exp.questions)} needlessly, " \
                                   f"not asked {sorted(exp.questions - asked)}"
    for q in plan_.questions:
        assert q.rule, q
    for sched in estate.schedules:
        item = by_key[("Schedule", str(sched.id))]
        want_s = exp.schedules[sched.id]
        if want_s.kind == "skip":
            assert (item.action, item.rule) == ("skip", want_s.rule), f"schedule {sched.name}: {item}"
        elif want_s.kind == "question":
            assert (item.action, item.rule) == ("move", "R11"), f"schedule {sched.name}: {item}"
        elif want_s.kind == "none":
            assert (item.action, item.rule, item.target) == ("move", "R11", None), f"schedule {sched.name}: {item}"
        else:
            action = "transform" if sched.job_type == "Insights" else "move"
            assert (item.action, item.rule, item.target) == (action, want_s.rule, store_name(estate, want_s)), \
                f"schedule {sched.name}: {item}"
    if exp.reports is not None:
        for n in range(1, len(estate.reports) + 1):
            item = by_key[("Report", str(n))]
            if exp.reports.kind == "skip":
                assert (item.action, item.rule) == ("skip", "R3"), item
            elif exp.reports.kind != "question":
                assert (item.action, item.rule, item.target) == ("move", "R10", store_name(estate, exp.reports)), item
    # R12a: both Entitlement schedules for every Active Directory store of the target, upgraded or created
    types = {str(st_.id): st_.type for st_ in estate.stores}
    ad_stores = {i.name for i in items if i.object_type == "IdentityStore" and
                 (i.action == "create" or (i.action == "convert" and types[i.object_id] == "ActiveDirectory"))}
    for name in ("Entitlement Scope", "Entitlement Temporary Permissions"):
        have = {i.target for i in items if i.object_type == "Schedule" and i.action == "create" and i.name == name}
        assert have == ad_stores, f"R12a: {name} created for {sorted(map(str, have))}, not for {sorted(ad_stores)}"


def check_answered(estate: Estate, first: Blueprint, second: Blueprint, given: dict[str, Any]) -> None:
    asked = {q.id for q in first.plan.questions}
    assert {q.id for q in second.plan.questions} == asked | ({"reports:store"} & {q.id for q in second.plan.questions})
    for q in second.plan.questions:
        if q.id not in given:
            assert not q.answered, q
            continue
        wrong = q.id == "reports:store" and (estate.answers.wrong_reports == "entra" or (
            estate.answers.wrong_reports == "otherStore" and bool(estate.stores)))
        if wrong:
            assert not q.answered and q.problem and q.problem["errorId"] == "AnswerInvalid", \
                f"R10: a wrong-type reports answer was accepted: {given[q.id]!r} -> {q}"
        else:
            assert q.answered, f"a valid answer was refused: {q.id}: {q.problem}"


def dump(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def check_run(estate: Estate, written: WrittenEstate, settings_: AnswerFile, blueprint: Blueprint) -> None:
    before = trees.snapshot(written.source)
    result = run_upgrade(settings_, CollectingReporter())
    failures = [f for m in result.modules for f in m.failures]
    assert result.status == "Succeeded", f"run {result.status}: {failures}"
    db = written.root / "target" / "GroupID11.db"
    first = dump(db)
    ids = {name: sid for sid, name in blueprint.target_store_names.items()}
    items = blueprint.plan.items

    def planned(object_type: str, actions: tuple[str, ...] = ("move",)) -> dict[str, int | None]:
        return {i.object_id: (ids[i.target] if i.target else None) for i in items
                if i.object_type == object_type and i.action in actions}

    def written_rows(table: str, key: int, store: int) -> dict[str, int | None]:
        return {str(r[key]): r[store] for r in first[table]}

    assert written_rows("Gid_SyncJob", 0, 1) == planned("SyncJob")
    assert written_rows("Gid_JobCollection", 0, 1) == planned("JobCollection")
    assert written_rows("Gid_ReportBinding", 0, 1) == planned("Report")
    schedules = {k: v for k, v in written_rows("Gid_Schedule", 0, 2).items() if not k.startswith("Entitlement:")}
    assert schedules == planned("Schedule", ("move", "transform"))
    entitlement = sorted(k for k in written_rows("Gid_Schedule", 0, 2) if k.startswith("Entitlement:"))
    assert entitlement == sorted(f"Entitlement:{i.object_id}" for i in items
                                 if i.object_type == "Schedule" and i.action == "create")
    stores = {str(r[0]) for r in first["Gid_IdentityStore"]}
    assert stores == {i.object_id for i in items if i.object_type == "IdentityStore" and i.action in ("convert", "create")}
    assert {str(r[0]) for r in first["Gid_MessagingProvider"]} == set(planned("MessagingProvider", ("convert",)))
    assert {str(r[0]) for r in first["Gid_WorkflowApprover"]} == set(
        planned("WorkflowApprover", ("copy", "transform")))
    per_store = Counter(r[1] for r in first["Gid_History"])
    moved = {int(i.object_id) for i in items if i.object_type == "History" and i.action == "move"}
    assert per_store == Counter({s.id: len(s.history) for s in estate.stores if s.id in moved and s.history})
    # a re-run changes nothing but its own run row
    again = run_upgrade(settings_, CollectingReporter())
    assert again.status == "Succeeded"
    second = dump(db)
    assert len(second["Upg_Run"]) == len(first["Upg_Run"]) + 1
    assert {k: v for k, v in second.items() if k != "Upg_Run"} == {k: v for k, v in first.items() if k != "Upg_Run"}
    trees.assert_unchanged(written.source, before, "R4: the source the run read")


def check_estate(estate: Estate, *, run: bool = True) -> None:
    with tempfile.TemporaryDirectory(prefix="generated-") as tmp:
        written = write_estate(estate, Path(tmp))
        env = default_folder_environment(written) if estate.default_folders else {}
        with environment(env):
            _, first = plan_estate(written, {}, estate.ldap_roots)
            exp = Model(estate, estate.ldap_roots).expected()
            check_plan(estate, first, exp)
            given = answers_for(estate, first)
            settings_, second = plan_estate(written, given, estate.ldap_roots)
            check_answered(estate, first, second, given)
            fully = estate.answers.mode == "all" and not (
                estate.answers.wrong_reports and "reports:store" in given)
            if fully:
                assert not second.plan.open_questions, \
                    f"every question answered, yet open: {[(q.id, q.problem) for q in second.plan.open_questions]}"
            if not second.plan.open_questions and run and RUNS and not estate.ldap_roots:
                written_settings = {**written.settings, "answers": given}
                settings_ = load_answer_file(None, inline=absolute_settings(written_settings, written.root))
                check_run(estate, written, settings_, second)


# the full profile runs far longer than the suite's per-test timeout
FULL_TIMEOUT = pytest.mark.timeout(0 if PROFILE == "full" else 600)


@FULL_TIMEOUT
@SETTINGS
@given(estates())
def test_generated_installations_keep_every_invariant(estate: Estate) -> None:
    check_estate(estate)


ORDER_MODULES = ("Configuration", "Synchronize", "Schedules", "Reports", "History")
ENCRYPTED = re.compile(r"enc:v1:[A-Za-z0-9+/=]+")


def with_dependencies(module: str) -> list[str]:
    need = {module}
    while True:
        more = {d for m in need for d in DEPENDENCIES[m]} - need
        if not more:
            return [m for m in ORDER_MODULES if m in need]
        need |= more


def comparable_target(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The target as data: secrets decrypted (nonces and salts differ between targets), the
    bookkeeping of runs (ids, times) left out."""
    tables = dump(db)
    conn = sqlite3.connect(db)
    salt = dict(conn.execute('SELECT Name, Value FROM "Upg_Setting"'))["PassphraseSalt"]
    conn.close()
    box = SecretBox(TARGET_PASSPHRASE, salt, owner="target")

    def plain(value: Any) -> Any:
        if isinstance(value, str):
            return ENCRYPTED.sub(lambda m: "decrypted:" + box.decrypt(m.group(0), what="test"), value)
        return value

    out = {name: sorted((tuple(plain(v) for v in row) for row in rows), key=repr)
           for name, rows in tables.items() if name not in ("Upg_Run", "Upg_Setting", "Upg_Ledger")}
    out["Upg_Ledger"] = sorted((row[0], row[1], row[2]) for row in tables["Upg_Ledger"])
    return out


def run_modules(written: WrittenEstate, given: dict[str, Any], modules: list[str], target: str) -> None:
    data = absolute_settings({**written.settings, "answers": given, "modules": modules}, written.root)
    data["target"] = {**data["target"], "database": {"kind": "sqlite", "path": str(written.root / target / "t.db")},
                      "programFiles": str(written.root / target / "pf"),
                      "programData": str(written.root / target / "pd")}
    result = run_upgrade(load_answer_file(None, inline=data), CollectingReporter())
    assert result.status == "Succeeded", (modules, [f for m in result.modules for f in m.failures])


@FULL_TIMEOUT
@settings(max_examples=ORDER_EXAMPLES, deadline=None, derandomize=PROFILE == "ci",
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(estates(with_ldap_facts=False), st.permutations(ORDER_MODULES))
def test_modules_one_run_at_a_time_end_in_the_same_target(estate: Estate, order: list[str]) -> None:
    """R2: each module run on its own (with the modules it needs, as upgrade.run requires), in any
    order, ends in the same target as one run of all of them."""
    estate.answers.mode, estate.answers.wrong_reports = "all", None
    with tempfile.TemporaryDirectory(prefix="generated-order-") as tmp:
        written = write_estate(estate, Path(tmp))
        env = default_folder_environment(written) if estate.default_folders else {}
        with environment(env):
            _, first = plan_estate(written, {}, {})
            given_ = answers_for(estate, first)
            run_modules(written, given_, list(ORDER_MODULES), "together")
            for module in order:
                run_modules(written, given_, with_dependencies(module), "one-by-one")
        together = comparable_target(written.root / "together" / "t.db")
        one_by_one = comparable_target(written.root / "one-by-one" / "t.db")
        for table in together:
            assert one_by_one.get(table) == together[table], f"{table} differs after the runs {order}"
