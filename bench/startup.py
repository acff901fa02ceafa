"""Start-up benchmark: how long `groupid-upgrade serve` takes to answer `engine.hello`.

    python bench/startup.py [--runs N] [--quick]

The cmdlets start one engine per call (spec/protocol.md), so the engine's start-up is paid on every
`Get-`/`Test-` call. Target: hello answered within 3x the time of a bare `python -c pass` on the
same machine. Both are measured in this run, best of N (noise only ever adds time), and printed as
figures and as the ratio `ratio: X`. It prints `target met: yes|no`; it does not fail on a
slow machine (timings are never asserted in tests), but exits 1 if the engine does not answer.
"""

from __future__ import annotations

import argparse
import compileall
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVE = [sys.executable, "-m", "groupid_upgrade", "serve"]
BARE = [sys.executable, "-c", "pass"]
HELLO = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "engine.hello", "params": {}}).encode() + b"\n"


def time_bare() -> float:
    started = time.perf_counter()
    subprocess.run(BARE, check=True, stdin=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_hello() -> float:
    started = time.perf_counter()
    process = subprocess.Popen(SERVE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO)
    assert process.stdin and process.stdout
    process.stdin.write(HELLO)
    process.stdin.flush()
    answer = process.stdout.readline()
    elapsed = time.perf_counter() - started
    process.stdin.close()
    process.wait(30)
    if b'"result"' not in answer:
        raise SystemExit(f"engine did not answer hello: {answer[:500]!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="5 runs each (CI)")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    # `pip install` of the wheel compiles the package to bytecode; an editable checkout (or one run
    # with PYTHONDONTWRITEBYTECODE) would compile every module on every start instead.
    compileall.compile_dir(str(REPO / "engine" / "groupid_upgrade"), quiet=1)
    print("engine bytecode compiled, as pip install does")
    time_hello()  # warm the file cache and the .pyc files so both sides start warm
    bare = min(time_bare() for _ in range(runs))
    served = min(time_hello() for _ in range(runs))
    ratio = served / bare
    print(f"runs: {runs} each, best of")
    print(f"python -c pass: {bare * 1000:.1f} ms")
    print(f"serve, hello answered: {served * 1000:.1f} ms")
    print(f"ratio: {ratio:.2f}")
    print(f"target met: {'yes' if ratio <= 3 else 'no'} (<= 3.00)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
