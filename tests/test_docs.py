"""The human docs keep up with the code: every answer-file field and every question id the
planner can ask is documented in docs/answer-file.md."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from groupid_upgrade.model.settings import AnswerFile

ROOT = Path(__file__).resolve().parents[1]
ANSWER_FILE_DOC = ROOT / "docs" / "answer-file.md"
PLANNER = ROOT / "engine" / "groupid_upgrade" / "planning" / "planner.py"


def models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in models_in(arg)]


def field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every wire (camelCase) field name of ``model`` and the models it holds."""
    seen = set() if seen is None else seen
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for inner in models_in(field.annotation):
            names |= field_names(inner, seen)
    return names


def test_every_answer_file_field_is_documented() -> None:
    text = ANSWER_FILE_DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Za-z0-9_.]+)`", text)) | set(re.findall(r'"([A-Za-z0-9]+)"', text))
    parts = {part for name in documented for part in name.split(".")}
    missing = sorted(field_names(AnswerFile) - parts)
    assert not missing, f"fields missing from {ANSWER_FILE_DOC.name}: {missing}"


def test_every_question_id_the_planner_asks_is_documented() -> None:
    source = PLANNER.read_text(encoding="utf-8")
    asked = set(re.findall(r'self\.ask\(f?"([a-z0-9]+:[^"]*)"', source))
    asked |= {m for m in re.findall(r'qid = f"([a-z0-9]+:[^"]*)"', source)}
    patterns = {re.sub(r"\{[^}]*\}", "<>", q) for q in asked}
    assert {"forest:<>:serviceAccount", "reports:store", "o365:<>:credentials"} <= patterns, patterns
    text = re.sub(r"<[A-Za-z]+>", "<>", ANSWER_FILE_DOC.read_text(encoding="utf-8"))
    missing = sorted(p for p in patterns if f"`{p}`" not in text)
    assert not missing, f"question ids missing from {ANSWER_FILE_DOC.name}: {missing}"
