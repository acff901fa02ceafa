"""One run at a time per written installation: the run lock.

Every command that writes (``upgrade.run``, ``group.upgrade``, ``backup.restore``, ``backup.create``)
holds the lock of what it writes for as long as it writes; a second command that would write the same
thing refuses at once with ``TargetInUse`` naming the holder. A what-if takes no lock: it asks whether
the lock is held (and says ``TargetInUse`` as the run would) without writing anything.

The lock is an operating-system lock on a small file in a machine-wide folder (``%ProgramData%\\
GroupIDUpgrade\\locks`` on Windows, ``/var/tmp/groupid-upgrade-locks`` elsewhere; ``GROUPID_UPGRADE_LOCK_FOLDER``
overrides it), one file per resource, named by a hash of the resource's identity (the resolved database
path, or the SQL Server and database names). The system releases such a lock when its process ends, a
``kill -9`` or a power cut included, so a lock is never left held by a dead run: the next command
takes it over, finds the dead holder's description still in the file, and says so. Nothing is written
beside the source or the target, and the lock exists before the target database does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import EngineError

LOCK_FOLDER_ENV = "GROUPID_UPGRADE_LOCK_FOLDER"
# A holder that has locked the file but not yet described itself (or a what-if probing it) is waited
# for this long before the lock is reported as in use by a starting command.
STARTING_GRACE_SECONDS = 2.0
_WINDOWS_LOCK_OFFSET = 0x7FFF0000  # the byte locked on Windows: past the description, which stays readable


@dataclass(frozen=True)
class Holder:
    run_id: str
    operation: str
    pid: int
    host: str
    since: str
    resource: str

    def wire(self) -> dict[str, Any]:
        return {"runId": self.run_id, "operation": self.operation, "pid": self.pid, "host": self.host,
                "since": self.since}

    def describe(self) -> str:
        return f"run {self.run_id} ({self.operation}, process {self.pid} on {self.host}) since {self.since}"


def lock_folder() -> Path:
    override = os.environ.get(LOCK_FOLDER_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "GroupIDUpgrade" / "locks"
    return Path("/var/tmp/groupid-upgrade-locks")


def resource_identity(kind: str, name: str) -> str:
    """A canonical name of a written resource: equal for every spelling of the same database or folder."""
    if kind == "path":
        resolved = os.path.normcase(str(Path(name).expanduser().resolve()))
        return f"path:{resolved}"
    return f"{kind}:{name.strip().lower()}"


def lock_path(identity: str) -> Path:
    return lock_folder() / f"{hashlib.sha256(identity.encode('utf-8')).hexdigest()[:32]}.lock"


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _read_holder(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096)
    try:
        data: Any = json.loads(text.decode("utf-8")) if text.strip() else None
        return Holder(**data) if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None  # a description cut by a crash while it was written: no holder to name


def _in_use(what: str, holder: Holder | None) -> EngineError:
    by = holder.describe() if holder is not None else "another command that is starting"
    return EngineError(
        "TargetInUse",
        f"The {what} is in use by {by}; only one command at a time may write it, so nothing was done.",
        target=what,
        recommended_action="Wait for that command to end (groupid-upgrade status shows the runs), or stop it, "
                           "then run again.",
        extra={"holder": holder.wire() if holder is not None else None},
    )


def _folder_error(folder: Path, exc: OSError) -> EngineError:
    return EngineError("TargetWriteFailed", f"The lock folder {folder} cannot be written ({exc.strerror}); "
                       "nothing was done.", target=str(folder),
                       recommended_action=f"Let the account write {folder}, or point {LOCK_FOLDER_ENV} at a "
                                          "folder every account running the upgrade can write.")


def _make_shared_folder(folder: Path) -> None:
    """The lock folder, shared by every account that runs a command on this machine (a scheduled task's
    and an admin's): on POSIX world-writable with the sticky bit, like /tmp; on Windows ProgramData's own
    permissions let every user create files there."""
    if folder.is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True)
    if sys.platform != "win32" and os.environ.get(LOCK_FOLDER_ENV) is None:
        with contextlib.suppress(OSError):
            os.chmod(folder, 0o1777)


class RunLock:
    """The lock of one resource, held by this process while a ``with`` block runs."""

    def __init__(self, identity: str, what: str) -> None:
        self.identity = identity
        self.what = what
        self.path = lock_path(identity)
        self.previous: Holder | None = None  # a dead holder whose lock this one took over

    def _lock_or_refuse(self, fd: int) -> None:
        """Lock ``fd``, or raise ``TargetInUse`` naming the holder; a holder not yet described (starting, or a
        what-if probing) is waited for up to ``STARTING_GRACE_SECONDS``."""
        deadline = time.monotonic() + STARTING_GRACE_SECONDS
        while not _try_lock(fd):
            holder = _read_holder(fd)
            if holder is not None or time.monotonic() > deadline:
                raise _in_use(self.what, holder)
            time.sleep(0.05)

    def probe(self) -> Holder | None:
        """Raise ``TargetInUse`` when another process holds the lock; write nothing (what-if)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _folder_error(self.path.parent, exc) from None
        try:
            self._lock_or_refuse(fd)
            _unlock(fd)
            return None
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def hold(self, run_id: str, operation: str) -> Iterator[RunLock]:
        try:
            _make_shared_folder(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise _folder_error(self.path.parent, exc) from None
        if hasattr(os, "fchmod"):  # another account's command must be able to lock it too (POSIX)
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o666)
        try:
            self._lock_or_refuse(fd)
            self.previous = _read_holder(fd)  # still described: its process ended without releasing
            me = Holder(run_id=run_id, operation=operation, pid=os.getpid(), host=socket.gethostname(),
                        since=datetime.now(timezone.utc).isoformat(timespec="seconds"), resource=self.identity)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(me.__dict__).encode("utf-8"))
            try:
                yield self
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)  # released cleanly: nobody to name as a dead holder
                _unlock(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def exclusive(lock: RunLock, run_id: str, operation: str, *, what_if: bool) -> Iterator[RunLock]:
    """Hold ``lock`` for a command that writes; a what-if only asks (``TargetInUse`` as the command would say)."""
    if what_if:
        lock.probe()
        yield lock
        return
    with lock.hold(run_id, operation):
        yield lock


def target_lock(settings: Any) -> RunLock:
    """The lock of an 11 target: its database (``TargetSettings``)."""
    database = settings.database
    if database.kind == "sqlite":
        return RunLock(resource_identity("path", str(database.path)), f"target database {database.path}")
    return RunLock(resource_identity("sqlserver", f"{database.server}/{database.database}"),
                   f"target database {database.database} on {database.server}")


def folder_lock(path: Path, what: str) -> RunLock:
    return RunLock(resource_identity("path", str(path)), what)


def source_lock(settings: Any) -> RunLock:
    """The lock of a 9/10 installation a restore writes back into (``SourceSettings``)."""
    database = settings.database
    if database.kind == "sqlite":
        return RunLock(resource_identity("path", str(database.path)), f"source database {database.path}")
    return RunLock(resource_identity("sqlserver", f"{database.server}/{database.database}"),
                   f"source database {database.database} on {database.server}")
