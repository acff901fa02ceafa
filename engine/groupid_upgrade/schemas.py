"""JSON Schemas of everything the engine prints or sends, generated from its pydantic models.

``python -m groupid_upgrade.schemas docs/schemas`` writes them; tests/test_schemas.py regenerates
and compares, so docs/schemas/ never drifts from the models. docs/protocol.md says which is which.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: Any, title: str, *, mode: JsonSchemaMode = "serialization") -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        schema = model.model_json_schema(by_alias=True, mode=mode)
    else:
        schema = TypeAdapter(model).json_schema(by_alias=True, mode=mode)
    return {"$schema": DRAFT, "title": title, **{k: v for k, v in schema.items() if k != "title"}}


def generate() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every output: protocol methods, notifications, CLI results, json-lines, run log."""
    from .api import METHOD_TABLE, load_method
    from .doctor import DoctorReport
    from .model import events
    from .model.cli_output import CliError, SampleResult
    from .upgrade.status import StatusReport

    out: dict[str, dict[str, Any]] = {}
    for name in METHOD_TABLE:
        spec = load_method(name)
        assert spec is not None
        out[f"method.{name}.params.schema.json"] = _schema(spec.params, f"{name} params", mode="validation")
        if spec.result is not None:
            out[f"method.{name}.result.schema.json"] = _schema(spec.result, f"{name} result")
    out["notification.progress.schema.json"] = _schema(events.ProgressNotification, "$/progress params")
    out["notification.log.schema.json"] = _schema(events.LogNotification, "$/log params")
    out["notification.record.schema.json"] = _schema(events.RecordNotification, "$/record params")
    out["error.schema.json"] = _schema(events.ErrorObject, "JSON-RPC error object (and a CLI --json error)")
    out["cli.error.schema.json"] = _schema(CliError, "groupid-upgrade COMMAND --json when the command fails")
    out["cli.sample.schema.json"] = _schema(SampleResult, "groupid-upgrade sample --json")
    out["cli.status.schema.json"] = _schema(StatusReport, "groupid-upgrade status --json")
    out["cli.doctor.schema.json"] = _schema(DoctorReport, "groupid-upgrade doctor --json")
    out["json-lines.schema.json"] = _schema(events.JsonLine, "One line of --json-lines output")
    out["run-log-line.schema.json"] = _schema(events.RunLogEntry, "One line of the run log")
    return out


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    schemas = generate()
    for stale in folder.glob("*.schema.json"):
        if stale.name not in schemas:
            stale.unlink()
    for name, schema in schemas.items():
        path = folder / name
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - the tool docs/protocol.md names
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
    print(f"{len(write(target))} schemas written to {target}")
