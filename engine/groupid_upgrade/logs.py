"""The engine log: where it lives and how engine code writes to it.

One file of JSON lines (``time``, ``level``, ``pid``, ``logger``, ``message``, and ``traceback``
when there is one), shared by every engine process of a user, so each line carries its pid.

Default places: ``%LOCALAPPDATA%\\GroupIDUpgrade\\logs\\engine.log`` on Windows and
``$XDG_STATE_HOME/groupid-upgrade/logs/engine.log`` (``~/.local/state/...``) elsewhere. The
non-secret environment variable ``GROUPID_UPGRADE_LOG_DIR`` overrides the folder.

Secrets never reach this file because messages are built by the engine from what it knows, never
from raw request params; do not log params, settings objects or exception texts from libraries
that may echo their input.

The file is opened on the first ``get_logger``. The protocol server imports this module only when
it first logs, because ``logging`` is not on the light path of ``engine.hello``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .safety.redact import redact_text

LOG_DIR_ENV = "GROUPID_UPGRADE_LOG_DIR"
LOG_FILE_NAME = "engine.log"
ROOT_LOGGER_NAME = "groupid_upgrade"

_lock = threading.Lock()
_configured_path: Path | None = None
_handler: logging.Handler | None = None


def default_log_dir() -> Path:
    """Where the log goes when ``GROUPID_UPGRADE_LOG_DIR`` is not set."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "GroupIDUpgrade" / "logs"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "groupid-upgrade" / "logs"


def log_dir() -> Path:
    override = os.environ.get(LOG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return default_log_dir()


def log_path() -> Path:
    """The file the engine log is written to now (read from the environment on every call)."""
    return log_dir() / LOG_FILE_NAME


def get_logger(name: str = ROOT_LOGGER_NAME) -> logging.Logger:
    """A logger under ``groupid_upgrade`` that writes to the engine log file and nowhere else.

    ``name`` is a module name such as ``groupid_upgrade.backup``; anything else is put under the
    engine's logger so it cannot escape to the root logger (and from there to stderr or stdout).
    """
    _ensure_configured()
    if name != ROOT_LOGGER_NAME and not name.startswith(ROOT_LOGGER_NAME + "."):
        name = f"{ROOT_LOGGER_NAME}.{name}"
    return logging.getLogger(name)


def _ensure_configured() -> None:
    global _configured_path, _handler
    path = log_path()
    with _lock:
        if _configured_path == path and _handler is not None:
            return
        root = logging.getLogger(ROOT_LOGGER_NAME)
        # Never to the root logger: its last-resort handler prints to stderr, and a traceback
        # there is exactly what the protocol promises the client will not see.
        root.propagate = False
        root.setLevel(logging.DEBUG)
        if _handler is not None:
            root.removeHandler(_handler)
            _handler.close()
        _handler = _open_handler(path)
        root.addHandler(_handler)
        _configured_path = path


class _JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "pid": record.process,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        if record.exc_info:
            entry["traceback"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class _QuietFileHandler(logging.FileHandler):
    def handleError(self, record: logging.LogRecord) -> None:
        # The default prints a traceback to stderr; a full disk must not spill into the client.
        pass


def _open_handler(path: Path) -> logging.Handler:
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler: logging.Handler = _QuietFileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        # No writable log folder must not stop the engine; error messages still name the path.
        handler = logging.NullHandler()
    handler.setFormatter(_JsonLinesFormatter())
    return handler
