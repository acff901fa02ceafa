"""Single-group requests on one engine (issue #9, start-up): N ``group.upgrade`` requests, one group each,
to ONE ``serve`` process, against a plain ldap3 loop doing the same reads and writes.

    python bench/single_groups.py [--groups N] [--rounds R] [--quick] [--write-doc docs/performance.md]

This is what ``Get-ADGroup ... | Upgrade-Group`` costs when every group is its own request: the engine
is started once (its start-up is bench/startup.py's figure), then each request does what a request does
(answer file and target read, the R13 prerequisite, a connection to the DC, the group read by DN, the
conditional modify, the target row and ledger, the record). Against the test bed's corp.example.com
Samba DC (started when it is not up, stopped again then), in two OUs of N Smart Groups each (default
1,000; --quick: 100) with unique names, measured in the same run:
  (a) engine: one ``serve``, one ``group.upgrade`` request per group (``identity`` = its DN, whatIf false),
      each answered before the next is sent;
  (b) ldap3: one connection, per group the same read (the entry by DN, the same attributes) and the same
      modify (delete the values read, add the new ones), nothing else.
The two run in R interleaved rounds (default 10; --quick: 4), each of N/R groups, ldap3 first, so a
change in the load of the shared machine falls on both. Prints requests/s of each and ``engine/ldap3: X``
(engine groups/s over loop groups/s, over all rounds) with the median of the per-round ratios. Both OUs
are deleted at the end. --write-doc puts the printed figures into docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ldap3  # noqa: E402

from bench._performance_doc import write_if_asked  # noqa: E402
from bench.groups import (  # noqa: E402
    ATTRIBUTES,
    connect,
    eleven_values,
    group_index,
    same_bytes_written,
    two_ous_of_groups,
)

TARGET = 0.8  # issue #19: single-group requests on one engine >= 0.8 of the plain ldap3 loop


def group_dns(conn: ldap3.Connection, ou: str) -> list[str]:
    entries = conn.extend.standard.paged_search(ou, "(objectClass=group)", ldap3.SUBTREE, attributes=[],
                                                paged_size=500, generator=False)
    return sorted(e["dn"] for e in entries if e.get("type") == "searchResEntry")


class EngineSession:
    """One serve process, started and answering hello before any timing; its requests one group each."""

    def __init__(self, answer_file: Path, log_dir: Path) -> None:
        env = {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(log_dir)}
        self.answer_file = answer_file
        self.proc = subprocess.Popen([sys.executable, "-m", "groupid_upgrade", "serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.next_id = 0
        self.ask("engine.hello")

    def ask(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, **({"params": params} if params else {})}
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            answer = json.loads(line)
            if answer.get("id") == self.next_id:
                return answer
        raise SystemExit("the engine ended early")

    def upgrade(self, dns: list[str]) -> float:
        """Seconds from the first request to the last answer, each answered before the next is sent."""
        started = time.perf_counter()
        for dn in dns:
            answer = self.ask("group.upgrade", {"answerFile": str(self.answer_file), "identity": [dn]})
            if (answer.get("result") or {}).get("upgraded") != 1:
                raise SystemExit(f"the request for {dn} did not upgrade it: {json.dumps(answer)[:500]}")
        return time.perf_counter() - started

    def close(self) -> None:
        assert self.proc.stdin
        with contextlib.suppress(SystemExit, OSError):
            self.ask("engine.shutdown")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class LoopSession:
    """The same read (by DN) and modify per group on one connection, nothing else; its bind is timed in the
    first round, as the engine's first request binds."""

    def __init__(self, env: dict[str, str], version: str, ou: str, count: int) -> None:
        self.env = env
        self.version = version.encode()
        self.values = eleven_values(count, ou)  # the bytes the engine writes, converted before any timing
        self.conn: ldap3.Connection | None = None

    def upgrade(self, dns: list[str]) -> float:
        started = time.perf_counter()
        if self.conn is None:
            self.conn = connect(self.env)
        conn = self.conn
        for dn in dns:
            conn.search(dn, "(objectClass=group)", ldap3.BASE, attributes=ATTRIBUTES)
            raw = conn.response[0]["raw_attributes"]
            changes = {
                "extensionData": [(ldap3.MODIFY_DELETE, list(raw["extensionData"])),
                                  (ldap3.MODIFY_ADD, [self.values[group_index(dn)]])],
                "extensionAttribute15": [(ldap3.MODIFY_DELETE, list(raw["extensionAttribute15"])),
                                         (ldap3.MODIFY_ADD, [self.version])],
            }
            if not conn.modify(dn, changes):
                raise SystemExit(f"loop modify failed: {conn.result}")
        return time.perf_counter() - started

    def close(self) -> None:
        if self.conn is not None:
            self.conn.unbind()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="100 groups in 4 rounds (CI)")
    parser.add_argument("--write-doc", type=Path, metavar="PATH",
                        help="write the figures into this run's section of PATH (docs/performance.md)")
    args = parser.parse_args()
    count = 100 if args.quick else args.groups
    rounds = max(1, min(4 if args.quick else args.rounds, count))
    with two_ous_of_groups(count, "single") as bench:
        engine_dns, loop_dns = group_dns(bench.conn, bench.ous[0]), group_dns(bench.conn, bench.ous[1])
        if len(engine_dns) != count or len(loop_dns) != count:
            raise SystemExit(f"expected {count} groups in each OU")
        engine, loop = EngineSession(bench.answer_file, bench.work), LoopSession(bench.env, bench.version, bench.ous[1], count)
        engine_times: list[float] = []
        loop_times: list[float] = []
        try:
            for r in range(rounds):  # interleaved: a change in the machine's load falls on both sides alike
                part = slice(r * count // rounds, (r + 1) * count // rounds)
                loop_times.append(loop.upgrade(loop_dns[part]))
                engine_times.append(engine.upgrade(engine_dns[part]))
        finally:
            engine.close()
            loop.close()
        same_bytes_written(bench, count)
        engine_s, loop_s = sum(engine_times), sum(loop_times)
        engine_rate, loop_rate = count / engine_s, count / loop_s
        ratio = engine_rate / loop_rate
        per_round = statistics.median(lo / en for en, lo in zip(engine_times, loop_times, strict=True))
        lines = [
            f"rounds: {rounds}, interleaved (ldap3 then engine, {count // rounds} groups each)",
            f"engine: {count} requests of one group on one serve in {engine_s:.2f} s = {engine_rate:,.0f} groups/s "
            f"({engine_s * 1000 / count:.1f} ms per request)",
            f"ldap3: {count} groups read by DN and modified in {loop_s:.2f} s = {loop_rate:,.0f} groups/s "
            f"({loop_s * 1000 / count:.1f} ms per group)",
            f"engine/ldap3: {ratio:.2f}",
            f"median of the per-round ratios: {per_round:.2f}",
            f"target met: {'yes' if ratio >= TARGET else 'no'} (>= {TARGET:.2f})",
        ]
        print("\n".join(lines))
        # before the OUs are dropped
        write_if_asked(args.write_doc, "single_groups", "Single-group requests on one engine "
                       f"(`python bench/single_groups.py --groups {count}`)", lines)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GROUPID_UPGRADE_LOG_DIR", tempfile.gettempdir())
    sys.exit(main())
