"""Directory connections kept open between the requests of one ``serve`` process.

A bind to a domain controller costs far more than the read and modify of one group (on the test bed's
Samba DC about 45 ms against 3), and ``Get-ADGroup ... | Upgrade-Group`` sends one ``group.upgrade``
request per group. So the long-lived engine keeps each bound connection it used, idle, for the next
request that needs the same domain controller with the same account and TLS settings. One-shot
processes (the CLI) do not keep them: ``enable()`` is called by ``serve`` only.

A kept connection is handed out again only when it is younger than ``IDLE_SECONDS`` (Active
Directory drops connections idle for 900 s by default) and its socket has nothing to read (checked
locally, no round trip: a domain controller that restarted or dropped the connection has closed it,
which makes the socket readable); one idle longer than ``PROBE_AFTER_SECONDS`` must also answer a
rootDSE read (a network device may have forgotten the connection without either side closing it).
Otherwise it is closed and a new one bound, so a restarted domain controller costs a new bind, not
a failed request, and back-to-back requests (a pipeline, a loop of cmdlets) cost no probe at all. Connections whose request ended in an error are closed, never kept. The key is a digest of
the settings, the password included, so a changed password never reuses the old bind; the password
itself stays only where it already was (the client).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ldap3 is heavy; this module is imported by the server at start-up
    from .directory import DirectoryClient

IDLE_SECONDS = 300.0
PROBE_AFTER_SECONDS = 30.0
MAX_IDLE = 16


class DirectoryPool:
    def __init__(self, idle_seconds: float = IDLE_SECONDS, max_idle: int = MAX_IDLE,
                 probe_after_seconds: float = PROBE_AFTER_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self.probe_after_seconds = probe_after_seconds
        self.max_idle = max_idle
        self.enabled = False
        self._idle: OrderedDict[str, list[tuple[float, DirectoryClient]]] = OrderedDict()
        self._lock = threading.Lock()
        self.reused = 0  # for the tests and the engine log: how many binds were saved

    def enable(self) -> None:
        self.enabled = True

    def connect(self, client: DirectoryClient) -> DirectoryClient:
        """``client`` connected: a kept connection with the same settings when one is alive, else a new bind."""
        key = client.settings_digest()
        while (taken := self._take(key)) is not None:
            idle_for, kept = taken
            if kept.is_quiet() and (idle_for < self.probe_after_seconds or kept.is_alive()):
                self.reused += 1
                return kept
            kept.close()
        return client.connect()

    def release(self, client: DirectoryClient, *, healthy: bool) -> None:
        """Keep ``client`` for a later request when the pool is on and its request went well; else close it."""
        if not (self.enabled and healthy and client.is_connected):
            client.close()
            return
        key = client.settings_digest()
        with self._lock:
            self._idle.setdefault(key, []).append((time.monotonic(), client))
            self._idle.move_to_end(key)
            surplus = self._surplus()
        for old in surplus:
            old.close()

    def close_all(self) -> None:
        with self._lock:
            idle = [client for entries in self._idle.values() for _, client in entries]
            self._idle.clear()
        for client in idle:
            client.close()

    def idle_count(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._idle.values())

    def _take(self, key: str) -> tuple[float, DirectoryClient] | None:
        """The youngest kept connection for ``key`` and how long it was idle; the expired ones are closed."""
        expired: list[DirectoryClient] = []
        found: tuple[float, DirectoryClient] | None = None
        with self._lock:
            entries = self._idle.get(key, [])
            now = time.monotonic()
            while entries:
                since, client = entries.pop()
                if now - since < self.idle_seconds:
                    found = (now - since, client)
                    break
                expired.append(client)
            if not entries:
                self._idle.pop(key, None)
        for client in expired:
            client.close()
        return found

    def _surplus(self) -> list[DirectoryClient]:
        """The oldest idle connections beyond ``max_idle`` (called with the lock held)."""
        surplus: list[DirectoryClient] = []
        while sum(len(entries) for entries in self._idle.values()) > self.max_idle:
            key = next(iter(self._idle))
            entries = self._idle[key]
            surplus.append(entries.pop(0)[1])
            if not entries:
                del self._idle[key]
        return surplus


POOL = DirectoryPool()
