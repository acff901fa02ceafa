"""``upgrade.plan``: compute the Plan for an answer file, writing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ..answerfile import load_answer_file
from ..api import MethodSpec
from ..model.base import Params
from ..model.plan import Plan
from ..model.settings import AnswerFile
from ..planning.modules import resolve_modules
from ..planning.versions import check_upgrade_path
from ..reporting import Reporter
from ..source.installation import SourceInstallation
from .inventory import take_inventory


class SettingsParams(Params):
    """What every method but ``engine.*`` takes: the answer file and/or the same object inline."""

    answer_file: Path | None = Field(None, description="Path of the answer file (JSON).")
    settings: dict[str, Any] | None = Field(None, description="The answer file's object, inline.")


class PlanParams(SettingsParams):
    module: list[str] | None = Field(None, description="Everything, or a Custom set of modules; overrides "
                                                       "the answer file's modules.")
    validate_online: bool | None = Field(None, description="Also check credentials against the servers.")


def load_settings(params: SettingsParams, reporter: Reporter, overrides: dict[str, Any] | None = None) -> AnswerFile:
    return load_answer_file(params.answer_file, inline=params.settings, overrides=overrides, reporter=reporter)


def compute_plan(answers: AnswerFile, reporter: Reporter) -> Plan:
    # R1 first: nothing of the source is read for an unsupported pair.
    source_version, target_version = check_upgrade_path(answers.source.version, answers.target.version)
    modules = resolve_modules(answers.modules)
    reporter.progress("plan", "Planning the upgrade", "Reading the source", 0, 3)
    with SourceInstallation(answers.source) as source:
        sync = source.synchronize()
        reporter.progress("plan", "Planning the upgrade", "Counting", 1, 3)
        inventory = take_inventory(source, sync)
    reporter.progress("plan", "Planning the upgrade", "Done", 3, 3, completed=True)
    return Plan(source_version=source_version, target_version=target_version, modules=modules, inventory=inventory)


def plan_handler(params: PlanParams, reporter: Reporter) -> Plan:
    overrides: dict[str, Any] = {}
    if params.module is not None:
        overrides["modules"] = params.module
    if params.validate_online is not None:
        overrides["validateOnline"] = params.validate_online
    answers = load_settings(params, reporter, overrides)
    return compute_plan(answers, reporter)


PLAN_METHOD = MethodSpec(
    name="upgrade.plan",
    params=PlanParams,
    result=Plan,
    handler=plan_handler,
    summary="Compute the Plan: what each module will create, move or skip and why, open questions, warnings.",
)
