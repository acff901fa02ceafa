"""``backup.create``: write one verifiable backup set of a GroupID 9/10 installation (R17).

The work is planned first (which parts exist, which are left out and why; pure), then each part is
written into the destination folder, and ``manifest.json`` is written last, atomically. A failure or
a cancel removes what this run wrote (and the snapshot it took); a kill leaves files but no
manifest, which verify reports as an incomplete set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from ..errors import EngineError
from ..faults import fault_point
from ..model.settings import AnswerFile, ElasticsearchSettings, SqliteDatabase, SqlServerDatabase
from ..planning.versions import normalize_source_version
from ..reporting import Reporter
from ..safety.paths import source_guard
from ..safety.resources import resource_error
from ..source.installation import SourceInstallation
from ..source.layout import InstallationLayout
from ..storage.connections import directory_client
from ..suggest import did_you_mean
from ..target.lock import exclusive, folder_lock
from . import database as db_part
from . import ldif_part, search_part
from .files import copy_tree_hashed, hash_file, walk_files
from .manifest import (
    FOLDER_PARTS,
    MANIFEST_NAME,
    PARTS,
    FileEntry,
    FolderSource,
    GroupAttributesPart,
    LayoutRoot,
    LeftOut,
    Manifest,
    PartRecord,
    SkippedFile,
    SnapshotPart,
    fsync_dir,
    write_manifest,
)

DEFAULT_ES_URL = "http://127.0.0.1:9200"  # a GroupID 10 server's own node, when the answer file names none


def normalize_parts(names: list[str] | None) -> list[str] | None:
    """The canonical part names for ``--include`` values (case-insensitive); None for "all"."""
    if not names:
        return None
    known = {p.lower(): p for p in PARTS}
    out: list[str] = []
    for name in names:
        for piece in str(name).split(","):
            piece = piece.strip()
            if not piece:
                continue
            if piece.lower() == "all":
                return None
            if piece.lower() not in known:
                raise EngineError("BackupPartUnknown", f"{piece!r} is not a part of a backup set; the parts are "
                                  f"{', '.join(PARTS)}.{did_you_mean(piece, ('All', *PARTS))}",
                                  target=f"include {piece}",
                                  recommended_action="Name parts from that list, or leave --include out for all.")
            if known[piece.lower()] not in out:
                out.append(known[piece.lower()])
    return out


@dataclass(frozen=True)
class FolderSpec:
    part: str
    name: str
    layout_root: LayoutRoot
    relative: str


def folder_specs(layout: InstallationLayout) -> list[FolderSpec]:
    """Each folder part and the folder(s) of the layout it copies."""
    def rel(path: Path, root: Path) -> str:
        return path.relative_to(root).as_posix()

    pf, pd = layout.program_files, layout.program_data
    return [
        FolderSpec("SelfServicePortals", "", "programFiles", rel(layout.self_service_portals, pf)),
        FolderSpec("PasswordCenterPortals", "User", "programFiles", rel(layout.password_center_portal, pf)),
        FolderSpec("PasswordCenterPortals", "Helpdesk", "programFiles", rel(layout.password_center_helpdesk, pf)),
        FolderSpec("SynchronizeJobs", "", "programData", rel(layout.synchronize_jobs, pd)),
        FolderSpec("Reports", "", "programData", rel(layout.reports, pd)),
        FolderSpec("ReplicationAttributes", "", "programFiles", rel(layout.replication_attributes, pf)),
        FolderSpec("PasswordExceptionLists", "", "programFiles", rel(layout.password_exception_lists, pf)),
    ]


def layout_root(layout: InstallationLayout, which: LayoutRoot) -> Path:
    return layout.program_files if which == "programFiles" else layout.program_data


def set_folder_of(spec: FolderSpec) -> str:
    return f"{spec.part}/{spec.name}" if spec.name else spec.part


@dataclass
class BackupPlan:
    """What a backup will write, and what it leaves out and why (pure: computed before any write)."""

    parts: list[str] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    folders: list[FolderSpec] = field(default_factory=list)
    es_method: str | None = None  # snapshot | dataFolder


def plan_backup(answers: AnswerFile, layout: InstallationLayout, include: list[str] | None, *,
                elasticsearch_stopped: bool, sql_server_backup_file: str | None) -> BackupPlan:
    plan = BackupPlan()
    reasons: dict[str, str] = {}
    database = answers.source.database
    if isinstance(database, SqlServerDatabase) and not sql_server_backup_file:
        reasons["Database"] = ("the source database is on SQL Server: give sqlServerBackupFile, a path on the SQL "
                               "Server's own disk for BACKUP DATABASE to write")
    version = normalize_source_version(answers.source.version)
    if elasticsearch_stopped:
        if not layout.elasticsearch_data.is_dir():
            reasons["Elasticsearch"] = f"the Elasticsearch data folder {layout.elasticsearch_data} does not exist"
        plan.es_method = "dataFolder"
    elif answers.source.elasticsearch is None:
        reasons["Elasticsearch"] = ("the answer file names no source.elasticsearch" +
                                    (" (GroupID 9.0 keeps no Elasticsearch replica)" if version == "9.0" else ""))
    else:
        plan.es_method = "snapshot"
    if not answers.directories:
        reasons["GroupAttributes"] = "the answer file lists no directories to export group attributes from"
    specs = folder_specs(layout)
    for part in FOLDER_PARTS:
        mine = [s for s in specs if s.part == part]
        present = [s for s in mine if (layout_root(layout, s.layout_root) / s.relative).is_dir()]
        if not present:
            folders = " and ".join(str(layout_root(layout, s.layout_root) / s.relative) for s in mine)
            reasons[part] = f"the folder {folders} does not exist"
        plan.folders.extend(present)
    for part in PARTS:
        if part in reasons:
            if include is not None and part in include:
                raise EngineError("BackupPartUnavailable", f"The part {part} was asked for but cannot be backed "
                                  f"up: {reasons[part]}.", target=part,
                                  recommended_action="Correct the answer file, or leave the part out of --include.")
            plan.left_out.append(LeftOut(part=part, reason=reasons[part]))
        elif include is None or part in include:
            plan.parts.append(part)
        else:
            plan.left_out.append(LeftOut(part=part, reason="not asked for (--include)"))
    plan.folders = [s for s in plan.folders if s.part in plan.parts]
    return plan


def check_destination(destination: Path, layout: InstallationLayout, *, zip_it: bool,
                      answers: AnswerFile | None = None) -> None:
    if answers is not None:  # the write guard: never into (or around) the source, never over an input
        guard = source_guard(answers)
        guard.check(destination, "backup destination")
        if zip_it:
            guard.check(Path(f"{destination.resolve()}.zip"), "backup zip", is_file=True)
    dest = destination.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise EngineError("BackupDestinationInvalid", f"The backup destination {dest} is not a new or empty folder.",
                          target=str(dest), recommended_action="Give a new folder for each backup set.")
    if zip_it and Path(f"{dest}.zip").exists():
        raise EngineError("BackupDestinationInvalid", f"The file {dest}.zip exists already.", target=f"{dest}.zip",
                          recommended_action="Give a new name for each backup set.")
    for root in (layout.program_files, layout.program_data):
        real = root.resolve()
        if dest == real or real in dest.parents:
            raise EngineError("BackupDestinationInvalid", f"The backup destination {dest} is inside the source "
                              f"folder {real}.", target=str(dest),
                              recommended_action="Put the set on another drive or folder, outside the installation.")


class _SetWriter:
    """Collects the files written into the set, for the manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[FileEntry] = []
        self.skipped: list[tuple[str, str]] = []  # of the last tree copied

    def add(self, rel: str, part: str, size: int, sha: str, mtime_ns: int | None) -> None:
        self.files.append(FileEntry(path=rel, part=part, size=size, sha256=sha, modified_ns=mtime_ns))

    def tree(self, part: str, set_folder: str, src: Path, reporter: Reporter) -> tuple[int, int, list[str]]:
        copied = copy_tree_hashed(src, self.root / set_folder, reporter, activity=part,
                                  on_file=lambda f: self.add(f"{set_folder}/{f.relative}", part, f.size, f.sha256,
                                                             f.mtime_ns))
        self.skipped = copied.skipped
        return len(copied.files), copied.bytes, copied.skipped_links


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def create_backup(
    answers: AnswerFile,
    destination: Path,
    reporter: Reporter,
    *,
    include: list[str] | None = None,
    zip_it: bool = False,
    elasticsearch_stopped: bool = False,
    sql_server_backup_file: str | None = None,
    what_if: bool = False,
) -> tuple[Manifest, Path]:
    """Write the set into ``destination``; return its manifest and where the set is (folder or zip). One
    backup at a time writes a destination (its run lock)."""
    lock = folder_lock(destination, f"backup destination {destination}")
    with exclusive(lock, str(uuid.uuid4()), "backup.create", what_if=what_if):
        return _create_backup(answers, destination, reporter, include=include, zip_it=zip_it,
                              elasticsearch_stopped=elasticsearch_stopped,
                              sql_server_backup_file=sql_server_backup_file, what_if=what_if)


