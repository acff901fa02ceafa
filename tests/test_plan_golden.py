"""The whole plan, word for word, of fixed installations: what an admin reads and what a run writes.

The rule tests and the generated invariants check what a plan decides (which store, which rule, which
question). They do not read the words of a reason, a warning or a question, nor the rows a unit will
write; a change there is a change the admin sees (or a row the target gets) and deserves a review. So
each installation below is planned and its blueprint (every plan item, question, warning and the
payload of every unit) is compared with ``tests/golden/<name>.json``, a reviewed copy.

After an intended change: ``GROUPID_UPDATE_GOLDEN=1 python -m pytest tests/test_plan_golden.py``
rewrites the files; review their diff like code (docs/generated-installations.md, "Golden plans").

What is not stable is normalised, never dropped: the folder the installation was written to
(``<root>``), the test PFX's folder (``<pfx>``), and ciphertexts (random nonces: ``enc:v1:<ciphertext>``;
that they decrypt to the source's secrets is checked by the run tests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import EngineError
from groupid_upgrade.planning.planner import Blueprint, Facts, SourceSnapshot
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.sample.generator import SampleSpec, generate_sample
from groupid_upgrade.upgrade.blueprint import compute_blueprint
from support.engine_runs import environment, pfx_file, plan_estate
from support.installations import (
    AnswerPolicy,
    CollectionSpec,
    Estate,
    JobSpec,
    ScheduleSpec,
    Side,
    StoreSpec,
    default_folder_environment,
    write_estate,
)
from test_generated_installations import answers_for

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GROUPID_UPDATE_GOLDEN") == "1"
CIPHERTEXT = re.compile(r"enc:v1:[A-Za-z0-9+/=]+")


# --- the installations ----------------------------------------------------------------------------
def _ad(domain: str) -> Side:
    return Side("ActiveDirectory", domain)


def _job(n: int, source: Side, destination: Side, **kw: Any) -> JobSpec:
    return JobSpec(id=f"6f1c{n:04d}-0000-4000-8000-{n:012d}", name=f"Job {n}", source=source,
                   destination=destination, **kw)


def dense(**changes: Any) -> Estate:
    """Every kind of store, forests with children, grandchildren, siblings and look-alikes, jobs of every
    side, collections spanning stores, templates, every schedule kind, reports and history."""
    stores = [
        StoreSpec(1, "Corp", "ActiveDirectory", "corp.com", True, messaging="Exchange2016",
                  history=[("IdentityStore", "OwnershipChange"), ("Synchronize", "JobRun"), ("IdentityStore", "SomethingNew")],
                  approvers=[("Variable", "managedBy"), ("Fixed", "0b6f4e7a-3f3c-4d2b-8a51-2c9e1d7f6a30")]),
        StoreSpec(2, "Corp AU", "ActiveDirectory", "CORP.COM.AU.", False, messaging="Office365",
                  history=[("Helpdesk", "PasswordReset")], approvers=[("Variable", "additionalOwner")]),
        StoreSpec(3, "Tenant", "MicrosoftAzure", "tenant.onmicrosoft.com", True, messaging="Office365",
                  history=[("AdminCenter", "AdminCenterChange")]),
        StoreSpec(4, "Directory", "GenericLdap", "ldap.example.net", True, messaging="Other"),
        StoreSpec(5, "Google", "GoogleWorkspace", "Xcorp.com", True, messaging="GoogleWorkspace"),
        StoreSpec(6, "Child", "ActiveDirectory", "b.xcorp.com", True),
    ]
    jobs = [
        _job(1, Side("Text"), _ad("corp.com")),
        _job(2, _ad("corp.com"), _ad("a.corp.com"), office365=True),
        _job(3, Side("SqlServer", variant=1), _ad("X.A.Corp.Com.")),
        _job(4, _ad("us.example.org"), Side("Excel", variant=2)),
        _job(5, Side("Oracle"), _ad("eu.example.org"), script='Dim p = "C:\\Scripts\\map.vb"'),
        _job(6, Side("Text", variant=2), _ad("b.xcorp.com")),
        _job(7, Side("Excel"), Side("Text")),
        _job(8, Side("Access"), _ad("corp.com.au")),
        _job(9, Side("Scim"), Side("MicrosoftAzure", "tenant.onmicrosoft.com"), office365=True,
             script='Return Source("Id")'),
        _job(10, Side("Odbc"), Side("GenericLdap", "ldap.example.net")),
        _job(11, Side("Access", variant=1), Side("GoogleWorkspace", "xcorp.com")),
        _job(12, Side("Text"), _ad("us.example.org")),
    ]
    collections = [
        CollectionSpec("7a2d0001-0000-4000-8000-000000000001", "Spanning",
                       [_job(21, Side("Text"), _ad("b.corp.com")), _job(22, _ad("corp.com"), _ad("corp.com.au"))]),
        CollectionSpec("7a2d0002-0000-4000-8000-000000000002", "Files only", [_job(23, Side("Excel"), Side("Text"))]),
        CollectionSpec("7a2d0003-0000-4000-8000-000000000003", "New forest",
                       [_job(24, Side("Text"), _ad("example.org"), office365=True)]),
    ]
    schedules = [
        ScheduleSpec(1, "Corp jobs", "Synchronize", None, [("Job", jobs[0].id), ("Job", jobs[1].id)]),
        ScheduleSpec(2, "Files", "Synchronize", None, [("Job", jobs[6].id)]),
        ScheduleSpec(3, "Two forests", "Synchronize", None, [("Job", jobs[0].id), ("Job", jobs[4].id)]),
        ScheduleSpec(4, "Collections", "Synchronize", None, [("JobCollection", collections[0].id),
                                                              ("JobCollection", collections[1].id)]),
        ScheduleSpec(5, "Empty", "Synchronize", None, []),
        ScheduleSpec(6, "Disabled store jobs", "Synchronize", None, [("Job", jobs[7].id)]),
        ScheduleSpec(7, "Smart Groups", "SmartGroupUpdate", 1, []),
        ScheduleSpec(8, "Insights", "Insights", 1, []),
        ScheduleSpec(9, "AU reports", "Reports", 2, []),
        ScheduleSpec(10, "Retention", "HistoryRetention", 3, []),
        ScheduleSpec(11, "Life cycle", "GroupLifeCycle", 4, []),
        ScheduleSpec(12, "Google insights", "Insights", 5, []),
    ]
    estate = Estate(
        server_domain="Corp.com", stores=stores, jobs=jobs, collections=collections,
        templates=[_job(31, Side("Text"), _ad("corp.com")), _job(32, Side("Excel"), _ad("fresh.example.org"))],
        collection_templates=[CollectionSpec("7a2d0004-0000-4000-8000-000000000004", "Template collection",
                                             [_job(33, Side("Text"), _ad("a.corp.com"))])],
        schedules=schedules, reports=["Report 0", "Report 1"], answers=AnswerPolicy(mode="none"))
    return dataclasses.replace(estate, **changes)


def no_stores(**changes: Any) -> Estate:
    """No identity store at all: every store is one the upgrade creates (R9, R10, R12a)."""
    jobs = [_job(1, Side("Text"), _ad("corp.com")), _job(2, _ad("corp.com"), _ad("eu.example.org")),
            _job(3, Side("Excel"), _ad("us.example.org")), _job(4, Side("Odbc"), Side("SqlServer"))]
    estate = Estate(
        server_domain="xcorp.com", stores=[], jobs=jobs,
        schedules=[ScheduleSpec(1, "All", "Synchronize", None, [("Job", jobs[0].id), ("Job", jobs[1].id)]),
                   ScheduleSpec(2, "Data", "Synchronize", None, [("Job", jobs[3].id)])],
        reports=["Report 0"], answers=AnswerPolicy(mode="all", gmsa=False))
    return dataclasses.replace(estate, **changes)


ESTATES: dict[str, Callable[[], Estate]] = {
    "dense-unanswered": dense,
    "dense-answered": lambda: dense(answers=AnswerPolicy(mode="all", gmsa=False, picks=[0, 1, 2])),
    "dense-answered-gmsa": lambda: dense(answers=AnswerPolicy(mode="all", gmsa=True, picks=[1])),
    "dense-some-answered": lambda: dense(answers=AnswerPolicy(mode="some", flags=[True, False], picks=[2, 0])),
    "dense-ldap-facts": lambda: dense(ldap_roots={"a.corp.com": "corp.com", "x.a.corp.com": "corp.com",
                                                  "eu.example.org": "example.org", "us.example.org": "example.org",
                                                  "b.xcorp.com": "b.xcorp.com"},
                                      answers=AnswerPolicy(mode="all", picks=[1])),
    "dense-9": lambda: dense(version="9.0", version_written="9", product_version="9.0.1152.0", default_folders=True,
                             answers=AnswerPolicy(mode="all", picks=[3])),
    # the server's domain is the disabled store's: its reports are skipped (R3)
    "dense-reports-disabled-store": lambda: dense(server_domain="CORP.COM.AU.", answers=AnswerPolicy(mode="all")),
    # the server's domain has a store, but no Active Directory one: the reports question, answered right
    # and wrong (R10)
    "dense-reports-answered": lambda: dense(server_domain="ldap.example.net", answers=AnswerPolicy(mode="all")),
    "dense-reports-entra": lambda: dense(server_domain="ldap.example.net",
                                         answers=AnswerPolicy(mode="all", wrong_reports="entra")),
    "dense-reports-other-store": lambda: dense(server_domain="ldap.example.net",
                                               answers=AnswerPolicy(mode="all", wrong_reports="otherStore", picks=[2])),
    "no-stores": no_stores,
    "no-stores-unanswered": lambda: no_stores(answers=AnswerPolicy(mode="none")),
}

# Answers an admin may get wrong, one of each way per question kind (AnswerInvalid, with what is expected)
_JOB_2 = "job:6f1c0002-0000-4000-8000-000000000002:o365Credentials"
_JOB_9 = "job:6f1c0009-0000-4000-8000-000000000009:o365Credentials"
WRONG_ANSWERS: dict[str, tuple[Callable[[], Estate], dict[str, Any]]] = {
    "dense-wrong-answers": (dense, {
        "schedule:2:store": 99, "schedule:3:store": "the corp store", "schedule:5:store": [1],
        "forest:example.org:serviceAccount": "EXAMPLE\\svc",
        "entra:3:credentials": {"clientSecret": 5},
        "o365:3:credentials": {},
        _JOB_2: {"clientSecret": "s", "pfxFile": "missing.pfx", "pfxPassword": "p"},
        _JOB_9: "not an object",
        "job:6f1c0024-0000-4000-8000-000000000024:o365Credentials": None,
        "schedule:77:store": 1,
    }),
    "dense-wrong-service-account": (dense, {
        "forest:example.org:serviceAccount": {"userName": "EXAMPLE\\svc"},
        "schedule:2:store": "3",
    }),
    "no-stores-wrong-reports-type": (no_stores, {"reports:store": {"type": "GenericLdap", "domain": "xcorp.com"}}),
    "no-stores-wrong-reports-domain": (no_stores, {"reports:store": {"domain": "other.org", "name": "Elsewhere",
                                                                       "serviceAccount": {"userName": "OTHER\\gmsa$"}}}),
    "no-stores-wrong-reports-id": (no_stores, {"reports:store": "7"}),
    "no-stores-wrong-reports-shape": (no_stores, {"reports:store": {"domain": 5, "serviceAccount": "x"}}),
    "no-server-domain-reports-id": (lambda: no_stores(server_domain=None), {"reports:store": 7}),
    "no-stores-wrong-reports-empty-domain": (no_stores, {"reports:store": {
        "domain": "", "serviceAccount": {"userName": "X\\gmsa$"}}}),
    "no-stores-wrong-reports-account": (no_stores, {"reports:store": {
        "domain": "xcorp.com", "serviceAccount": {"userName": 5}}}),
    "no-stores-reports-forest-root": (no_stores, {"reports:store": {"domain": "XCORP.COM.", "name": "Reports",
                                                                      "serviceAccount": {"userName": "X\\gmsa$"}}}),
}

# What the format writer cannot write, or servers would tell: planned from an edited snapshot or with facts
def _smart_groups(snap: SourceSnapshot) -> SourceSnapshot:
    """Managed groups' data sources (one identity whatever the case, order and password; a value holding a
    semicolon; no provider) and scripts, one with a hard-coded path."""
    return dataclasses.replace(
        snap,
        smart_group_data_sources=["Provider=SqlServer;Server=sql01;Database=HR;Password=first",
                                  "server=sql01;PROVIDER=SqlServer;database=HR;PWD=second",
                                  "Provider=Odbc;Dsn=Staff;Filter=\"a;b\"", "Server=plain01;Database=X"],
        smart_group_scripts=[("Sales", 'Dim p = "C:\\Scripts\\sales.vbs"'), ("HR", 'Return Source("Dept")')])


def _orphans(snap: SourceSnapshot) -> SourceSnapshot:
    """An approver and a schedule of an identity store the source no longer has (R16)."""
    approver = snap.approvers[0].model_copy(update={"id": 900, "store_id": 99})
    schedule = snap.schedules[-1].model_copy(update={"id": 900, "name": "Orphan", "store_id": 99})
    return dataclasses.replace(snap, approvers=[*snap.approvers, approver], schedules=[*snap.schedules, schedule])


def _no_settings(snap: SourceSnapshot) -> SourceSnapshot:
    """A source whose settings table names no log level (the reset says "(unset)")."""
    return dataclasses.replace(snap, settings={})


_PROBLEM = EngineError("TokenRequestRefused", "Entra ID refused the client secret of app 1 (AADSTS7000215).",
                       target="entra:3:credentials", recommended_action="Give the secret's value, not its id.")
EDITED: dict[str, tuple[Callable[[], Estate], dict[str, Any]]] = {
    "dense-smart-groups": (lambda: dense(answers=AnswerPolicy(mode="all")), {"edit": _smart_groups}),
    "dense-no-settings": (lambda: dense(answers=AnswerPolicy(mode="all")), {"edit": _no_settings}),
    "dense-orphans": (lambda: dense(answers=AnswerPolicy(mode="all")), {"edit": _orphans}),
    "dense-credential-refused": (lambda: dense(answers=AnswerPolicy(mode="all")), {
        "facts": Facts(credential_problems={"entra:3:credentials": _PROBLEM},
                       credential_thumbprints={"o365:3:credentials": "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"})}),
    # each module with what it needs (planning/modules.py), as an admin running them one at a time names them
    **{f"dense-modules-{'-'.join(m.lower() for m in modules)}": (lambda: dense(answers=AnswerPolicy(mode="all")),
                                                               {"modules": list(modules)})
       for modules in (("Configuration",), ("Configuration", "Synchronize"),
                       ("Configuration", "Synchronize", "Schedules"), ("Configuration", "Reports"),
                       ("Configuration", "History"))},
    "dense-before-sr1": (lambda: dense(product_version="10.0.2100.0", answers=AnswerPolicy(mode="all")), {}),
    "no-server-domain": (lambda: no_stores(server_domain=None, answers=AnswerPolicy(mode="none")), {}),
    "reports-only": (lambda: Estate(stores=[], jobs=[_job(1, Side("Text"), Side("Excel"))], reports=["Report 0"],
                                    server_domain="corp.com", answers=AnswerPolicy(mode="all")), {}),
}

SAMPLES: dict[str, dict[str, Any]] = {
    "sample-10": {},
    "sample-9": {"version": "9.0"},
    "sample-10-faults": {"with_faults": True},
}


# --- the canonical form -----------------------------------------------------------------------------
def canonical(value: Any, roots: tuple[str, ...]) -> Any:
    if isinstance(value, BaseModel):
        return canonical(value.model_dump(mode="python", by_alias=True), roots)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canonical(getattr(value, f.name), roots) for f in dataclasses.fields(value)}
    if isinstance(value, EngineError):
        return {"errorId": value.error_id, "message": canonical(str(value), roots),
                "target": canonical(value.target, roots), "recommendedAction": canonical(value.recommended_action, roots)}
    if isinstance(value, dict):
        return {str(k): canonical(v, roots) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((canonical(v, roots) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [canonical(v, roots) for v in value]
    if isinstance(value, SecretStr):
        return "<secret>"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:16]}>"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        for name, root in zip(("<root>", "<pfx>"), roots, strict=True):
            value = value.replace(root, name)
        return CIPHERTEXT.sub("enc:v1:<ciphertext>", value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return f"<{type(value).__name__}>"


def blueprint_document(blueprint: Blueprint | EngineError, roots: tuple[str, ...]) -> str:
    if isinstance(blueprint, EngineError):
        data: Any = {"refused": canonical(blueprint, roots)}
    else:
        data = {"plan": canonical(blueprint.plan, roots), "units": canonical(blueprint.units, roots),
                "targetStoreNames": canonical(blueprint.target_store_names, roots)}
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


# --- planning them ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        yield Path(tmp).resolve()


def plan_of_estate(estate: Estate, given: dict[str, Any] | None = None, **planning: Any) -> str:
    """The document of the estate's plan, answered as its policy says (or with the ``given`` answers);
    ``planning``: plan_estate's facts, modules, edit."""
    pfx_folder = str(Path(pfx_file()).parent)
    with _folder() as root:
        written = write_estate(estate, root / "estate")
        env = default_folder_environment(written) if estate.default_folders else {}
        with environment(env):
            blueprint = plan_estate(written, {}, estate.ldap_roots, **planning)[1]
            answers = answers_for(estate, blueprint) if given is None else given
            result: Blueprint | EngineError
            try:
                result = plan_estate(written, answers, estate.ldap_roots, **planning)[1] if answers else blueprint
            except EngineError as refused:
                result = refused
        return blueprint_document(result, (str(root), pfx_folder))


