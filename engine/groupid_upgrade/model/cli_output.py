"""What CLI commands print with --json that is not a protocol method's result."""

from __future__ import annotations

from .base import Result, WireModel
from .events import ErrorObject


class CliError(WireModel):
    """``{"error": ...}``: the JSON-RPC error object of the error that stopped the command."""

    error: ErrorObject


class SampleResult(Result):
    path: str
    answer_file: str
    version: str
    seed: int
    history: int
    groups_per_domain: int
    seconds: float