def _create_backup(answers: AnswerFile, destination: Path, reporter: Reporter, *, include: list[str] | None,
                   zip_it: bool, elasticsearch_stopped: bool, sql_server_backup_file: str | None, what_if: bool
                   ) -> tuple[Manifest, Path]:
    include = normalize_parts(include)
    with SourceInstallation(answers.source) as source:
        layout = source.layout
        product_version = source.setting("ProductVersion")
        version = source.version
    plan = plan_backup(answers, layout, include, elasticsearch_stopped=elasticsearch_stopped,
                       sql_server_backup_file=sql_server_backup_file)
    check_destination(destination, layout, zip_it=zip_it, answers=answers)
    started = _now()
    set_id = f"{started.strftime('%Y%m%dt%H%M%Sz')}-{uuid.uuid4().hex[:8]}"
    manifest = Manifest(tool_version=__version__, source_version=version, product_version=product_version,
                        host=socket.gethostname(), created_at=started.isoformat().replace("+00:00", "Z"),
                        set_id=set_id, left_out=plan.left_out)
    for item in plan.left_out:
        reporter.log("information", f"Backup part {item.part} left out: {item.reason}.")
    for part in plan.parts:  # what would make a part fail, before anything is written (a what-if stops here)
        reporter.check_cancelled("the backup")
        prepare_part(part, answers, plan, layout, reporter, read_all=what_if)
    if what_if:
        for part in plan.parts:
            reporter.record("backupPart", {"part": part, "status": "WouldBackUp"})
        manifest.parts = [PartRecord(name=p) for p in plan.parts]
        return manifest, destination
    dest = destination.resolve()
    created_dest = not dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError("BackupDestinationInvalid", f"The backup destination {dest} cannot be created "
                          f"({exc.strerror}).", target=str(dest),
                          recommended_action="Choose a folder the account running the backup can write.") from None
    writer = _SetWriter(dest)
    snapshot_taken: tuple[ElasticsearchSettings, SnapshotPart] | None = None
    steps: list[tuple[str, Callable[[], PartRecord]]] = []

    def database_part() -> PartRecord:
        settings = answers.source.database
        if isinstance(settings, SqliteDatabase):
            (dest / "Database").mkdir()
            name = Path(settings.path).name
            file = dest / "Database" / name
            part = db_part.backup_sqlite(settings, file, reporter)
            size, sha = hash_file(file)
            part.file = f"Database/{name}"
            writer.add(part.file, "Database", size, sha, os.stat(file).st_mtime_ns)
            return PartRecord(name="Database", database=part)
        assert sql_server_backup_file is not None
        return PartRecord(name="Database", database=db_part.backup_sqlserver(settings, sql_server_backup_file,
                                                                              f"GroupIDUpgrade {set_id}"))

    def elasticsearch_part() -> PartRecord:
        nonlocal snapshot_taken
        es = answers.source.elasticsearch
        if plan.es_method == "dataFolder":  # prepare_part found no node answering
            check = es or ElasticsearchSettings(url=DEFAULT_ES_URL)
            files, size, links = writer.tree("Elasticsearch", "Elasticsearch/data", layout.elasticsearch_data, reporter)
            return PartRecord(name="Elasticsearch", elasticsearch=SnapshotPart(
                method="dataFolder", data_folder=str(layout.elasticsearch_data), copied_into="Elasticsearch/data",
                note=f"{files} files, {size} bytes, copied while no node answered at {check.url}"))
        assert es is not None
        part = search_part.take_snapshot(es, set_id, reporter)
        snapshot_taken = (es, part)
        local = search_part.local_repository(es)
        if local is not None:
            writer.tree("Elasticsearch", "Elasticsearch/repository", local, reporter)
            part.copied_into = "Elasticsearch/repository"
        else:
            part.external = True
            part.note = ("The snapshot's files stay in the repository on the Elasticsearch server (set "
                         "source.elasticsearch.snapshotLocalPath to copy them into the set).")
        return PartRecord(name="Elasticsearch", elasticsearch=part)

    def group_attributes_part() -> PartRecord:
        (dest / "GroupAttributes").mkdir()
        record = GroupAttributesPart()
        for domain, settings in ldif_part.directories_of(answers).items():
            rel = f"GroupAttributes/{domain}.ldif"
            entry = ldif_part.export_domain(domain, settings, dest / rel, rel, reporter)
            size, sha = hash_file(dest / rel)
            writer.add(rel, "GroupAttributes", size, sha, os.stat(dest / rel).st_mtime_ns)
            record.files.append(entry)
        return PartRecord(name="GroupAttributes", group_attributes=record)

    def folder_part(part: str) -> Callable[[], PartRecord]:
        def run() -> PartRecord:
            record = PartRecord(name=part)
            for spec in (s for s in plan.folders if s.part == part):
                src = layout_root(layout, spec.layout_root) / spec.relative
                set_folder = set_folder_of(spec)
                (dest / set_folder).parent.mkdir(parents=True, exist_ok=True)
                files, size, links = writer.tree(part, set_folder, src, reporter)
                record.folders.append(FolderSource(name=spec.name, source_path=str(src.resolve()),
                                                   set_folder=set_folder, layout_root=spec.layout_root,
                                                   relative=spec.relative, files=files, bytes=size,
                                                   skipped_links=links,
                                                   skipped=[SkippedFile(path=p, reason=r) for p, r in writer.skipped]))
                for rel, reason in writer.skipped:
                    reporter.log("warning", f"{part}: {src / rel} was not backed up: it is {reason}.")
                for link in links:
                    reporter.log("warning", f"{part}: the link {src / link} points outside {src} and was not "
                                 "followed.")
            return record
        return run

    for part in plan.parts:
        if part == "Database":
            steps.append((part, database_part))
        elif part == "Elasticsearch":
            steps.append((part, elasticsearch_part))
        elif part == "GroupAttributes":
            steps.append((part, group_attributes_part))
        else:
            steps.append((part, folder_part(part)))
    try:
        for i, (part, step) in enumerate(steps):
            reporter.check_cancelled("the backup")
            reporter.progress("backup", "Backing up GroupID", part, i, len(steps))
            try:
                record = step()
            except OSError as exc:
                raise _io_error(exc, dest, part) from None
            manifest.parts.append(record)
            reporter.record("backupPart", {"part": part, "status": "BackedUp"})
        manifest.files = sorted(writer.files, key=lambda f: f.path)
        reporter.check_cancelled("the backup")
        _flush(dest)
        write_manifest(dest, manifest)
        reporter.progress("backup", "Backing up GroupID", "Done", len(steps), len(steps), completed=True)
    except BaseException:
        _discard(dest, created_dest)
        if snapshot_taken is not None:
            with contextlib.suppress(Exception), search_part.search_client(snapshot_taken[0]) as client:
                client.delete_snapshot(snapshot_taken[1].repository or "", snapshot_taken[1].snapshot or "")
        raise
    if zip_it:
        return manifest, _zip_set(dest, manifest, reporter)
    return manifest, dest