def plan_of_sample(spec: dict[str, Any]) -> str:
    with _folder() as root:
        sample = generate_sample(SampleSpec(out=root / "sample", **spec))
        blueprint = compute_blueprint(load_answer_file(sample / "answers.json"), CollectingReporter())
        return blueprint_document(blueprint, (str(root), "\0no-pfx"))


def compare(name: str, document: str, *, update: bool = UPDATE) -> None:
    path = GOLDEN / f"{name}.json"
    if update:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(document, encoding="utf-8")
        return
    assert path.exists(), (f"{path} is missing: run GROUPID_UPDATE_GOLDEN=1 python -m pytest {__file__} and "
                           "review the file it writes")
    expected = path.read_text(encoding="utf-8")
    if document != expected:
        diff = list(difflib.unified_diff(expected.splitlines(), document.splitlines(), f"golden/{name}.json",
                                         "this plan", n=2, lineterm=""))
        shown = "\n".join(diff[:80]) + (f"\n... {len(diff) - 80} more diff lines" if len(diff) > 80 else "")
        pytest.fail(f"the plan of {name} differs from tests/golden/{name}.json; if the change is intended, "
                    f"rewrite it with GROUPID_UPDATE_GOLDEN=1 and review the diff:\n{shown}", pytrace=False)


