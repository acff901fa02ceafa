"""The base of every model at the engine's boundaries.

Fields are snake_case in Python and camelCase on the wire; names from a client match
case-insensitively (``-GroupIDVersion`` is ``groupIdVersion``), and unknown names are an error so
that a typo never passes silently.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """A model that travels over the protocol or sits in a file the user writes (what the engine
    reads from someone: names matched case-insensitively, numbers exact)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        str_strip_whitespace=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _match_names_case_insensitively(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            alias = field.alias or name
            known[alias.lower()] = alias
            known[name.lower()] = alias
            extra = field.json_schema_extra
            extra_aliases = extra.get("aliases") if isinstance(extra, dict) else None
            for extra_alias in extra_aliases if isinstance(extra_aliases, list) else []:
                known[str(extra_alias).lower()] = alias
        out: dict[str, Any] = {}
        for key, value in data.items():
            canonical = known.get(key.lower(), key) if isinstance(key, str) else key
            out[canonical] = value
        return out

    @field_validator("*", mode="before")
    @classmethod
    def _exact_values(cls, value: Any, info: ValidationInfo) -> Any:
        """No boolean for a number, no fraction or string for an integer (safety/numbers.py)."""
        if isinstance(value, (bool, int, float, str, list, tuple)) and info.field_name is not None:
            from ..safety.numbers import exact_value

            field = cls.model_fields.get(info.field_name)
            if field is not None:
                return exact_value(field.annotation, value)
        return value

    def wire(self) -> dict[str, Any]:
        """The JSON form (camelCase, secrets masked)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class OutputModel(BaseModel):
    """A model only the engine writes (the CLI's JSON lines, the run log's lines): WireModel's names
    and JSON form, without the input rules (they would also forbid the literal discriminators of a
    union of lines)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)

    def wire(self) -> dict[str, Any]:
        """The JSON form (camelCase)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Params(WireModel):
    """Params of a protocol method."""


class Result(WireModel):
    """Result of a protocol method."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)