def prepare_part(part: str, answers: AnswerFile, plan: BackupPlan, layout: InstallationLayout, reporter: Reporter,
                 *, read_all: bool) -> None:
    """Check what the part reads, the way writing it would read it, and raise what writing it would raise:
    the database opens, the Elasticsearch node answers (or, for a data-folder copy, does not), every
    directory binds, every folder can be listed. ``read_all`` (a what-if) also reads every byte of the
    folders' files; a real backup reads them once, while it copies them."""
    try:
        if part == "Database":
            database = answers.source.database
            if isinstance(database, SqliteDatabase):
                db_part.check_sqlite(database)
        elif part == "Elasticsearch":
            es = answers.source.elasticsearch
            if plan.es_method == "dataFolder":
                check = es or ElasticsearchSettings(url=DEFAULT_ES_URL)
                if search_part.node_answers(check):
                    raise EngineError("ElasticsearchRunning", f"--elasticsearch-stopped was given but Elasticsearch "
                                      f"answers at {check.url}; copying a running node's data folder is not a "
                                      "backup.", target=check.url, recommended_action="Stop the Elasticsearch "
                                      "service first, or back up with a snapshot (leave --elasticsearch-stopped out).")
                _check_tree(layout.elasticsearch_data, reporter, read_all=read_all)
            elif es is not None:
                with search_part.search_client(es) as client:
                    client.ping()
        elif part == "GroupAttributes":
            for domain, settings in ldif_part.directories_of(answers).items():
                with directory_client(domain, settings) as client:
                    client.root_dse()
        else:
            for spec in (s for s in plan.folders if s.part == part):
                _check_tree(layout_root(layout, spec.layout_root) / spec.relative, reporter, read_all=read_all)
    except OSError as exc:
        raise _io_error(exc, Path(), part) from None


