"""The backup set's ``manifest.json`` (docs/formats.md, "Backup sets"): its model, written last and
atomically, read back for verify and restore.

A set is complete exactly when ``manifest.json`` exists and parses: it is renamed into place only
after every other file of the set is written and flushed, so a backup that failed, was cancelled
or was killed leaves no manifest (rule R17; the issue's "no set that claims to be complete").
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Final, Literal

from pydantic import Field, ValidationError

from ..errors import EngineError
from ..model.base import WireModel

MANIFEST_NAME = "manifest.json"
FORMAT: Final = "groupid-upgrade-backup"
FORMAT_VERSION: Final = 1
LayoutRoot = Literal["programFiles", "programData"]  # the root a folder part is relative to

PARTS = (
    "Database",
    "Elasticsearch",
    "GroupAttributes",
    "SelfServicePortals",
    "PasswordCenterPortals",
    "SynchronizeJobs",
    "Reports",
    "ReplicationAttributes",
    "PasswordExceptionLists",
)
FOLDER_PARTS = PARTS[3:]


class FileEntry(WireModel):
    """One file of the set: its path in the set (``/``-separated), size, SHA-256 and modification time."""

    path: str
    part: str
    size: int
    sha256: str
    modified_ns: int | None = None


class LeftOut(WireModel):
    part: str
    reason: str


class SkippedFile(WireModel):
    """A file of a copied folder that is not in the set, and why (a device, a FIFO, a socket)."""

    path: str
    reason: str


class FolderSource(WireModel):
    """A folder of the installation copied into ``setFolder`` of the set."""

    name: str  # "" for a part with one folder; "User" / "Helpdesk" for Password Center portals
    source_path: str  # where it was read from (the answer file's layout), as this machine saw it
    set_folder: str  # the folder in the set holding the copy
    layout_root: LayoutRoot
    relative: str  # the source folder relative to its layout root, /-separated
    files: int = 0
    bytes: int = 0
    skipped_links: list[str] = Field(default_factory=list)
    skipped: list[SkippedFile] = Field(default_factory=list)


class DatabasePart(WireModel):
    kind: Literal["sqlite", "sqlserver"]
    # sqlite: the copy in the set, taken with SQLite's online backup API
    file: str | None = None
    source_path: str | None = None
    tables: dict[str, int] = Field(default_factory=dict)
    # sqlserver: BACKUP DATABASE ... WITH CHECKSUM, COPY_ONLY writes the file on the server's own disk
    server: str | None = None
    database: str | None = None
    backup_file: str | None = None
    external: bool = False
    note: str | None = None


class SnapshotPart(WireModel):
    method: Literal["snapshot", "dataFolder"]
    url: str | None = None
    server_version: str | None = None
    repository: str | None = None
    location: str | None = None  # the repository's folder as the Elasticsearch server sees it
    snapshot: str | None = None
    state: str | None = None
    indices: list[str] = Field(default_factory=list)
    document_counts: dict[str, int] = Field(default_factory=dict)
    copied_into: str | None = None  # folder in the set holding a copy of the repository, or None
    external: bool = False
    data_folder: str | None = None  # method dataFolder: the node's data folder that was copied
    note: str | None = None


class LdifFile(WireModel):
    domain: str
    file: str
    server: str
    base_dn: str
    filter: str
    attributes: list[str]
    entries: int


class GroupAttributesPart(WireModel):
    files: list[LdifFile] = Field(default_factory=list)


class PartRecord(WireModel):
    name: str
    database: DatabasePart | None = None
    elasticsearch: SnapshotPart | None = None
    group_attributes: GroupAttributesPart | None = None
    folders: list[FolderSource] = Field(default_factory=list)


class Manifest(WireModel):
    format: Literal["groupid-upgrade-backup"] = FORMAT
    format_version: Literal[1] = FORMAT_VERSION
    tool_version: str
    source_version: str
    product_version: str | None = None
    host: str
    created_at: str  # ISO 8601, UTC
    set_id: str
    parts: list[PartRecord] = Field(default_factory=list)
    files: list[FileEntry] = Field(default_factory=list)
    left_out: list[LeftOut] = Field(default_factory=list)

    def part(self, name: str) -> PartRecord | None:
        return next((p for p in self.parts if p.name == name), None)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened: Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_manifest(set_dir: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically: a temp file, fsync, rename, fsync of the folder."""
    target = set_dir / MANIFEST_NAME
    temp = set_dir / f".{MANIFEST_NAME}.partial"
    # ASCII with \u escapes: a file name that is not UTF-8 (Linux) is held as lone surrogates, which
    # UTF-8 cannot encode but JSON escapes can; read back, they give the same bytes (surrogateescape).
    data = json.dumps(manifest.wire(), indent=2, ensure_ascii=True).encode("ascii") + b"\n"
    with open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    from ..faults import fault_point

    fault_point("backup-before-manifest")
    os.replace(temp, target)
    fsync_dir(set_dir)
    return target


