"""Start-up benchmark: how long `groupid-upgrade serve` takes to answer `engine.hello`.

    python bench/startup.py [--runs N] [--quick]

The cmdlets start one engine per call (spec/protocol.md), so the engine's start-up is paid on every
`Get-`/`Test-` call. Target (issue #19): hello answered within 1.5x the time of a bare
`python -c pass` on the same machine. Both are measured in this run, interleaved (so both see the
same load on a shared machine), best of N (noise only ever adds time), and printed as figures and as
the ratio `ratio: X`; the median of the per-round ratios is printed beside it. `python -m` of an
empty module is printed too: it is what `-m` itself costs (runpy and what it imports) before a line
of the engine runs. It prints `target met: yes|no`; it does not fail on a slow machine (timings are
never asserted in tests), but exits 1 if the engine does not answer.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._performance_doc import write_if_asked  # noqa: E402

SERVE = [sys.executable, "-m", "groupid_upgrade", "serve"]
BARE = [sys.executable, "-c", "pass"]
TARGET = 1.5
HELLO = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "engine.hello", "params": {}}).encode() + b"\n"


def time_command(command: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL, cwd=cwd)
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
    parser.add_argument("--write-doc", type=Path, metavar="PATH",
                        help="write the figures into this run's section of PATH (docs/performance.md)")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    # `pip install` of the wheel compiles the package to bytecode; an editable checkout (or one run
    # with PYTHONDONTWRITEBYTECODE) would compile every module on every start instead.
    compileall.compile_dir(str(REPO / "engine" / "groupid_upgrade"), quiet=1)
    print("engine bytecode compiled, as pip install does")
    with tempfile.TemporaryDirectory() as empty_dir:
        (Path(empty_dir) / "empty_module.py").write_text("")
        dash_m = [sys.executable, "-m", "empty_module"]
        time_hello()  # warm the file cache and the .pyc files so both sides start warm
        bare: list[float] = []
        served: list[float] = []
        module: list[float] = []
        for _ in range(runs):
            bare.append(time_command(BARE))
            served.append(time_hello())
            module.append(time_command(dash_m, cwd=Path(empty_dir)))
    ratio = min(served) / min(bare)
    median_ratio = statistics.median(s / b for s, b in zip(served, bare, strict=True))
    lines = [
        f"runs: {runs} each, interleaved, best of",
        f"python -c pass: {min(bare) * 1000:.1f} ms",
        f"python -m <empty module>: {min(module) * 1000:.1f} ms ({min(module) / min(bare):.2f}x: what -m costs)",
        f"serve, hello answered: {min(served) * 1000:.1f} ms",
        f"ratio: {ratio:.2f}",
        f"median of the per-round ratios: {median_ratio:.2f}",
        f"target met: {'yes' if ratio <= TARGET else 'no'} (<= {TARGET:.2f})",
    ]
    print("\n".join(lines))
    write_if_asked(args.write_doc, "startup", "Start-up to `engine.hello` (`python bench/startup.py "
                      f"--runs {runs}`)", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