def _check_tree(root: Path, reporter: Reporter, *, read_all: bool) -> None:
    for rel, _entry, kind in walk_files(root):
        reporter.check_cancelled("the backup")
        if kind == "file" and read_all:
            hash_file(root / rel)


def _io_error(exc: OSError, dest: Path, part: str) -> EngineError:
    """A file that could not be read or written, named, instead of an unexpected error."""
    name = str(exc.filename or "")
    named = resource_error(exc, path=name or str(dest), error_id="BackupDestinationInvalid",
                           doing=f"backing up {part}: writing")
    if named is not None and (not name or name.startswith(str(dest)) or name.startswith("\\\\?\\" + str(dest))):
        return EngineError("BackupDestinationInvalid", f"{named.message} Nothing of this set was kept.",
                           target=named.target, recommended_action=named.recommended_action, extra=named.extra)
    if name.startswith(str(dest)) or name.startswith("\\\\?\\" + str(dest)):
        return EngineError("BackupDestinationInvalid", f"Backing up {part}: {name} could not be written "
                           f"({exc.strerror}); nothing of this set was kept.", target=name,
                           recommended_action="Check the free space and the permissions of the destination.")
    return EngineError("SourceFolderNotFound", f"Backing up {part}: {name or 'a file'} could not be read ({exc.strerror}); "
                       "nothing of this set was kept.", target=name or part,
                       recommended_action="Check that the account running the backup can read the installation's "
                       "folders.")


