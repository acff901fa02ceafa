"""``backup.verify``: prove a set complete and intact without restoring it (R18).

Every file of the manifest is present with its size and SHA-256, no file is there that the manifest
does not list, the database copy opens and passes its integrity check (and holds the rows counted at
backup time), each LDIF parses and holds the counted entries, and the snapshot exists in its
repository in state SUCCESS. Every problem is named; none stops the others from being checked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field

from ..errors import EngineError
from ..model.base import WireModel
from ..model.settings import AnswerFile, SqlServerDatabase
from ..reporting import Reporter
from ..safety.resources import resource_error
from . import database as db_part
from . import ldif_part, search_part
from .files import hash_file, long_path
from .manifest import MANIFEST_NAME, Manifest, manifest_problem, read_manifest


class Problem(WireModel):
    part: str | None = None
    path: str | None = None
    problem: str
    # snapshotMissing: the snapshot is gone from its repository (restore can use the set's copy of it)
    kind: str | None = None


class VerifyReport(WireModel):
    path: str
    ok: bool
    set_id: str | None = None
    created_at: str | None = None
    files_checked: int = 0
    bytes_checked: int = 0
    problems: list[Problem] = Field(default_factory=list)
    not_checked: list[str] = Field(default_factory=list)


@contextlib.contextmanager
def opened_set(path: Path) -> Iterator[Path]:
    """The set as a folder: itself, or a zip extracted into a temporary folder beside it."""
    path = Path(path)
    if not (path.is_file() and zipfile.is_zipfile(path)):
        yield path
        return
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError:  # the set is on read-only media (a DVD, a read-only share): extract it elsewhere
        work = Path(tempfile.mkdtemp(prefix=f".{path.name[:40]}."))
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _refuse_unbounded(path, work, infos)
            for info in infos:
                target = (work / info.filename).resolve()
                if not str(target).startswith(str(work.resolve()) + os.sep):
                    raise EngineError("UnsafePath", f"The zip {path} holds the entry {info.filename!r}, which would "
                                      "land outside the set.", target=str(path),
                                      recommended_action="Do not use this file; take a new backup.")
                try:
                    zf.extract(info, work)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                    raise EngineError("BackupSetInvalid", f"The zip {path} cannot be read at {info.filename!r} "
                                      f"({exc or type(exc).__name__}).", target=str(path),
                                      recommended_action="Use another copy of the set, or take a new backup.") from None
                except OSError as exc:
                    named = resource_error(exc, path=str(work), error_id="TargetWriteFailed",
                                           doing="extracting the zip set into")
                    if named is None:
                        raise
                    raise named from None
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


MAX_ZIP_RATIO = 1000  # DEFLATE reaches about 1000:1 at best: a higher declared ratio is a zip bomb, not a set


def _refuse_unbounded(path: Path, work: Path, infos: list[zipfile.ZipInfo]) -> None:
    """The zip's entries are extracted only when their declared sizes fit the folder (zipfile stops each
    entry at its declared size) and no entry claims more than DEFLATE can give."""
    for info in infos:
        if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1) and info.file_size > 64 * 1024 * 1024:
            raise EngineError("BackupSetInvalid", f"The zip {path} holds the entry {info.filename!r}, which claims "
                              f"{info.file_size} bytes from {info.compress_size}: not a set groupid-upgrade wrote.",
                              target=str(path), recommended_action="Do not use this file; take a new backup.")
    total = sum(info.file_size for info in infos)
    free = shutil.disk_usage(work).free
    if total > free:
        raise EngineError("TargetWriteFailed", f"The zip {path} needs {total} bytes to be opened, and {work.parent} "
                          f"has {free} free.", target=str(work.parent),
                          recommended_action="Free space there (or set TMPDIR to a larger folder), or unzip the set "
                          "yourself and give its folder.")


def _refuse_links(set_dir: Path, rel: str) -> None:
    """``UnsafePath`` when a file of the manifest is a link, or lies below one, in the set: reading it
    would read (and a restore would copy) a file outside the set."""
    root = os.path.realpath(set_dir)
    current = root
    for part in rel.split("/"):
        current = os.path.join(current, part)
        if os.path.islink(long_path(current)):
            raise EngineError("UnsafePath", f"The set {set_dir} holds {rel} as a link (at {current}); a set holds "
                              "only regular files, and a link could read a file outside the set. Nothing was read "
                              "or written.", target=str(current), extra={"path": rel},
                              recommended_action="Do not use this set; take a new backup with groupid-upgrade.")
    if not _inside(os.path.realpath(current), root):
        raise EngineError("UnsafePath", f"The set {set_dir} names {rel}, which resolves outside the set.",
                          target=str(current), extra={"path": rel},
                          recommended_action="Do not use this set; take a new backup with groupid-upgrade.")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _walk(root: Path) -> Iterator[str]:
    for dirpath, _dirs, files in os.walk(long_path(root)):
        for name in files:
            full = os.path.join(dirpath, name)
            yield Path(os.path.relpath(full, long_path(root))).as_posix()


def verify_folder(set_dir: Path, answers: AnswerFile | None, reporter: Reporter,
                  parts: list[str] | None = None) -> tuple[VerifyReport, Manifest | None]:
    """Check the set in ``set_dir``. ``parts`` limits the part checks (never the file checks)."""
    report = VerifyReport(path=str(set_dir), ok=False)
    missing = manifest_problem(set_dir)
    if missing is not None:
        report.problems.append(Problem(path=MANIFEST_NAME, problem=missing))
        return report, None
    try:
        manifest = read_manifest(set_dir)
    except EngineError as exc:
        if exc.error_id == "UnsafePath":  # a hostile manifest is refused, not reported as damage
            raise
        report.problems.append(Problem(path=MANIFEST_NAME, problem=exc.message))
        return report, None
    for entry in manifest.files:
        _refuse_links(set_dir, entry.path)
    report.set_id, report.created_at = manifest.set_id, manifest.created_at
    listed = {f.path for f in manifest.files}
    total = len(manifest.files)
    bad_files: set[str] = set()
    for i, entry in enumerate(manifest.files):
        reporter.check_cancelled("the backup check")
        reporter.progress("verify", "Verifying the backup set", entry.path, i, total)
        file = set_dir / entry.path
        if not os.path.isfile(long_path(file)):
            report.problems.append(Problem(part=entry.part, path=entry.path, problem="the file is missing"))
            bad_files.add(entry.path)
            continue
        size = os.stat(long_path(file)).st_size
        if size != entry.size:
            report.problems.append(Problem(part=entry.part, path=entry.path,
                                           problem=f"the file has {size} bytes, the manifest says {entry.size}"))
            bad_files.add(entry.path)
            continue
        _, sha = hash_file(file, reporter)
        report.files_checked += 1
        report.bytes_checked += size
        if sha != entry.sha256:
            report.problems.append(Problem(part=entry.part, path=entry.path,
                                           problem="the file's SHA-256 differs from the manifest's (changed or damaged)"))
            bad_files.add(entry.path)
    for rel in _walk(set_dir):
        if rel != MANIFEST_NAME and rel not in listed:
            report.problems.append(Problem(path=rel, problem="a file the manifest does not list is in the set"))
    reporter.progress("verify", "Verifying the backup set", "files", total, total)
    for part in manifest.parts:
        if parts is not None and part.name not in parts:
            continue
        reporter.check_cancelled("the backup check")
        if part.database is not None:
            _check_database(set_dir, part.database, answers, report)
        if part.group_attributes is not None:
            for ldif in part.group_attributes.files:
                try:
                    count = ldif_part.count_entries(set_dir / ldif.file)
                except EngineError as exc:  # ldif_io: BackupSetInvalid naming the file and the line
                    if (set_dir / ldif.file).is_file():  # a missing file is already named
                        report.problems.append(Problem(part=part.name, path=ldif.file,
                                                       problem=f"the LDIF does not parse: {exc.message}"))
                    continue
                if count != ldif.entries:
                    report.problems.append(Problem(part=part.name, path=ldif.file, problem=f"the LDIF holds {count} "
                                                   f"entries, the manifest counted {ldif.entries}"))
        es = part.elasticsearch
        if es is not None and es.method == "snapshot":
            settings = answers.source.elasticsearch if answers is not None else None
            problem = search_part.snapshot_problem(settings, es)
            if problem is not None:
                report.problems.append(Problem(part=part.name, problem=problem, kind="snapshotMissing" if
                                               "no longer exists" in problem else None))
    reporter.progress("verify", "Verifying the backup set", "Done", total, total, completed=True)
    report.ok = not report.problems
    return report, manifest


def _check_database(set_dir: Path, part: object, answers: AnswerFile | None, report: VerifyReport) -> None:
    from .manifest import DatabasePart

    assert isinstance(part, DatabasePart)
    if part.kind == "sqlite" and part.file:
        file = set_dir / part.file
        if not file.is_file():
            return  # already named as missing
        problem = db_part.integrity_problem(file)
        if problem is not None:
            report.problems.append(Problem(part="Database", path=part.file, problem=f"the database {problem}"))
            return
        counts = db_part.table_counts(file)
        if counts != part.tables:
            differ = [t for t in sorted(set(counts) | set(part.tables)) if counts.get(t) != part.tables.get(t)]
            report.problems.append(Problem(part="Database", path=part.file, problem="the database's row counts "
                                           f"differ from the manifest's in {', '.join(differ[:10])}"))
        return
    settings = answers.source.database if answers is not None else None
    if not isinstance(settings, SqlServerDatabase) or not part.backup_file:
        report.not_checked.append(f"Database: the SQL Server backup file {part.backup_file} (give the answer file to "
                                  "check it with RESTORE VERIFYONLY)")
        return
    try:
        db_part.verify_sqlserver(settings, part.backup_file)
    except EngineError as exc:
        report.problems.append(Problem(part="Database", path=part.backup_file, problem=exc.message))


def verify_set(path: Path, answers: AnswerFile | None, reporter: Reporter) -> VerifyReport:
    path = Path(path)
    if not path.exists():
        raise EngineError("BackupSetInvalid", f"The backup set {path} does not exist.", target=str(path),
                          recommended_action="Give the folder (or .zip) that groupid-upgrade backup wrote.")
    with opened_set(path) as folder:
        report, _ = verify_folder(folder, answers, reporter)
    report.path = str(path)
    return report
