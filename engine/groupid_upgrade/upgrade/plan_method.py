"""``upgrade.plan``: compute the Plan for an answer file, writing nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..api import MethodSpec
from ..errors import EngineError
from ..model.plan import Plan
from ..reporting import Reporter
from ..settings_params import PlanParams, load_settings
from .blueprint import compute_blueprint, done_units_of, mark_already_done


def plan_handler(params: PlanParams, reporter: Reporter) -> Plan:
    overrides: dict[str, Any] = {}
    if params.module is not None:
        overrides["modules"] = params.module
    if params.validate_online is not None:
        overrides["validateOnline"] = params.validate_online
    answers = load_settings(params, reporter, overrides)
    blueprint = compute_blueprint(answers, reporter)
    try:
        done = done_units_of(answers)
    except EngineError as error:  # the plan is of the source; a target that cannot be read only loses this
        reporter.log("warning", f"What the target already holds is not shown: {error.message}")
        done = set()
    if done:
        mark_already_done(blueprint.plan, blueprint.units, done)
    return blueprint.plan


PLAN_METHOD = MethodSpec(
    name="upgrade.plan",
    params=PlanParams,
    result=Plan,
    handler=plan_handler,
    summary="Compute the Plan: what each module will create, move or skip and why, open questions, warnings.",
)


TEMPLATE_SKELETONS: dict[str, Any] = {
    "pfxCredentials": {"clientSecret": "", "pfxFile": "", "pfxPassword": "", "applicationId": ""},
    "serviceAccount": {"userName": "", "password": ""},
    "storeId": None,
    "reportsStore": None,
}


def _placeholders(data: Any, where: str, secrets_file: str) -> Any:
    """``data`` with every secret replaced by a placeholder saying where the secret goes (R19): a
    template is a file like any other, and the engine writes no secret in clear."""
    from ..answerfile import SECRET_FIELDS, secret_placeholder

    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and key.lower() in SECRET_FIELDS and isinstance(value, str):
                out[key] = secret_placeholder(path, secrets_file)
            else:
                out[key] = _placeholders(value, path, secrets_file)
        return out
    if isinstance(data, list):
        return [_placeholders(v, f"{where}[{i}]", secrets_file) for i, v in enumerate(data)]
    return data


def answer_template(plan: Plan, answer_file: Path | None) -> dict[str, Any]:
    """The user's own answer file (as written, never merged with its secrets file) with a skeleton
    answer for every open question; pre-filled where the plan suggests an answer (R9). Every secret,
    the user's or a skeleton's, is a placeholder naming where it goes."""
    from ..answerfile import read_answer_document

    base: dict[str, Any] = {}
    if answer_file is not None:
        base = read_answer_document(Path(answer_file))
    answers = dict(base.get("answers") or {})
    for question in plan.open_questions:
        suggested = question.suggested
        answers[question.id] = suggested if suggested is not None else TEMPLATE_SKELETONS.get(question.answer_kind)
    secrets_file = str(next((v for k, v in base.items() if isinstance(k, str) and k.lower() == "secretsfile"),
                            None) or "the secrets file (secretsFile)")
    return _placeholders({**base, "answers": answers}, "", secrets_file)


def write_answer_template(plan: Plan, answer_file: Path | None, template: Path,
                          settings: dict[str, Any] | None = None) -> Path:
    """Write the template to ``template``, created 0600, whole or not at all; refused (``UnsafePath``)
    when it would replace an input of the command or write into the source."""
    import json

    from ..answerfile import load_answer_file
    from ..safety.paths import source_guard
    from ..safety.writing import write_private_file

    answers = load_answer_file(answer_file, inline=settings)
    source_guard(answers).check(template, "answer template", is_file=True)
    text = json.dumps(answer_template(plan, answer_file), indent=2, ensure_ascii=False) + "\n"
    return write_private_file(template, text.encode("utf-8"), what="answer template", error_id="OutputPathInvalid")
