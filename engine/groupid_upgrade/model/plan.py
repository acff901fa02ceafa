"""The Plan: the wizard's Summary page as data (R12)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Result, WireModel

PlanAction = Literal["create", "move", "convert", "copy", "transform", "skip", "fail"]


class StoreInventory(WireModel):
    id: int
    name: str
    type: str
    domain: str
    enabled: bool
    messaging: str | None = None
    managed_groups: int = 0
    history_rows: int = 0


class Inventory(WireModel):
    """What the source holds, counted from the source each time (never stored)."""

    identity_stores: int
    enabled_identity_stores: int
    messaging_providers: int
    jobs: int
    job_collections: int
    job_templates: int
    job_collection_templates: int
    jobs_in_collections: int
    unreadable_job_files: int
    schedules: int
    reports: int
    managed_groups: int
    history_rows: int
    stores: list[StoreInventory]


class PlanItem(WireModel):
    module: str
    action: PlanAction
    object_type: str
    object_id: str
    name: str
    reason: str
    target: str | None = None
    rule: str | None = None
    already_done: bool | None = Field(None, description="True: the target's ledger already holds it (a run "
                                                         "skips it).")


class Question(WireModel):
    id: str
    module: str
    prompt: str
    object_name: str
    answer_kind: str
    suggested: dict[str, Any] | int | str | None = None
    choices: list[dict[str, Any]] | None = None
    answered: bool = False
    rule: str | None = None
    problem: dict[str, str] | None = None  # an answer that was given but fails its check


class PlanWarning(WireModel):
    module: str
    message: str
    object_name: str | None = None
    rule: str | None = None


class Plan(Result):
    source_version: str
    target_version: str
    modules: list[str]
    inventory: Inventory
    items: list[PlanItem] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    warnings: list[PlanWarning] = Field(default_factory=list)

    @property
    def open_questions(self) -> list[Question]:
        return [q for q in self.questions if not q.answered]