def _flush(root: Path) -> None:
    """Make the set's files durable before the manifest says it is complete."""
    if hasattr(os, "sync"):
        os.sync()
    else:  # pragma: no cover - Windows: no global sync; each file is flushed
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                with open(os.path.join(dirpath, name), "rb+") as fh:
                    os.fsync(fh.fileno())
    fsync_dir(root)


def _discard(dest: Path, created: bool) -> None:
    """Remove what this run wrote: no half set is left that could be taken for a whole one."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in list(dest.iterdir()) if dest.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                child.unlink()


def _zip_set(dest: Path, manifest: Manifest, reporter: Reporter) -> Path:
    """Pack the finished set into ``<dest>.zip`` (manifest last), atomically; remove the folder."""
    target = Path(f"{dest}.zip")
    temp = dest.parent / f".{target.name}.partial"
    try:
        _write_zip(temp, dest, manifest, reporter)
    except BaseException:
        temp.unlink(missing_ok=True)  # the folder set stays, complete
        raise
    fault_point("backup-before-zip-rename")
    os.replace(temp, target)
    fsync_dir(dest.parent)
    shutil.rmtree(dest, ignore_errors=True)
    return target


def _write_zip(temp: Path, dest: Path, manifest: Manifest, reporter: Reporter) -> None:
    for entry in manifest.files:
        try:
            entry.path.encode("utf-8")
        except UnicodeEncodeError:
            # A zip names its entries in UTF-8 (or CP437): a name that is not UTF-8 has no byte-exact form there.
            raise EngineError("BackupDestinationInvalid", f"The set holds {entry.path.encode('utf-8', 'surrogateescape')!r}, "
                              "a file name that is not UTF-8, which a zip cannot hold byte-exact; the folder set "
                              f"{dest} is complete and verifies, only the zip was not made.", target=str(dest),
                              recommended_action="Keep the folder set (or rename the file and back up with --zip "
                              "again).") from None
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for i, entry in enumerate(manifest.files):
            reporter.check_cancelled("the backup")
            zf.write(dest / entry.path, entry.path)
            reporter.progress("backup-zip", "Packing the set", entry.path, i + 1, len(manifest.files))
        zf.write(dest / MANIFEST_NAME, MANIFEST_NAME)
    with open(temp, "rb+") as fh:
        os.fsync(fh.fileno())

