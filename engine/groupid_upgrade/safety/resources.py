"""The one translation point from a resource failure to an error a person can act on.

Disk full, quota exceeded, file-size limit, read-only file system, permission denied: whether
``os.write`` raised it (OSError with an errno), ``shutil``, ``zipfile`` or SQLite ("database or
disk is full", "attempt to write a readonly database"), the error names the path and what to do,
never "an unexpected ...". The caller says which error id fits where the write happened (the
target: ``TargetWriteFailed``; a backup set: ``BackupDestinationInvalid``; a file the user asked
for: ``OutputPathInvalid``); the CLI and the protocol server translate whatever reached them
unhandled (``translate``) before they would call it unexpected.
"""

from __future__ import annotations

import errno
import sqlite3

from ..errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# errno -> (what happened, what to do)
_OS_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "Free space on that disk (or choose another one), then run again."),
    errno.EFBIG: ("the file is larger than the file-size limit allows",
                  "Raise the file-size limit (ulimit -f) or write to a file system without it, then run again."),
    errno.EROFS: ("the file system is read-only", "Choose a writable location, then run again."),
    errno.EACCES: ("permission denied", "Give the account running the engine write access there, or choose "
                   "another location, then run again."),
    errno.EPERM: ("the operation is not permitted", "Give the account running the engine write access there, or "
                  "choose another location, then run again."),
}
if hasattr(errno, "EDQUOT"):
    _OS_REASONS[errno.EDQUOT] = ("the disk quota is exceeded", "Free space within the quota (or raise it), then "
                                 "run again.")

# SQLite primary result codes: SQLITE_PERM 3, SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_CANTOPEN 14, SQLITE_FULL 13
_SQLITE_REASONS: dict[int, tuple[str, str]] = {
    13: _OS_REASONS[errno.ENOSPC],
    8: ("the database cannot be written (read-only file or file system)",
        "Make the database file and its folder writable, or choose another location, then run again."),
    3: _OS_REASONS[errno.EACCES],
    14: ("the database file cannot be opened or created", "Check that its folder exists and is writable, then "
         "run again."),
    # SQLite reports a write refused by the system (ENOSPC, EFBIG, EIO) as an I/O error
    10: ("the disk could not be read or written (I/O error: a full disk, a file-size limit or a failing disk)",
         "Check the free space, the file-size limit (ulimit -f) and the disk, then run again."),
}
_SQLITE_TEXTS = (("database or disk is full", 13), ("readonly database", 8), ("unable to open database", 14),
                 ("disk i/o error", 10))


def reason_of(exc: BaseException) -> tuple[str, str] | None:
    """(what happened, what to do) when ``exc`` is a resource failure; None for anything else."""
    if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
        return _OS_REASONS[exc.errno]
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) in _SQLITE_REASONS:
            return _SQLITE_REASONS[code & 0xFF]
        text = str(exc).lower()
        for words, primary in _SQLITE_TEXTS:
            if words in text:
                return _SQLITE_REASONS[primary]
    return None


def resource_error(exc: BaseException, *, path: str | None, error_id: str, doing: str = "writing") -> EngineError | None:
    """The named error for a resource failure while ``doing`` ``path`` (the exception's own file name
    when no path is given); None when ``exc`` is not one, so the caller re-raises it."""
    found = reason_of(exc)
    if found is None:
        return None
    what, action = found
    name = path or getattr(exc, "filename", None)
    where = f" {name}" if name else ""
    # The system's own words too (``Read-only file system``, ``database or disk is full``): what an admin searches for.
    detail = (exc.strerror if isinstance(exc, OSError) else str(exc)[:200]) or type(exc).__name__
    return EngineError(error_id, f"{doing[:1].upper()}{doing[1:]}{where} failed: {what} ({detail}).",
                       target=str(name) if name else None,
                       recommended_action=action,
                       extra={"resource": what, **({"path": str(name)} if name else {})})


_last_database: list[str] = []


def note_database(name: str) -> None:
    """The database the engine writes now: a SQLite error names no file, so ``translate`` names this one."""
    _last_database[:] = [name]


def translate(exc: BaseException) -> EngineError | None:
    """For the CLI's and the server's last line of defence: a resource failure nobody named yet."""
    name: Any = getattr(exc, "filename", None)
    if name is None and isinstance(exc, sqlite3.Error) and _last_database:
        name = _last_database[0]
    return resource_error(exc, path=name, error_id="TargetWriteFailed")
