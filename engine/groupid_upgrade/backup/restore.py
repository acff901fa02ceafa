"""``backup.restore``: put chosen parts of a verified set back (R18).

Order: verify the set; plan every chosen part (what would be written, what would be overwritten),
reading destinations but writing nothing; refuse, without ``force``, when any destination differs
from the set and was changed after the set was made (files, the database: modified after the set's
time; groups: ``whenChanged`` later than in the LDIF; Elasticsearch indices and SQL Server
databases, which cannot be compared, whenever they exist); then write, part by part, each file
through a temporary file and a rename.

``to`` (``--to ROOT``) relocates the parts that are files: the folders go under ``ROOT/Program
Files`` and ``ROOT/ProgramData`` as in the installation's layout, a SQLite database under
``ROOT/Database``. Elasticsearch and the group attributes always go to the servers of the answer file.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from ..errors import EngineError
from ..faults import fault_point
from ..model.base import WireModel
from ..model.settings import AnswerFile, ElasticsearchSettings, SqliteDatabase, SqlServerDatabase
from ..reporting import Reporter
from ..safety.paths import WriteGuard, source_guard
from ..safety.resources import resource_error
from ..source.layout import InstallationLayout
from ..storage.connections import directory_client
from ..storage.search import public_url
from ..target.lock import exclusive, folder_lock, source_lock
from . import database as db_part
from . import ldif_part, search_part
from .create import DEFAULT_ES_URL, normalize_parts
from .files import copy_file_hashed, hash_file, long_path
from .manifest import FileEntry, Manifest, PartRecord, fsync_dir
from .verify import VerifyReport, opened_set, verify_folder

DATABASE_WARNING = ("Restoring the database loses every change made with GroupID 11 since the backup was taken "
                    "(the backup guide's warning).")


class PartReport(WireModel):
    part: str
    status: str  # Restored | WouldRestore | Unchanged
    destination: str | None = None
    written: int = 0
    unchanged: int = 0
    notes: list[str] = Field(default_factory=list)


class RestoreReport(WireModel):
    path: str
    set_id: str
    what_if: bool = False
    parts: list[PartReport] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    verify: VerifyReport | None = None


@dataclass
class FileWrite:
    entry: FileEntry
    dest: Path
    exists: bool


@dataclass
class PartPlan:
    part: str
    destination: str | None = None
    writes: list[FileWrite] = field(default_factory=list)
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: Any = None
    dests: set[str] = field(default_factory=set)  # every destination of the set's files, written or unchanged


def _created_ns(manifest: Manifest) -> int:
    created = datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00"))
    return int(created.timestamp()) * 1_000_000_000


def _plan_file(entry: FileEntry, dest: Path, created_ns: int, plan: PartPlan) -> None:
    plan.dests.add(os.fspath(dest))
    if not os.path.lexists(long_path(dest)):
        plan.writes.append(FileWrite(entry, dest, False))
        return
    if os.path.islink(long_path(dest)) or not os.path.isfile(long_path(dest)):
        plan.conflicts.append(f"{dest} is not a regular file")
        return
    size, sha = hash_file(dest)
    if size == entry.size and sha == entry.sha256:
        plan.unchanged += 1
        return
    if os.stat(long_path(dest)).st_mtime_ns >= created_ns:
        plan.conflicts.append(f"{dest} differs from the set and was changed after the set was made")
    plan.writes.append(FileWrite(entry, dest, True))


def _layout(answers: AnswerFile, to: Path | None) -> InstallationLayout:
    if to is not None:
        return InstallationLayout(to / "Program Files", to / "ProgramData")
    if answers.source.program_files is None or answers.source.program_data is None:
        raise EngineError("SourceFolderNotFound", "The answer file does not name source.programFiles and "
                          "source.programData to restore into.", target="source.programFiles / source.programData",
                          recommended_action="Set both, or restore under a folder with --to.")
    return InstallationLayout(Path(answers.source.program_files), Path(answers.source.program_data))


def _plan_folders(part: PartRecord, manifest: Manifest, layout: InstallationLayout, created_ns: int) -> PartPlan:
    plan = PartPlan(part.name)
    dests = []
    for folder in part.folders:
        root = layout.program_files if folder.layout_root == "programFiles" else layout.program_data
        dest_root = root / folder.relative
        dests.append(str(dest_root))
        prefix = folder.set_folder + "/"
        for entry in manifest.files:
            if entry.path.startswith(prefix):
                _plan_file(entry, dest_root / entry.path[len(prefix):], created_ns, plan)
    plan.destination = " and ".join(dests)
    return plan


def _plan_database(part: PartRecord, manifest: Manifest, answers: AnswerFile, to: Path | None,
                   created_ns: int, force: bool) -> PartPlan:
    plan = PartPlan("Database")
    db = part.database
    assert db is not None
    if db.kind == "sqlite":
        entry = next(f for f in manifest.files if f.path == db.file)
        if to is not None:
            dest = to / "Database" / Path(db.file or "GroupID.db").name
        elif isinstance(answers.source.database, SqliteDatabase):
            dest = Path(answers.source.database.path)
        else:
            raise EngineError("RestoreWouldOverwrite", "The set holds a SQLite database but the answer file's source "
                              "database is on SQL Server.", target="source.database",
                              recommended_action="Restore it under a folder with --to, or name the SQLite file.")
        for suffix in ("-wal", "-journal"):
            side = Path(f"{dest}{suffix}")
            if side.exists() and side.stat().st_size > 0:
                plan.conflicts.append(f"{side} exists: the database {dest} is in use (stop the GroupID services)")
        _plan_file(entry, dest, created_ns, plan)
        plan.destination = str(dest)
        return plan
    settings = answers.source.database
    if not isinstance(settings, SqlServerDatabase):
        raise EngineError("RestoreWouldOverwrite", "The set holds a SQL Server backup but the answer file's source "
                          "database is not on SQL Server.", target="source.database",
                          recommended_action="Point source.database at the SQL Server to restore into.")
    plan.destination = f"{settings.database} on {settings.server}"
    plan.extra = (settings, db.backup_file)
    if not force:
        plan.conflicts.append(f"the SQL Server database {plan.destination} would be replaced by {db.backup_file} "
                              "(a live database cannot be compared with the set)")
    return plan


def _plan_elasticsearch(part: PartRecord, answers: AnswerFile, layout: InstallationLayout, manifest: Manifest,
                        created_ns: int) -> PartPlan:
    plan = PartPlan("Elasticsearch")
    es = part.elasticsearch
    assert es is not None
    if es.method == "dataFolder":
        check = answers.source.elasticsearch or ElasticsearchSettings(url=DEFAULT_ES_URL)
        if search_part.node_answers(check):
            raise EngineError("ElasticsearchRunning", f"Elasticsearch answers at {check.url}: a data-folder copy is "
                              "restored only while no node runs.", target=check.url,
                              recommended_action="Stop the Elasticsearch service, then restore.")
        dest_root = layout.elasticsearch_data
        prefix = (es.copied_into or "Elasticsearch/data") + "/"
        for entry in manifest.files:
            if entry.path.startswith(prefix):
                _plan_file(entry, dest_root / entry.path[len(prefix):], created_ns, plan)
        plan.destination = str(dest_root)
        return plan
    settings = answers.source.elasticsearch
    if settings is None:
        raise EngineError("SearchUnreachable", "The answer file names no source.elasticsearch to restore the "
                          "snapshot into.", target="source.elasticsearch",
                          recommended_action="Add source.elasticsearch (url, snapshotRepository).")
    problem = search_part.snapshot_problem(settings, es)
    if problem is not None and not es.copied_into:
        raise EngineError("BackupSetInvalid", f"The Elasticsearch part cannot be restored: {problem}.",
                          target=f"snapshot {es.snapshot}", recommended_action="Restore the other parts, or "
                          "take a new backup.")
    if problem is not None:
        plan.notes.append(f"{problem}: restored from the set's copy of the repository")
    existing = search_part.existing_indices(settings, es)
    for index in existing:
        plan.conflicts.append(f"the index {index} exists on {settings.url} and would be replaced")
    plan.destination = f"{len(es.indices)} indices on {public_url(settings.url)}"
    plan.extra = (settings, problem is not None)
    return plan


def _plan_groups(part: PartRecord, answers: AnswerFile, set_dir: Path, containers: list[str] | None,
                 reporter: Reporter | None = None) -> PartPlan:
    plan = PartPlan("GroupAttributes")
    assert part.group_attributes is not None
    domain_plans = []
    for ldif in part.group_attributes.files:
        settings = answers.directories.get(ldif.domain)
        if settings is None:
            raise EngineError("DirectoryNotConfigured", f"The set holds group attributes of {ldif.domain}, which the "
                              "answer file does not list under directories.", target=f"directories.{ldif.domain}",
                              recommended_action="Add the domain (url, caFile, credential) to the answer file.")
        with directory_client(ldif.domain, settings, reporter) as client:
            domain_plan = ldif_part.plan_domain(client, set_dir / ldif.file, ldif.domain, containers)
        domain_plans.append((ldif.domain, settings, domain_plan))
        plan.unchanged += domain_plan.unchanged
        for change in domain_plan.changes:
            if change.newer:
                plan.conflicts.append(f"the group {change.current_dn} in {ldif.domain} differs from the set and was "
                                      "changed after the set was made")
        for dn in domain_plan.missing:
            plan.notes.append(f"{dn}: no group with its objectGUID exists in {ldif.domain} any more; not restored")
    plan.destination = ", ".join(d for d, _s, _p in domain_plans)
    plan.extra = domain_plans
    return plan


def _stage_name(dest: Path, token: str, index: int) -> Path:
    """A short name of the engine's own beside ``dest``: never the name of a file of the set (a set's
    file named like a staging file is restored like any other), never over the name-length limit."""
    return dest.with_name(f".gid-restore-{token}-{index}.partial")


def _stage_file(write: FileWrite, set_dir: Path, reporter: Reporter, staged: Path) -> None:
    os.makedirs(long_path(write.dest.parent), exist_ok=True)
    size, sha, _ = copy_file_hashed(set_dir / write.entry.path, staged, reporter, durable=True)
    if sha != write.entry.sha256:
        os.unlink(long_path(staged))
        raise EngineError("BackupSetInvalid", f"The set's file {write.entry.path} changed while it was restored.",
                          target=write.entry.path, recommended_action="Verify the set and restore again.")
    if write.entry.modified_ns is not None:
        os.utime(long_path(staged), ns=(write.entry.modified_ns, write.entry.modified_ns))


_STAGED = re.compile(r"^\.gid-restore-[0-9a-f]{8}-\d+\.partial$")


def _remove_stale_staging(plan: PartPlan) -> None:
    """Files a killed restore staged and never moved, in the folders this part writes: removed, so the
    restore that completes it leaves exactly the set's files. A file of the set that happens to carry
    such a name is a destination, never removed."""
    for folder in {os.path.dirname(os.fspath(w.dest)) for w in plan.writes}:
        try:
            names = os.listdir(long_path(folder))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if _STAGED.match(name) and path not in plan.dests:
                with contextlib.suppress(OSError):
                    os.unlink(long_path(path))


def _restore_files(plan: PartPlan, set_dir: Path, reporter: Reporter) -> None:
    """Stage every file of the part beside its destination, then move them all into place: a part is
    replaced only once the whole of it is ready. A failure while staging removes what was staged and
    leaves the destinations as they were; a kill leaves staged files (``.gid-restore-*.partial``) that
    the next restore writes again and moves."""
    _remove_stale_staging(plan)
    token = uuid.uuid4().hex[:8]
    staged: list[tuple[Path, Path]] = []
    try:
        for n, write in enumerate(plan.writes):
            reporter.check_cancelled("the restore")
            temp = _stage_name(write.dest, token, n)
            staged.append((temp, write.dest))
            _stage_file(write, set_dir, reporter, temp)
            fault_point("restore-file-staged")
            reporter.progress(f"restore-{plan.part}", f"Restoring {plan.part}", str(write.dest), n + 1,
                              len(plan.writes))
    except BaseException:
        for temp, _dest in staged:
            with contextlib.suppress(OSError):
                os.unlink(long_path(temp))
        raise
    fault_point("restore-part-staged")
    for temp, dest in staged:
        fault_point("restore-before-move")
        os.replace(long_path(temp), long_path(dest))
    for folder in sorted({dest.parent for _t, dest in staged}):
        fsync_dir(folder)


def restore_set(path: Path, answers: AnswerFile, reporter: Reporter, *, include: list[str] | None,
                to: Path | None = None, force: bool = False, what_if: bool = False,
                containers: list[str] | None = None) -> RestoreReport:
    path = Path(path)
    if not path.exists():
        raise EngineError("BackupSetInvalid", f"The backup set {path} does not exist.", target=str(path),
                          recommended_action="Give the folder (or .zip) that groupid-upgrade backup wrote.")
    guard = restore_guard(answers, path, to)
    if to is not None:
        to = guard.check(to, "restore folder (--to)")
    lock = folder_lock(to, f"restore folder {to}") if to is not None else source_lock(answers.source)
    with exclusive(lock, str(uuid.uuid4()), "backup.restore", what_if=what_if), opened_set(path) as set_dir:
        guard.protect(set_dir, "the backup set being read")
        return _restore(path, set_dir, answers, reporter, normalize_parts(include), to, force, what_if, containers,
                        guard)


def restore_guard(answers: AnswerFile, path: Path, to: Path | None) -> WriteGuard:
    """What a restore must not write: the set it reads and the command's input files; with ``--to`` also the
    source (without it, the source locations are where the set goes back to)."""
    guard = source_guard(answers) if to is not None else WriteGuard()
    if to is None:
        for file, what in answers.input_files():
            guard.protect(file, what, kind="input")
    return guard.protect(path, "the backup set being read")


def _restore_io_error(exc: OSError, plan: PartPlan, report: RestoreReport) -> EngineError:
    """A destination that could not be written: named, with what was restored before this part (whole
    parts) and that nothing of this part was changed."""
    done = ", ".join(p.part for p in report.parts if p.status != "Unchanged") or "none"
    name = str(exc.filename or plan.destination or plan.part)
    named = resource_error(exc, path=name, error_id="TargetWriteFailed", doing="restoring")
    reason = named.message if named is not None else f"{name} could not be written ({exc.strerror})."
    return EngineError("TargetWriteFailed", f"Restoring {plan.part}: {reason} This part was left as it was "
                       f"(its files are moved into place only when all of them are ready); parts restored "
                       f"before it: {done}.", target=name,
                       recommended_action=((named.recommended_action if named is not None else None)
                                           or "Check the destination's free space and permissions.")
                       + " Then restore again: parts already restored are found unchanged.")


def _restorable_from_set(problem: Any, manifest: Manifest | None) -> bool:
    """A snapshot gone from its repository does not stop a restore when the set holds a copy of it."""
    if problem.kind != "snapshotMissing" or manifest is None:
        return False
    part = manifest.part("Elasticsearch")
    return part is not None and part.elasticsearch is not None and bool(part.elasticsearch.copied_into)


def _restore(path: Path, set_dir: Path, answers: AnswerFile, reporter: Reporter, include: list[str] | None,
             to: Path | None, force: bool, what_if: bool, containers: list[str] | None,
             guard: WriteGuard) -> RestoreReport:
    verify, manifest = verify_folder(set_dir, answers, reporter, parts=include)
    blocking = [p for p in verify.problems if (p.part is None or include is None or p.part in include)
                and not _restorable_from_set(p, manifest)]
    if manifest is None or blocking:
        listed = "; ".join(f"{p.path or p.part}: {p.problem}" for p in blocking[:10])
        raise EngineError("BackupSetInvalid", f"The backup set {path} failed verification, nothing was restored "
                          f"({listed}).", target=str(path), recommended_action="Restore from another set.",
                          extra={"problems": [p.wire() for p in blocking]})
    wanted = include if include is not None else [p.name for p in manifest.parts]
    records = {p.name: p for p in manifest.parts}
    absent = [p for p in wanted if p not in records]
    if absent:
        left = {item.part: item.reason for item in manifest.left_out}
        raise EngineError("BackupPartUnavailable", "The set holds no " + "; no ".join(
            f"{p} part ({left.get(p, 'not backed up')})" for p in absent) + ".", target=str(path),
            recommended_action="Restore parts the set holds: " + ", ".join(records) + ".")
    layout = _layout(answers, to)
    created_ns = _created_ns(manifest)
    plans: list[PartPlan] = []
    for name in wanted:
        reporter.check_cancelled("the restore")
        part = records[name]
        if name == "Database":
            plans.append(_plan_database(part, manifest, answers, to, created_ns, force))
        elif name == "Elasticsearch":
            plans.append(_plan_elasticsearch(part, answers, layout, manifest, created_ns))
        elif name == "GroupAttributes":
            plans.append(_plan_groups(part, answers, set_dir, containers, reporter))
        else:
            plans.append(_plan_folders(part, manifest, layout, created_ns))
    for plan in plans:  # every file a part would write, before any is written
        for write in plan.writes:
            guard.check(write.dest, "restored file", is_file=True)
    conflicts = [c for plan in plans for c in plan.conflicts]
    if conflicts and not force:
        raise EngineError("RestoreWouldOverwrite", f"Nothing was restored: {len(conflicts)} destination(s) differ from "
                          f"the set and are newer than it ({'; '.join(conflicts[:5])}"
                          f"{'; ...' if len(conflicts) > 5 else ''}).", target=str(path),
                          recommended_action="Check those destinations; restore with --force to overwrite them.",
                          extra={"conflicts": conflicts[:1000], "conflictCount": len(conflicts)})
    report = RestoreReport(path=str(path), set_id=manifest.set_id, what_if=what_if, verify=verify)
    if "Database" in wanted:
        report.warnings.append(DATABASE_WARNING)
        reporter.log("warning", DATABASE_WARNING)
    for i, plan in enumerate(plans):
        reporter.check_cancelled("the restore")
        reporter.progress("restore", "Restoring the backup set", plan.part, i, len(plans))
        item = PartReport(part=plan.part, status="WouldRestore" if what_if else "Restored",
                          destination=plan.destination, unchanged=plan.unchanged, notes=list(plan.notes))
        if plan.part == "GroupAttributes":
            pending = sum(len(dp.changes) for _d, _s, dp in plan.extra)
            if not what_if:
                for domain, settings, domain_plan in plan.extra:
                    with directory_client(domain, settings) as client:
                        item.written += ldif_part.apply_domain(client, domain_plan, reporter)
            else:
                item.written = pending
        elif plan.part == "Elasticsearch" and plan.extra is not None:
            es = records["Elasticsearch"].elasticsearch
            assert es is not None
            item.written = len(es.indices)
            if not what_if:
                settings, from_set = plan.extra
                if from_set:
                    name, local_dir = search_part.repository_from_set(settings, es, set_dir, manifest.set_id,
                                                                      reporter)
                    try:
                        counts = search_part.restore_snapshot(settings, es.model_copy(update={"repository": name}),
                                                              reporter)
                    finally:
                        search_part.forget_repository(settings, name, local_dir)
                else:
                    counts = search_part.restore_snapshot(settings, es, reporter)
                item.notes.append("documents per index: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
        elif plan.part == "Database" and plan.extra is not None:
            item.written = 1
            if not what_if:
                settings, backup_file = plan.extra
                db_part.restore_sqlserver(settings, backup_file)
        else:
            item.written = len(plan.writes)
            if not what_if:
                try:
                    _restore_files(plan, set_dir, reporter)
                except OSError as exc:
                    raise _restore_io_error(exc, plan, report) from None
        if item.written == 0 and not what_if:
            item.status = "Unchanged"
        report.parts.append(item)
        reporter.record("restorePart", item.wire())
    reporter.progress("restore", "Restoring the backup set", "Done", len(plans), len(plans), completed=True)
    return report

