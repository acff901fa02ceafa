"""docs/schemas/ is what the models generate (issue 18): regenerated and compared, file by file."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from groupid_upgrade import schemas

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"


def test_docs_schemas_are_the_generated_ones() -> None:
    generated = schemas.generate()
    on_disk = {p.name for p in SCHEMAS.glob("*.schema.json")}
    assert on_disk == set(generated), ("regenerate: python -m groupid_upgrade.schemas docs/schemas",
                                       sorted(on_disk ^ set(generated)))
    stale = [name for name, schema in generated.items()
             if (SCHEMAS / name).read_text(encoding="utf-8") != schemas.render(schema)]
    assert not stale, f"stale schemas (python -m groupid_upgrade.schemas docs/schemas): {stale}"


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    for name, schema in schemas.generate().items():
        assert schema["$schema"] == schemas.DRAFT, name
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_method_and_every_line_kind_has_a_schema() -> None:
    from groupid_upgrade.api import METHOD_TABLE

    generated = schemas.generate()
    for method in METHOD_TABLE:
        assert f"method.{method}.params.schema.json" in generated
        assert f"method.{method}.result.schema.json" in generated
    kinds = {ref.rsplit("/", 1)[-1] for ref in generated["json-lines.schema.json"]["discriminator"]["mapping"].values()}
    assert kinds == {"ProgressLine", "LogLine", "RecordLine", "RunEventLine", "ResultLine", "ErrorLine"}


def test_a_line_without_schema_version_is_refused_by_the_schema() -> None:
    check = jsonschema.Draft202012Validator(schemas.generate()["json-lines.schema.json"])
    line = {"schemaVersion": 1, "event": "log", "level": "warning", "message": "m"}
    check.validate(line)
    assert not check.is_valid({k: v for k, v in line.items() if k != "schemaVersion"})
    assert not check.is_valid({**line, "schemaVersion": 2})
    assert not check.is_valid({**line, "event": "nonsense"})
