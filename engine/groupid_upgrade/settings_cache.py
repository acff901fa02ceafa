"""Answer files a long-lived engine (``serve``) has loaded, kept for its later requests.

``foreach ($g in $list) { Upgrade-Group -Identity $g ... }`` sends one request per group to the same
engine, each naming the same answer file; reading, merging and validating it again costs more than the
group's own read and modify. So ``serve`` keeps each loaded ``AnswerFile`` with the identity of every
input it came from, and hands it out again while none of them changed:

- the key: the answer file's path as given, the working folder (relative paths are resolved against
  it), a SHA-256 of the inline ``settings`` and of the explicit overrides (their content, never kept in
  clear beside the settings themselves);
- an entry is used only when each file it was read from (the answer file, its secrets file) has the
  same ``FileStamp`` (device, inode, size, modification and change times, mode) as just before it was
  read. A file whose modification time is within ``RACY_SECONDS`` of the moment it was read could be
  written again within the file system's timestamp resolution with equal stamps, so its content is
  read and its SHA-256 compared as well (the "racy" case); any difference loads the file again.
- a stamp that cannot be taken (the file is gone, unreadable) never matches: the load runs again and
  says what is wrong, as it would have the first time.

Nothing else is cached: the target, its ledger and the run lock are read and taken by every request.
The same ``AnswerFile`` object is handed to each request using the entry (a deep copy would cost a
fifth of the load saved): the engine never changes a loaded ``AnswerFile`` (it derives changed settings
with ``model_copy(update=...)``), and tests/test_settings_cache.py checks that an entry after requests
still equals a fresh load. The entries hold secrets (``SecretStr``) in this process's memory only: nothing is written anywhere,
and the cache is off unless ``serve`` enables it (the one-shot CLI loads every time). The warnings a
load gave (a secrets file readable by others) are given again by each request that uses the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .answerfile import MAX_ANSWER_FILE_BYTES, LoadedAnswers, load_answer_file_traced
from .model.settings import AnswerFile
from .reporting import Reporter
from .safety.reading import FileRefused, FileStamp, read_bytes

RACY_SECONDS = 2.0  # covers the coarsest timestamps in use (FAT: 2 s) and lazily updated ones
MAX_ENTRIES = 8


@dataclass
class _Entry:
    loaded: LoadedAnswers
    read_at_ns: int  # wall clock, as file times are

    def still_current(self) -> bool:
        """Every file unchanged since it was read; a racy one by its content. Once a racy file's content
        was found the same after its window passed, its stamp alone suffices from then on."""
        checked_at_ns = time.time_ns()
        for read in self.loaded.reads:
            now = FileStamp.of(read.given)
            if now is None or now != read.stamp:
                return False
            if self.read_at_ns - now.mtime_ns < RACY_SECONDS * 1e9 and not _same_content(read.given, read.digest):
                return False
        self.read_at_ns = checked_at_ns
        return True


def _same_content(path: Path, digest: str) -> bool:
    try:
        return hashlib.sha256(read_bytes(path, limit=MAX_ANSWER_FILE_BYTES)).hexdigest() == digest
    except (FileRefused, OSError):
        return False


def _key(path: str | Path | None, inline: dict[str, Any] | None, overrides: dict[str, Any] | None) -> str:
    parts = [str(path) if path is not None else "", os.getcwd(),
             json.dumps(inline, sort_keys=True, default=str), json.dumps(overrides, sort_keys=True, default=str)]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


class SettingsCache:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.enabled = False
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # for the tests: how many times a file was loaded, and how often an entry served
        self.hits = 0

    def enable(self) -> None:
        self.enabled = True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def load(self, path: str | Path | None, *, inline: dict[str, Any] | None = None,
             overrides: dict[str, Any] | None = None, reporter: Reporter | None = None) -> AnswerFile:
        """The answer file as ``answerfile.load_answer_file`` loads it; from the cache when enabled and
        nothing it was read from changed."""
        if not self.enabled:
            return load_answer_file_traced(path, inline=inline, overrides=overrides, reporter=reporter).answers
        key = _key(path, inline, overrides)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.still_current():
                self._entries.move_to_end(key)
                self.hits += 1
                entry.loaded.log_warnings(reporter)
                return entry.loaded.answers
            self._entries.pop(key, None)  # changed or failing: its secrets are not kept a moment longer
        read_at_ns = time.time_ns()
        loaded = load_answer_file_traced(path, inline=inline, overrides=overrides, reporter=reporter)
        with self._lock:
            self.loads += 1
            if all(read.stamp is not None for read in loaded.reads):
                self._entries[key] = _Entry(loaded, read_at_ns)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return loaded.answers


SETTINGS = SettingsCache()