def manifest_problem(set_dir: Path) -> str | None:
    """Why the set has no usable manifest, or None when it has one."""
    path = set_dir / MANIFEST_NAME
    if not set_dir.is_dir():
        return f"{set_dir} is not a folder"
    if not path.is_file():
        return (f"{set_dir} has no {MANIFEST_NAME}: the backup did not finish (it failed, was cancelled or "
                "was stopped), so the set is not complete")
    return None


def read_manifest(set_dir: Path) -> Manifest:
    """The set's manifest; ``BackupSetInvalid`` naming the set when it is missing or unreadable."""
    problem = manifest_problem(set_dir)
    if problem is not None:
        raise EngineError("BackupSetInvalid", f"The backup set {problem}.", target=str(set_dir),
                          recommended_action="Take a new backup; an incomplete set cannot be verified or restored.")
    from ..safety.reading import MANIFEST_BYTES, read_limited
    from ..safety.strict_json import JsonRefused, loads

    path = set_dir / MANIFEST_NAME
    data = read_limited(path, what="manifest", limit=MANIFEST_BYTES, error_id="BackupSetInvalid",
                        action="Take a new backup; this set's manifest is not one groupid-upgrade wrote.")
    try:
        raw: Any = loads(data.decode("utf-8"))
        manifest = Manifest.model_validate(raw)
    except JsonRefused as exc:
        raise EngineError("BackupSetInvalid", f"The manifest {path} is refused: {exc.problem} at "
                          f"{exc.field or 'the top level'}.", target=str(path), extra={"field": exc.field},
                          recommended_action="Take a new backup; this set's manifest is damaged.") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise EngineError("BackupSetInvalid", f"The manifest {path} is not valid JSON ({exc}).", target=str(path),
                          recommended_action="Take a new backup; this set's manifest is damaged.") from None
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:10])
        raise EngineError("BackupSetInvalid", f"The manifest {path} is not a backup manifest this engine "
                          f"reads ({fields}).", target=str(path),
                          recommended_action="Use the groupid-upgrade version that wrote the set, or take a new "
                          "backup.") from None
    check_manifest_paths(path, manifest)
    problems = field_problems(manifest)
    if problems:
        raise EngineError("BackupSetInvalid", f"The manifest {path} holds values restore cannot rely on: "
                          f"{'; '.join(problems[:10])}{'; ...' if len(problems) > 10 else ''}.", target=str(path),
                          recommended_action="Take a new backup; this set's manifest is damaged.",
                          extra={"fields": problems[:100]})
    return manifest


_SHA256 = frozenset("0123456789abcdef")


