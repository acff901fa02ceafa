"""Folder copies for the backup set: streamed, hashed while copying, timestamps kept, links not
followed out of the tree, long paths handled (Windows ``\\\\?\\`` prefix).

Memory is one buffer per file being copied, whatever the file's size. The SHA-256 is computed from
the bytes read, in the same pass that writes them, so every byte is read from the source once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EngineError
from ..faults import fault_point
from ..reporting import Reporter
from ..safety.reading import FileRefused, open_regular, special_file_reason

BUFFER = 1024 * 1024


def long_path(path: Path | str) -> str:
    """The path as the OS wants it for any length: on Windows the extended-length form."""
    text = os.fspath(path)
    if os.name == "nt":  # pragma: no cover - Windows only
        text = os.path.abspath(text)
        if not text.startswith("\\\\?\\"):
            text = "\\\\?\\UNC\\" + text[2:] if text.startswith("\\\\") else "\\\\?\\" + text
    return text


def _open_source(path: Path) -> contextlib.AbstractContextManager[io.FileIO]:
    """A file to read whole, proven regular on its descriptor (safety/reading.py): ``FileRefused`` (an
    OSError) for a device, FIFO or socket, or one that cannot be opened."""
    return open_regular(long_path(path))


def hash_file(path: Path, reporter: Reporter | None = None) -> tuple[int, str]:
    """Size and SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    size = 0
    with _open_source(path) as fh:
        buf = bytearray(BUFFER)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            size += n
            if reporter is not None and n == BUFFER:
                reporter.check_cancelled("the backup check")
    return size, digest.hexdigest()


def copy_file_hashed(src: Path, dst: Path, reporter: Reporter | None = None, *, durable: bool = False
                     ) -> tuple[int, str, int]:
    """Copy ``src`` to ``dst`` (created; never a link) hashing the bytes; keep the timestamps.

    Returns (size, sha256, mtime_ns). With ``durable`` the copy is fsynced before it is closed.
    """
    digest = hashlib.sha256()
    size = 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    with _open_source(src) as fin:
        st = os.fstat(fin.fileno())
        fd = os.open(long_path(dst), flags, 0o600)
        try:
            buf = bytearray(BUFFER)
            view = memoryview(buf)
            while True:
                n = fin.readinto(buf)
                if not n:
                    break
                chunk = view[:n]
                digest.update(chunk)
                written = 0
                while written < n:
                    try:
                        written += os.write(fd, chunk[written:])
                    except OSError as exc:  # os.write names no file: name the copy (EFBIG, ENOSPC, EIO)
                        raise OSError(exc.errno, exc.strerror, os.fspath(dst)) from None
                size += n
                if reporter is not None and n == BUFFER:
                    reporter.check_cancelled("the backup")
            if durable:
                try:
                    os.fsync(fd)
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, os.fspath(dst)) from None
        finally:
            os.close(fd)
    os.utime(long_path(dst), ns=(st.st_atime_ns, st.st_mtime_ns))
    return size, digest.hexdigest(), st.st_mtime_ns


@dataclass
class CopiedFile:
    relative: str  # /-separated, relative to the copied folder
    size: int
    sha256: str
    mtime_ns: int


@dataclass
class TreeCopy:
    files: list[CopiedFile] = field(default_factory=list)
    skipped_links: list[str] = field(default_factory=list)
    # (relative path, reason): devices, FIFOs, sockets, files that could not be opened as regular files
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk_files(root: Path) -> Iterator[tuple[str, os.DirEntry[str] | None, str]]:
    """``(relative, entry, kind)`` for every file under ``root``, sorted, never following a link to a
    folder; ``kind`` is ``file``, ``link-in`` (a link to a file inside the tree: copied as its content)
    or ``link-out`` (a link leaving the tree, or to a folder: not followed)."""
    real_root = os.path.realpath(root)
    stack = [("", os.fspath(root))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            entries = sorted(os.scandir(long_path(abs_dir)), key=lambda e: e.name)
        except OSError as exc:
            raise EngineError("SourceFolderNotFound", f"The folder {abs_dir} cannot be read ({exc.strerror}).",
                              target=abs_dir, recommended_action="Check that the account running the backup "
                              "can read it.") from None
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if entry.is_symlink():
                target = os.path.realpath(os.path.join(abs_dir, entry.name))
                if os.path.isfile(target) and _inside(target, real_root):
                    yield rel, entry, "link-in"
                else:
                    yield rel, entry, "link-out"
            elif entry.is_dir(follow_symlinks=False):
                subdirs.append((rel, os.path.join(abs_dir, entry.name)))
            elif entry.is_file(follow_symlinks=False):
                yield rel, entry, "file"
            else:  # a device, FIFO or socket: never opened (a FIFO would wait for a writer forever)
                yield rel, entry, "special"
        stack.extend(reversed(subdirs))


def copy_tree_hashed(
    src: Path,
    dst: Path,
    reporter: Reporter,
    *,
    activity: str,
    on_file: Callable[[CopiedFile], None] | None = None,
) -> TreeCopy:
    """Copy the tree ``src`` into ``dst`` (which must not exist yet), hashing every file."""
    out = TreeCopy()
    os.makedirs(long_path(dst), exist_ok=False)
    made: set[str] = {""}
    count = 0
    for rel, _entry, kind in walk_files(src):
        reporter.check_cancelled("the backup")
        if kind == "link-out":
            out.skipped_links.append(rel)
            continue
        if kind == "special":
            out.skipped.append((rel, special_file_reason(src / rel, follow=False) or "not a regular file"))
            continue
        parent = rel.rpartition("/")[0]
        if parent not in made:
            os.makedirs(long_path(dst / parent), exist_ok=True)
            made.add(parent)
        try:
            size, sha, mtime = copy_file_hashed(src / rel, dst / rel, reporter)
        except FileRefused as exc:
            if not exc.special:
                raise  # unreadable: the backup fails naming it (create._io_error)
            out.skipped.append((rel, exc.reason))  # replaced by a FIFO or device since the folder was listed
            continue
        copied = CopiedFile(rel, size, sha, mtime)
        out.files.append(copied)
        if on_file is not None:
            on_file(copied)
        count += 1
        fault_point("backup-file-copied")
        reporter.progress(f"backup-{activity}", f"Backing up {activity}", rel, count)
    # folder timestamps last (writing files into a folder changes its mtime)
    for dirpath, _dirs, _files in os.walk(long_path(src), topdown=False):
        rel = os.path.relpath(dirpath, long_path(src))
        target = dst if rel == "." else dst / rel
        os.makedirs(long_path(target), exist_ok=True)  # empty folders too
        st = os.stat(dirpath)
        os.utime(long_path(target), ns=(st.st_atime_ns, st.st_mtime_ns))
    return out


def is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(long_path(path)).st_mode)
    except OSError:
        return False
