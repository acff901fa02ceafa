"""What every operation is: ``prepare`` reads and checks everything it needs and builds exactly what it
would write; ``commit`` writes that, inside the ledger's transaction (docs/decisions.md, "Operations").

A what-if prepares every operation and commits none, so what it reports is what the run would do: an
operation that would fail in the run fails in its ``prepare`` in both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..crypto import PREFIX as ENC_PREFIX
from ..crypto import SecretBox
from ..errors import EngineError
from ..faults import fault_point
from ..model.installation import parse_connection_string
from ..model.settings import AnswerFile
from ..planning.planner import Blueprint, Unit
from ..reporting import Reporter
from ..safety.resources import resource_error
from ..source.installation import SourceInstallation
from ..storage.connections import index_prefix, search_client
from ..storage.search import SearchClient
from ..storage.sql import Table
from ..target.ledger import Ledger
from ..target.writer import TargetInstallation, copy_file, copy_folder

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileCopy:
    """A file or folder the operation copies into the target (before its transaction: a crash between the
    two leaves a complete copy that the resumed run writes again)."""

    source: Path
    destination: Path
    what: str
    folder: bool = False

    def check(self) -> None:
        """Read every byte that will be copied, and find the destination writable (what-if sees what the run
        would hit)."""
        if self.folder:
            if not self.source.is_dir():
                raise _missing(self.source, self.what)
            for root, _dirs, files in os.walk(self.source, onerror=lambda exc: _raise_unreadable(exc, self.what)):
                for name in files:
                    _read_all(Path(root) / name, self.what)
        else:
            if not self.source.exists():
                raise _missing(self.source, self.what)
            _read_all(self.source, self.what)
        _check_writable(self.destination)

    def apply(self) -> None:
        try:
            if self.folder:
                copy_folder(self.source, self.destination)
            else:
                copy_file(self.source, self.destination)
        except OSError as exc:
            raise resource_error(exc, path=str(self.destination), error_id="TargetWriteFailed") or EngineError(
                "TargetWriteFailed", f"Copying {self.what} to {self.destination} failed ({exc.strerror}).",
                target=str(self.destination),
                recommended_action="Check the target folder and its permissions, then run again to resume.",
            ) from None


def _missing(path: Path, what: str) -> EngineError:
    return EngineError("SourceFolderNotFound", f"The {'folder' if what.endswith('folder') else 'file'} {path} of "
                       f"{what} does not exist.", target=str(path),
                       recommended_action="Restore it from a backup of the source, or ignore: the other items are "
                                          "upgraded.")


def _raise_unreadable(exc: OSError, what: str) -> None:
    raise _unreadable(Path(exc.filename or ""), what, exc)


def _unreadable(path: Path, what: str, exc: OSError) -> EngineError:
    return EngineError("SourceFileUnreadable", f"{path} of {what} cannot be read ({exc.strerror or exc}).",
                       target=str(path), recommended_action="Let the account running the upgrade read it (or "
                                                            "restore it from a backup), then run again.")


def _read_all(path: Path, what: str) -> None:
    try:
        with open(path, "rb") as handle:
            while handle.read(READ_CHUNK):
                pass
    except OSError as exc:
        raise _unreadable(path, what, exc) from None


def _check_writable(destination: Path) -> None:
    existing = destination.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise EngineError("TargetWriteFailed", f"The target folder {existing} cannot be written, so "
                          f"{destination.name} cannot be copied there.", target=str(existing),
                          recommended_action="Check the target folders (target.programFiles, target.programData) "
                                             "and their permissions, then run again.")


@dataclass
class Prepared:
    """What one operation will write: its files (copied first), then its rows with its ledger row."""

    rows: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)
    copies: list[FileCopy] = field(default_factory=list)


class RunContext:
    """What operations share during one request: settings, the plan, the source, the target and its ledger,
    the secret boxes and the search client (each made once, on first use)."""

    def __init__(self, answers: AnswerFile, blueprint: Blueprint, source: SourceInstallation,
                 target: TargetInstallation, reporter: Reporter, run_id: str, *, what_if: bool) -> None:
        self.answers = answers
        self.blueprint = blueprint
        self.source = source
        self.target = target
        self.reporter = reporter
        self.run_id = run_id
        self.what_if = what_if
        self.done: set[str] = set()  # the ledger's keys, and (what-if) what this request would have done
        self._source_box: SecretBox | None = None
        self._target_box: SecretBox | None = None
        self._search: SearchClient | None = None

    @property
    def ledger(self) -> Ledger:
        return self.target.ledger

    @property
    def source_box(self) -> SecretBox:
        if self._source_box is None:
            self._source_box = self.source.secret_box()
        return self._source_box

    @property
    def target_box(self) -> SecretBox:
        if self._target_box is None:
            self._target_box = self.target.secret_box()
        return self._target_box

    @property
    def search(self) -> SearchClient | None:
        """The target's Elasticsearch, or None on the embedded default (history then waits in the outbox)."""
        settings = self.answers.target.elasticsearch
        if settings is None:
            return None
        if self._search is None:
            self._search = search_client(settings)
        return self._search

    @property
    def index_prefix(self) -> str:
        return index_prefix(self.answers.target.elasticsearch)

    def close(self) -> None:
        if self._search is not None:
            self._search.close()

    def reencrypt(self, value: str | None, what: str) -> str | None:
        """A source secret, decrypted with the source passphrase and encrypted with the target's."""
        if value is None:
            return None
        plain = self.source_box.decrypt(value, what=what) if value.startswith(ENC_PREFIX) else value
        return self.target_box.encrypt(plain)

    def reencrypt_connection(self, connection: dict[str, str], what: str) -> dict[str, str]:
        out = dict(connection)
        for key in list(out):
            if key.lower() in ("password", "pwd") and out[key]:
                out[key] = self.reencrypt(out[key], what) or ""
        return out

    def reencrypt_connection_string(self, text: str, what: str) -> str:
        parts = self.reencrypt_connection(parse_connection_string(text), what)
        return ";".join(f'{k}="{v}"' if ";" in v else f"{k}={v}" for k, v in parts.items())


@dataclass
class Operation:
    """One unit of work of the Plan (R15): done once, in one transaction with its ledger row."""

    kind: ClassVar[str]
    key: str
    module: str
    name: str
    requires: list[str]
    plan_error: EngineError | None  # known to fail at plan time (R16)

    def prepare(self, ctx: RunContext) -> Prepared:
        raise NotImplementedError

    def commit(self, ctx: RunContext, prepared: Prepared) -> None:
        for copy in prepared.copies:
            copy.apply()
        fault_point("unit-before-write")
        ctx.ledger.commit(self.key, self.module, self.name, ctx.run_id, prepared.rows)

    @classmethod
    def base_fields(cls, unit: Unit) -> dict[str, Any]:
        return {"key": unit.key, "module": unit.module, "name": unit.name, "requires": list(unit.requires),
                "plan_error": unit.error}
