"""Entry point of ``groupid-upgrade`` and ``python -m groupid_upgrade``.

``serve`` starts the JSON-RPC server without importing click or the CLI: a PowerShell pipeline waits
for ``engine.hello`` on every start, so the server's start-up is kept to what it needs.
"""

from __future__ import annotations

# _signal, not signal: the signal module wraps it in enums (``import enum`` alone is a sixth of a bare
# interpreter's start-up) and this runs before every ``serve`` answers ``engine.hello``.
import _signal  # type: ignore[import-not-found]  # (no stub: the C half of signal)
import sys


def main() -> None:
    if hasattr(_signal, "SIGXFSZ"):  # POSIX: a file-size limit makes a write fail with EFBIG (named), not kill us
        _signal.signal(_signal.SIGXFSZ, _signal.SIG_IGN)
    if sys.argv[1:] == ["serve"]:
        from .protocol.server import run_server

        sys.exit(run_server(sys.stdin.buffer, sys.stdout.buffer))
    from .cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
