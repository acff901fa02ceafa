"""Every path the engine writes passes ``WriteGuard.check`` before anything is opened for writing.

A path is compared by its real path (links and ``..`` resolved, as far as it exists), case-folded
where the platform's file names are case-insensitive (Windows, macOS). A write root (the target's
folders, its database, its log folder, a backup destination, a restore root) is refused when it is,
contains or lies inside a protected path: the source's database and folders, the backup set being
read. A file written (the target database, the log file, an answer template, a restored file) is
also refused when it is an input file of the command (the answer file, the secrets file), so no
write can replace what the command reads. The error (``UnsafePath``) names both paths.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EngineError

CASE_INSENSITIVE = sys.platform in ("win32", "darwin")  # NTFS and APFS as installed by default


def real(path: Path | str) -> str:
    """The path as compared: absolute, links and ``..`` resolved, case-folded where names fold."""
    text = os.path.realpath(os.path.abspath(os.fspath(path)))
    return os.path.normcase(text).casefold() if CASE_INSENSITIVE else text


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class Protected:
    path: Path
    what: str  # "the source database (source.database.path)"
    kind: str = "source"  # source | input (an input file: only the file itself is protected)


@dataclass
class WriteGuard:
    """The paths a command must not write: its source, its inputs, the set it reads."""

    protected: list[Protected] = field(default_factory=list)

    def protect(self, path: Path | str | None, what: str, *, kind: str = "source") -> WriteGuard:
        if path is not None and str(path):
            self.protected.append(Protected(Path(path), what, kind))
        return self

    def conflict(self, path: Path | str, *, is_file: bool, reals: list[str] | None = None
                 ) -> tuple[Protected, str] | None:
        """The protected path ``path`` collides with, and how (``is``, ``lies inside``, ``contains``).
        ``reals``: the real paths of ``protected``, when the caller resolved them for several checks at once."""
        mine = real(path)
        for item, theirs in zip(self.protected, reals if reals is not None else self._reals(), strict=True):
            if mine == theirs:
                return item, "is"
            if item.kind == "input" and not is_file:
                continue  # a folder may hold the answer file: the engine writes only its own names below it
            if _within(mine, theirs):
                return item, "lies inside"
            if _within(theirs, mine):
                return item, "contains"
        return None

    def _reals(self) -> list[str]:
        return [real(item.path) for item in self.protected]

    def check(self, path: Path | str, what: str, *, is_file: bool = False) -> Path:
        """``path`` resolved; ``UnsafePath`` naming both paths when it collides with a protected one."""
        self._refuse(path, what, is_file=is_file, reals=None)
        return Path(os.path.realpath(os.path.abspath(os.fspath(path))))

    def _refuse(self, path: Path | str, what: str, *, is_file: bool, reals: list[str] | None) -> None:
        found = self.conflict(path, is_file=is_file, reals=reals)
        if found is not None:
            item, relation = found
            raise EngineError(
                "UnsafePath",
                f"The {what} {path} {relation} {item.what} {item.path}; the engine never writes there, so "
                "nothing was written.",
                target=str(path),
                recommended_action=f"Give the {what} a location of its own, outside {item.what}.",
                extra={"path": str(path), "protectedPath": str(item.path), "relation": relation},
            )

    def check_all(self, paths: Iterable[tuple[Path | str | None, str, bool]]) -> None:
        reals = self._reals()  # resolved once for all the paths of this call, not once per path
        for path, what, is_file in paths:
            if path is not None:
                self._refuse(path, what, is_file=is_file, reals=reals)


def source_guard(answers: object, *, inputs: Iterable[tuple[Path | str | None, str]] = ()) -> WriteGuard:
    """The guard of a command over ``answers`` (an ``AnswerFile``): the source database (SQLite) and
    folders, the Elasticsearch repository copy it reads, the answer and secrets files, and ``inputs``."""
    from ..model.settings import AnswerFile, SqliteDatabase

    assert isinstance(answers, AnswerFile)
    guard = WriteGuard()
    source = answers.source
    if isinstance(source.database, SqliteDatabase):
        db = Path(source.database.path)
        guard.protect(db, "the source database (source.database.path)")
        for suffix in ("-wal", "-shm", "-journal"):
            guard.protect(Path(f"{db}{suffix}"), "the source database's side file")
    guard.protect(source.program_files, "the source folder (source.programFiles)")
    guard.protect(source.program_data, "the source folder (source.programData)")
    if source.elasticsearch is not None:
        guard.protect(source.elasticsearch.snapshot_local_path, "the source's snapshot repository "
                      "(source.elasticsearch.snapshotLocalPath)")
    for file, what in answers.input_files():
        guard.protect(file, what, kind="input")
    for extra, what in inputs:
        guard.protect(extra, what, kind="input")
    return guard
