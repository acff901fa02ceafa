"""Every file the engine reads is a regular file of a bounded size.

A path in an answer file, a backup set or a copied folder may name a device (``/dev/zero`` as a
PFX: an endless read), a FIFO (an open that waits for a writer forever), a socket, or a file far
larger than the format allows. The file is opened without blocking (``O_NONBLOCK``: opening a FIFO
returns at once), checked with ``fstat`` on the open descriptor (no window between the check and
the read), and read at most ``limit`` bytes (one byte more proves it too large).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import EngineError

MiB = 1024 * 1024
# Bounds per kind of file: far above what the format holds, far below what hurts.
SETTINGS_FILE_BYTES = 4 * MiB  # an answer file or secrets file
PFX_BYTES = 1 * MiB  # a PKCS#12 file holds a key and a few certificates: kilobytes
CA_FILE_BYTES = 16 * MiB  # a CA bundle (the system's is about 200 KiB)
MANIFEST_BYTES = 512 * MiB  # a backup manifest: about 250 bytes per file of the set

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def kind_of(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    return "not a regular file"


def special_file_reason(path: Path | str, *, follow: bool = True) -> str | None:
    """Why ``path`` is not a regular file that can be read (missing, a device, a FIFO...); None when it is."""
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return "it does not exist"
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or type(exc).__name__})"
    return kind_of(st.st_mode)


class FileRefused(OSError):
    """A file that is not a readable regular file within its bound; ``reason`` says why in words.
    ``special``: it is there but is not a regular file, or is over the bound (a folder copy skips it);
    otherwise it could not be opened at all (missing, no permission: ``errno`` says which)."""

    def __init__(self, path: Path | str, reason: str, *, special: bool = True, code: int | None = None) -> None:
        super().__init__(code or 0, reason, str(path))
        self.path = str(path)
        self.reason = reason
        self.special = special

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@contextlib.contextmanager
def open_regular(path: Path | str, *, limit: int | None = None) -> Iterator[io.FileIO]:
    """The file opened for binary reading, after proving on the open descriptor that it is a regular
    file of at most ``limit`` bytes; ``FileRefused`` otherwise (never waits, never follows a FIFO)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError as exc:
        raise FileRefused(path, "it does not exist", special=False, code=exc.errno) from None
    except IsADirectoryError:
        raise FileRefused(path, "a folder, not a file") from None
    except PermissionError as exc:
        raise FileRefused(path, "this account may not read it", special=False, code=exc.errno) from None
    except OSError as exc:
        raise FileRefused(path, f"it cannot be opened ({exc.strerror or type(exc).__name__})", special=False,
                          code=exc.errno) from None
    try:
        st = os.fstat(fd)
        reason = kind_of(st.st_mode)
        if reason is not None:
            raise FileRefused(path, reason)
        if limit is not None and st.st_size > limit:
            raise FileRefused(path, f"it is {st.st_size} bytes, more than the {limit} bytes such a file can be")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = io.FileIO(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_bytes(path: Path | str, *, limit: int) -> bytes:
    """The whole file, at most ``limit`` bytes; ``FileRefused`` when it is not a regular file or is larger
    (also when it grew past the bound while being read)."""
    with open_regular(path, limit=limit) as handle:
        try:
            # Read what fstat says is there (memory: the file, not the bound), then on to the bound in
            # chunks in case it grows while being read.
            size = os.fstat(handle.fileno()).st_size
            parts = [handle.read(size + 1)]
            total = len(parts[0])
            while total <= limit and len(parts[-1]) > 0 and total > size:
                parts.append(handle.read(min(64 * 1024, limit + 1 - total)))
                total += len(parts[-1])
            data = b"".join(parts)
        except OSError as exc:
            raise FileRefused(path, f"it cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > limit:
        raise FileRefused(path, f"it is more than the {limit} bytes such a file can be")
    return data


def read_limited(path: Path | str, *, what: str, limit: int, error_id: str, target: str | None = None,
                 action: str | None = None) -> bytes:
    """``read_bytes`` with a refusal as ``error_id`` naming ``what`` and the path."""
    try:
        return read_bytes(path, limit=limit)
    except FileRefused as exc:
        raise EngineError(error_id, f"The {what} {path} cannot be read: {exc.reason}.", target=target or str(path),
                          recommended_action=action or f"Give the path of the {what} itself (a regular file).",
                          extra={"reason": exc.reason}) from None


def check_readable(path: Path | str, *, what: str, limit: int, error_id: str, target: str | None = None) -> None:
    """For files a library opens itself (a CA bundle handed to ssl): refuse a device, FIFO, socket or
    over-size file first, so the library never blocks or reads without bound."""
    try:
        with open_regular(path, limit=limit):
            pass
    except FileRefused as exc:
        raise EngineError(error_id, f"The {what} {path} cannot be used: {exc.reason}.", target=target or str(path),
                          recommended_action=f"Give the path of the {what} itself (a regular file).",
                          extra={"reason": exc.reason}) from None


@dataclass(frozen=True)
class FileStamp:
    """What identifies a file's version without reading it: which file (device, inode), its size, times and
    mode. Any write changes the modification and change times; a rename or copy over it, the inode; a
    chmod, the mode and change time. Equal stamps taken within the file system's timestamp resolution of a
    write can still hide that write: settings_cache.py compares the content then."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    mode: int

    @classmethod
    def of(cls, path: Path | str) -> FileStamp | None:
        """The stamp of ``path`` (links followed), or None when it cannot be taken."""
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
