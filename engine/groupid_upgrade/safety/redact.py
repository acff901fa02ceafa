"""Credentials inside URLs never reach stdout, stderr, logs or records.

A directory, search or database address may be written ``scheme://user:password@host``; the
engine passes the credentials on through the client's own options and shows the address without
them. ``redact_text`` is applied where text leaves the engine: every ``EngineError`` message and
target (errors.py), every log line (the engine log's filter, the reporters' ``log``).
"""

from __future__ import annotations

TYPE_CHECKING = False  # re is compiled on first need: errors.py imports this on engine.hello's path
if TYPE_CHECKING:
    from re import Pattern

# scheme://userinfo@ : userinfo runs to the last "@" before the path (no "/", "?", "#" or blank in it);
# control and other Unicode characters are part of it (``\s`` would stop at U+001F and leave the rest).
_URL_USERINFO_PATTERN = r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?# \t\n\r\f\v]+)@"
_compiled: list[Pattern[str]] = []


def redact_text(text: str) -> str:
    """``text`` with the user information of every URL in it replaced by ``***``."""
    if "@" not in text or "://" not in text:
        return text
    if not _compiled:
        import re

        _compiled.append(re.compile(_URL_USERINFO_PATTERN))
    return _compiled[0].sub(lambda m: f"{m.group('scheme')}***@", text)
