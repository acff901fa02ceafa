"""Files the engine writes for the user (an answer template): whole or not at all, and private.

The file is written to a temporary name created 0600 with ``O_EXCL`` (never a link followed, never
another file's mode inherited), flushed, and renamed over the destination; the destination has
passed ``WriteGuard.check`` first. A resource failure is the named error of ``resources``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ..errors import EngineError
from .resources import resource_error

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


def write_private_file(path: Path, data: bytes, *, what: str, error_id: str) -> Path:
    path = Path(path)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        fd = os.open(temp, _FLAGS, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        named = resource_error(exc, path=str(path), error_id=error_id)
        if named is not None:
            raise named from None
        raise EngineError(error_id, f"The {what} {path} cannot be written ({exc.strerror or type(exc).__name__}).",
                          target=str(path), recommended_action="Choose a writable path for a new file.") from None
    return path