def field_problems(manifest: Manifest) -> list[str]:
    """Every value restore reads, checked beyond its type (ranges, formats, references), so a set verify
    accepts is a set restore can use: verify reads the manifest through this too."""
    from datetime import datetime

    problems: list[str] = []
    try:
        created = datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00"))
        if created.tzinfo is None:
            problems.append("createdAt has no time zone")
    except ValueError:
        problems.append("createdAt is not an ISO 8601 time")
    if not manifest.set_id:
        problems.append("setId is empty")
    paths: set[str] = set()
    for i, entry in enumerate(manifest.files):
        where = f"files[{i}]"
        if entry.path in paths:
            problems.append(f"{where}.path {entry.path!r} is listed twice")
        paths.add(entry.path)
        if entry.size < 0:
            problems.append(f"{where}.size is negative")
        if len(entry.sha256) != 64 or not set(entry.sha256) <= _SHA256:
            problems.append(f"{where}.sha256 is not 64 lower-case hex digits")
        if entry.modified_ns is not None and entry.modified_ns < 0:
            problems.append(f"{where}.modifiedNs is negative")
        if entry.part not in PARTS:
            problems.append(f"{where}.part {entry.part!r} is not a part of a backup set")
    names: set[str] = set()
    for part in manifest.parts:
        where = f"parts.{part.name}"
        if part.name not in PARTS:
            problems.append(f"{where} is not a part of a backup set")
        if part.name in names:
            problems.append(f"{where} is listed twice")
        names.add(part.name)
        if part.name == "Database":
            db = part.database
            if db is None:
                problems.append(f"{where}.database is missing")
            elif db.kind == "sqlite" and (db.file is None or db.file not in paths):
                problems.append(f"{where}.database.file is not a file of the set")
            elif db.kind == "sqlserver" and not db.backup_file:
                problems.append(f"{where}.database.backupFile is missing")
            if db is not None and any(n < 0 for n in db.tables.values()):
                problems.append(f"{where}.database.tables holds a negative count")
        if part.name == "GroupAttributes":
            if part.group_attributes is None:
                problems.append(f"{where}.groupAttributes is missing")
            else:
                for ldif in part.group_attributes.files:
                    if ldif.file not in paths:
                        problems.append(f"{where}.groupAttributes.file {ldif.file!r} is not a file of the set")
                    if ldif.entries < 0:
                        problems.append(f"{where}.groupAttributes.entries is negative")
        if part.name == "Elasticsearch":
            es = part.elasticsearch
            if es is None:
                problems.append(f"{where}.elasticsearch is missing")
            elif es.method == "dataFolder" and not es.copied_into:
                problems.append(f"{where}.elasticsearch.copiedInto is missing for a data-folder copy")
            elif es.method == "snapshot" and not es.snapshot:
                problems.append(f"{where}.elasticsearch.snapshot is missing")
        if part.name in FOLDER_PARTS:
            if not part.folders:
                problems.append(f"{where}.folders is empty")
            for folder in part.folders:
                if folder.files < 0 or folder.bytes < 0:
                    problems.append(f"{where}.folders holds a negative count")
    return problems


def unsafe_reason(rel: str) -> str | None:
    """Why a path named by a manifest could leave the set (or the restore root); None when it cannot.

    A manifest path is relative, ``/``-separated, with no ``..`` part and no drive or root, read the
    POSIX way and the Windows way alike (a set made on one system is restored on the other)."""
    if not rel or "\0" in rel:
        return "it is empty or holds a NUL character"
    posix, windows = PurePosixPath(rel), PureWindowsPath(rel)
    if posix.is_absolute() or windows.drive or windows.root:
        return "it is an absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return "it climbs out of its folder with '..'"
    return None


def manifest_paths(manifest: Manifest) -> list[tuple[str, str]]:
    """(field, path) for every path the manifest names inside the set or below a restore root."""
    out = [(f"files[{i}].path", f.path) for i, f in enumerate(manifest.files)]
    for part in manifest.parts:
        if part.database is not None and part.database.file is not None:
            out.append((f"parts.{part.name}.database.file", part.database.file))
        if part.elasticsearch is not None and part.elasticsearch.copied_into is not None:
            out.append((f"parts.{part.name}.elasticsearch.copiedInto", part.elasticsearch.copied_into))
        if part.group_attributes is not None:
            out += [(f"parts.{part.name}.groupAttributes.file", f.file) for f in part.group_attributes.files]
        for folder in part.folders:
            out += [(f"parts.{part.name}.folders.setFolder", folder.set_folder),
                    (f"parts.{part.name}.folders.relative", folder.relative)]
    return out


def check_manifest_paths(path: Path, manifest: Manifest) -> None:
    """``UnsafePath`` naming the manifest, the field and the path, before anything is read or written."""
    for name, rel in manifest_paths(manifest):
        reason = unsafe_reason(rel)
        if reason is not None:
            raise EngineError("UnsafePath", f"The manifest {path} names {rel!r} at {name}: {reason}, so it could "
                              "read or write outside the set or the restore folder; nothing was read or written.",
                              target=str(path), extra={"field": name, "path": rel},
                              recommended_action="Do not use this set; take a new backup with groupid-upgrade.")
