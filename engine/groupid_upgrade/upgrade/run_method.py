"""``upgrade.run``: carry out the Plan, operation by operation, through the ledger (R12, R15, R16, R19).

The method holds the target's run lock for the whole run (a what-if only asks whether it is held), opens
the source and the target, and hands the Plan to the one executor (``operations/executor.py``).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from pydantic import Field

from ..api import MethodSpec
from ..errors import EngineError
from ..model.settings import AnswerFile
from ..operations.base import RunContext
from ..operations.executor import Executor
from ..operations.results import RunResult
from ..planning.planner import Blueprint
from ..reporting import Reporter
from ..run_log import RunLog
from ..safety.paths import source_guard
from ..settings_params import PlanParams, load_settings
from ..source.installation import SourceInstallation
from ..target.lock import target_lock
from ..target.writer import TargetInstallation
from .blueprint import compute_blueprint


class RunParams(PlanParams):
    what_if: bool = Field(False, description="Do everything but write; stream what would be done as records.")


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
    run_id = str(uuid.uuid4())
    lock = target_lock(answers.target)
    with contextlib.ExitStack() as stack:
        if what_if:
            lock.probe()  # what the run would say of a target in use, without writing anything
        else:
            stack.enter_context(lock.hold(run_id, "upgrade.run"))
        blueprint = compute_blueprint(answers, reporter)
        refuse_open_questions(blueprint)
        source = stack.enter_context(SourceInstallation(answers.source))
        target = TargetInstallation(answers.target, read_only=what_if, guard=source_guard(answers))
        stack.callback(target.close)
        ctx = RunContext(answers, blueprint, source, target, reporter, run_id, what_if=what_if)
        stack.callback(ctx.close)
        log = RunLog(None if what_if else target.log_path(), run_id, reporter)
        stack.callback(log.close)
        if lock.previous is not None:
            log.write("lock-taken-over", holder=lock.previous.describe())
        return Executor(ctx, log).run()
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns or raises


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
