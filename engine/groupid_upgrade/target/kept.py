"""The SQLite target a long-lived engine (``serve``) keeps open between its ``group.upgrade`` requests.

``foreach ($g in $list) { Upgrade-Group -Identity $g ... }`` sends one request per group to the session's
engine. Opening the target for each (connect, WAL set-up, the catalogue read, the R13 prerequisite read
from the ledger) and closing it (SQLite checkpoints the WAL when its last connection closes) cost more
than the engine's own work on the group. So after a request that went well ``serve`` keeps the target
open for ``KEEP_SECONDS``, and the next request for the same target takes it back:

- only while the run lock is held: every request takes the target's run lock before it takes the
  target, and hands it back before the lock is released, so a kept connection is never used outside
  the lock; between requests it holds no transaction and no SQLite lock (other processes read and
  write the file as usual);
- only the same file: the key is a digest of the target's settings (the passphrase enters hashed), and
  the file's identity (device, inode) must be the one opened. A target deleted or replaced meanwhile
  is noticed, closed and opened again;
- a change by anyone else is noticed: SQLite's ``data_version`` changes exactly when another connection
  committed to the file. ``unchanged`` tells the request whether it may reuse what it derived from the
  target last time (its stores, the prerequisite, the schema check); when anything changed it derives
  them again;
- never longer than ``KEEP_SECONDS`` idle (a timer closes it), so a Windows admin can delete or copy the
  target a few seconds after the last Upgrade-Group (Windows refuses both while a file is open); and
  closed before any request of another method, at shutdown and when the engine idles out.

What-if requests open the target read-only (immutable, nothing to save) and SQL Server targets are not
kept (a kept ODBC connection would need a round trip to prove it alive); the one-shot CLI keeps nothing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model.settings import SqliteDatabase, TargetSettings
from ..safety.paths import WriteGuard
from ..safety.reading import FileStamp
from .writer import TargetInstallation

KEEP_SECONDS = 5.0


def _identity(path: Path) -> tuple[int, int] | None:
    stamp = FileStamp.of(path)
    return None if stamp is None else (stamp.device, stamp.inode)


def _key(settings: TargetSettings) -> str:
    passphrase = settings.passphrase.get_secret_value() if settings.passphrase is not None else ""
    parts = [settings.model_dump_json(), hashlib.sha256(passphrase.encode()).hexdigest()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass
class OpenTarget:
    """A target opened for one request: fresh, or kept from an earlier request of this engine."""

    target: TargetInstallation
    key: str | None = None  # None: closed after the request (what-if, SQL Server, the pool off)
    identity: tuple[int, int] | None = None
    unchanged: bool = False  # kept, and nobody else wrote the file since this engine's last request
    derived: dict[str, Any] = field(default_factory=dict)  # what requests read from it; valid while unchanged


@dataclass
class _Kept:
    since: float
    opened: OpenTarget
    data_version: int | None


class KeptTargets:
    def __init__(self, keep_seconds: float = KEEP_SECONDS) -> None:
        self.keep_seconds = keep_seconds
        self.enabled = False
        self._kept: dict[str, _Kept] = {}
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None  # one, for the oldest kept target
        self.reused = 0  # for the tests: how many opens were saved

    def enable(self) -> None:
        self.enabled = True

    def open(self, settings: TargetSettings, *, read_only: bool, guard: Callable[[], WriteGuard] | None,
             create_schema: bool) -> OpenTarget:
        """The target for a request (the caller holds its run lock): the kept one when it is the same
        file, else a new ``TargetInstallation``, opened through the write guard ``guard()`` builds. A kept
        one is not checked again: the guard checks paths before they are opened for writing, and a kept
        target opens nothing (its database and WAL files are open already; a group request writes no
        other file of the target)."""
        database = settings.database
        if not (self.enabled and not read_only and isinstance(database, SqliteDatabase)):
            return OpenTarget(TargetInstallation(settings, read_only=read_only, guard=guard() if guard else None,
                                                 create_schema=create_schema))
        key, path = _key(settings), Path(database.path)
        with self._lock:
            kept = self._kept.pop(key, None)
        if kept is not None:
            identity = _identity(path)
            fresh = time.monotonic() - kept.since < self.keep_seconds
            if fresh and identity is not None and identity == kept.opened.identity:
                opened = kept.opened
                opened.unchanged = kept.data_version is not None and _data_version(opened) == kept.data_version
                if not opened.unchanged:
                    opened.derived.clear()
                self.reused += 1
                return opened
            kept.opened.target.close()
        target = TargetInstallation(settings, read_only=False, guard=guard() if guard else None,
                                    create_schema=create_schema)
        return OpenTarget(target, key=key, identity=_identity(path))

    def release(self, opened: OpenTarget, *, healthy: bool) -> None:
        """After the request, still under its run lock: kept when it went well, else closed."""
        if opened.key is None or not (self.enabled and healthy) or opened.target.db is None:
            opened.target.close()
            return
        kept = _Kept(time.monotonic(), opened, _data_version(opened))
        with self._lock:
            previous = self._kept.pop(opened.key, None)
            self._kept[opened.key] = kept
            self._arm(self.keep_seconds)
        if previous is not None and previous.opened is not opened:
            previous.opened.target.close()

    def close_all(self) -> None:
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        for entry in kept:
            entry.opened.target.close()

    def kept_count(self) -> int:
        with self._lock:
            return len(self._kept)

    def _arm(self, seconds: float) -> None:
        """Called with the lock held: a timer runs whenever something is kept."""
        if self._timer is None:
            self._timer = threading.Timer(seconds, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._timer = None
            old = [key for key, entry in self._kept.items() if now - entry.since >= self.keep_seconds]
            # Closed under the lock: once nothing is counted as kept, nothing is still being closed (a
            # connection closed by this thread while another uses it can crash the process).
            for key in old:
                self._kept.pop(key).opened.target.close()
            if self._kept:
                oldest = min(entry.since for entry in self._kept.values())
                self._arm(max(0.01, oldest + self.keep_seconds - now))


def _data_version(opened: OpenTarget) -> int | None:
    db = opened.target.db
    return db.data_version() if db is not None else None


KEPT = KeptTargets()