@pytest.mark.parametrize("name", sorted(ESTATES))
def test_the_plan_of_a_generated_format_installation_is_its_reviewed_copy(name: str) -> None:
    compare(name, plan_of_estate(ESTATES[name]()))


@pytest.mark.parametrize("name", sorted(WRONG_ANSWERS))
def test_the_plan_with_wrong_answers_is_its_reviewed_copy(name: str) -> None:
    estate, answers = WRONG_ANSWERS[name]
    compare(name, plan_of_estate(estate(), answers))


@pytest.mark.parametrize("name", sorted(EDITED))
def test_the_plan_of_an_edited_source_or_with_facts_is_its_reviewed_copy(name: str) -> None:
    estate, planning = EDITED[name]
    compare(name, plan_of_estate(estate(), **planning))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_plan_of_the_sample_is_its_reviewed_copy(name: str) -> None:
    compare(name, plan_of_sample(SAMPLES[name]))


def test_planning_twice_gives_the_same_document() -> None:
    """The comparison is only meaningful when nothing unstable is left in the document."""
    estate = ESTATES["dense-answered"]()
    assert plan_of_estate(estate) == plan_of_estate(estate)


def test_a_changed_reason_is_caught_with_a_diff() -> None:
    """The comparison fails, naming the file and showing the line, when one word of the plan changes."""
    document = plan_of_estate(ESTATES["dense-unanswered"]())
    changed = document.replace("converted to the 11 model", "converted to the 11 modle", 1)
    assert changed != document
    with pytest.raises(pytest.fail.Exception, match=r"golden/dense-unanswered\.json(.|\n)*modle"):
        compare("dense-unanswered", changed, update=False)
