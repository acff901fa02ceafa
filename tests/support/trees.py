"""What a folder holds, to prove a tree was not written (R4: the source is never written) or that two
trees hold the same files (a backup set and its source, a restored folder and the original).

``snapshot(root)`` records every entry under ``root`` and ``root`` itself: its kind, size, mode,
owner, link count, mtime (ns) and, for a file, the SHA-256 of its content; a symbolic link is
recorded with where it points and never followed; FIFOs, sockets and devices are recorded, never
opened. Any file written (even with the same bytes: the mtime moves), created, removed, renamed,
chmod-ed, chown-ed or hard-linked changes the snapshot; so does a file created and removed again in a
folder (the folder's mtime moves). ``contents(root)`` keeps only what a copy shares with its original
(paths, kinds, content hashes and link targets; file mtimes if asked), for comparing two different trees.

    before = trees.snapshot(sample.source)
    ...  # run the engine
    trees.assert_unchanged(sample.source, before)

    with trees.unchanged(sample.source):
        ...  # the same, as a block
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["file", "dir", "link", "other"]
ROOT = "."


@dataclass(frozen=True)
class Entry:
    """One entry of a tree, as ``lstat`` and its content show it."""

    kind: Kind
    size: int
    mode: int  # st_mode: type and permission bits
    uid: int
    gid: int
    nlink: int  # a hard link made to a source file shows here
    mtime_ns: int
    sha256: str | None = None  # files only
    link_target: str | None = None  # symbolic links only (not followed)

    def content(self) -> str:
        """What a faithful copy of this entry has too."""
        if self.kind == "file":
            return f"sha256:{self.sha256}"
        if self.kind == "link":
            return f"link:{self.link_target}"
        if self.kind == "dir":
            return "<dir>"
        return f"<other {stat.S_IFMT(self.mode):o}>"


Snapshot = dict[str, Entry]


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def _digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def entry(path: str | Path) -> Entry:
    st = os.lstat(path)
    kind = _kind(st.st_mode)
    return Entry(kind=kind, size=st.st_size if kind != "dir" else 0, mode=st.st_mode, uid=st.st_uid,
                 gid=st.st_gid, nlink=st.st_nlink if kind != "dir" else 0, mtime_ns=st.st_mtime_ns,
                 sha256=_digest(str(path)) if kind == "file" else None,
                 link_target=os.readlink(path) if kind == "link" else None)


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root`` by its relative POSIX path, and ``root`` itself as ``"."``.

    A missing ``root`` is an empty snapshot (so "nothing was created there" compares too). Folder sizes
    and link counts are left out: they follow the entries, which are compared one by one.
    """
    root = Path(root)
    if not os.path.lexists(root):
        return {}
    out: Snapshot = {ROOT: entry(root)}
    if out[ROOT].kind != "dir":
        return out
    for dirpath, dirnames, filenames in os.walk(root):  # followlinks=False: a link to a folder is one entry
        for name in sorted([*dirnames, *filenames]):
            path = os.path.join(dirpath, name)
            out[Path(os.path.relpath(path, root)).as_posix()] = entry(path)
    return out


def contents(root: Path, *, mtimes: bool = False) -> dict[str, str]:
    """What a copy of ``root`` shares with it: relative path -> content hash, link target or kind; with
    ``mtimes``, each file's mtime too (a backup or a restore keeps them; a folder's own changes as it fills).

    The root itself is left out, so a folder and its copy under another name compare equal.
    """
    return {path: e.content() + (f" mtime:{e.mtime_ns}" if mtimes and e.kind == "file" else "")
            for path, e in snapshot(root).items() if path != ROOT}


def files(root: Path) -> list[str]:
    """The relative paths of the regular files under ``root``, sorted."""
    return sorted(path for path, e in snapshot(root).items() if e.kind == "file")


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two snapshots of one tree, one line per entry, sorted by path."""
    out: list[str] = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new:
            continue
        if old is None:
            out.append(f"{path}: created ({new.kind})")  # type: ignore[union-attr]
            continue
        if new is None:
            out.append(f"{path}: removed ({old.kind})")
            continue
        what = [name for name in ("kind", "sha256", "link_target", "size", "mode", "uid", "gid", "nlink",
                                  "mtime_ns") if getattr(old, name) != getattr(new, name)]
        detail = ", ".join(
            f"mode {stat.filemode(old.mode)} -> {stat.filemode(new.mode)}" if name == "mode" else
            "content" if name == "sha256" else f"{name} {getattr(old, name)} -> {getattr(new, name)}"
            for name in what)
        out.append(f"{path}: {detail}")
    return out


def assert_unchanged(root: Path, before: Snapshot, what: str = "the tree") -> None:
    """Fails naming every entry of ``root`` that differs from ``before`` (the first 20)."""
    found = changes(before, snapshot(root))
    assert not found, f"{what} at {root} changed ({len(found)} entries):\n" + "\n".join(found[:20])


@contextlib.contextmanager
def unchanged(root: Path, what: str = "the tree") -> Iterator[Snapshot]:
    """The block leaves ``root`` exactly as it was (content, mode, owner, links, mtimes)."""
    before = snapshot(root)
    yield before
    assert_unchanged(root, before, what)
