"""The parameters every method but ``engine.*`` takes, and the one way they become an AnswerFile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from .model.base import Params
from .model.settings import AnswerFile
from .reporting import Reporter


class SettingsParams(Params):
    """What every method but ``engine.*`` takes: the answer file and/or the same object inline."""

    answer_file: Path | None = Field(None, description="Path of the answer file (JSON).")
    settings: dict[str, Any] | None = Field(None, description="The answer file's object, inline.")


class PlanParams(SettingsParams):
    module: list[str] | None = Field(None, description="Everything, or a Custom set of modules; overrides "
                                                       "the answer file's modules.")
    validate_online: bool | None = Field(None, description="Also check credentials against the servers.")


def load_settings(params: SettingsParams, reporter: Reporter, overrides: dict[str, Any] | None = None) -> AnswerFile:
    """The request's AnswerFile; in ``serve``, from its cache while none of its files changed (settings_cache.py)."""
    from .settings_cache import SETTINGS

    return SETTINGS.load(params.answer_file, inline=params.settings, overrides=overrides, reporter=reporter)
