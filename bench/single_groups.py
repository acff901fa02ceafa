"""Single-group requests on one engine (issue #9, start-up): N ``group.upgrade`` requests, one group each,
to ONE ``serve`` process, against a plain ldap3 loop doing the same reads and writes.

    python bench/single_groups.py [--groups N] [--quick]

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
Prints requests/s of each and ``engine/ldap3: X`` (engine groups/s over loop groups/s). Both OUs are
deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ldap3  # noqa: E402

from bench.groups import ATTRIBUTES, connect, two_ous_of_groups  # noqa: E402
from groupid_upgrade.groups.conversion import encode_eleven  # noqa: E402


def group_dns(conn: ldap3.Connection, ou: str) -> list[str]:
    entries = conn.extend.standard.paged_search(ou, "(objectClass=group)", ldap3.SUBTREE, attributes=[],
                                                paged_size=500, generator=False)
    return sorted(e["dn"] for e in entries if e.get("type") == "searchResEntry")


def run_engine(answer_file: Path, dns: list[str], log_dir: Path) -> float:
    """Seconds from the first request to the last answer, on one serve process already answering hello."""
    env = {**os.environ, "GROUPID_UPGRADE_LOG_DIR": str(log_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "groupid_upgrade", "serve"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin and proc.stdout

    def ask(request_id: int, method: str, params: dict | None = None) -> dict:
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, **({"params": params} if params else {})}
        proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()
        for line in proc.stdout:
            answer = json.loads(line)
            if answer.get("id") == request_id:
                return answer
        raise SystemExit("the engine ended early")

    try:
        ask(0, "engine.hello")
        started = time.perf_counter()
        for i, dn in enumerate(dns, start=1):
            answer = ask(i, "group.upgrade", {"answerFile": str(answer_file), "identity": [dn]})
            result = answer.get("result") or {}
            if result.get("upgraded") != 1:
                raise SystemExit(f"request {i} did not upgrade {dn}: {json.dumps(answer)[:500]}")
        seconds = time.perf_counter() - started
        ask(len(dns) + 1, "engine.shutdown")
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
    return seconds


def run_loop(env: dict[str, str], dns: list[str], version: str) -> float:
    """The same read (by DN) and modify per group, on one connection, nothing else."""
    new_data = encode_eleven({"IMSGManagedGroupType": "2", "IMSGCriteria": "(department Equals \"D0\")"})
    started = time.perf_counter()
    conn = connect(env)
    for dn in dns:
        conn.search(dn, "(objectClass=group)", ldap3.BASE, attributes=ATTRIBUTES)
        raw = conn.response[0]["raw_attributes"]
        changes = {
            "extensionData": [(ldap3.MODIFY_DELETE, list(raw["extensionData"])), (ldap3.MODIFY_ADD, [new_data])],
            "extensionAttribute15": [(ldap3.MODIFY_DELETE, list(raw["extensionAttribute15"])),
                                     (ldap3.MODIFY_ADD, [version.encode()])],
        }
        if not conn.modify(dn, changes):
            raise SystemExit(f"loop modify failed: {conn.result}")
    conn.unbind()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--quick", action="store_true", help="100 groups (CI)")
    args = parser.parse_args()
    count = 100 if args.quick else args.groups
    with two_ous_of_groups(count, "single") as bench:
        engine_dns, loop_dns = group_dns(bench.conn, bench.ous[0]), group_dns(bench.conn, bench.ous[1])
        if len(engine_dns) != count or len(loop_dns) != count:
            raise SystemExit(f"expected {count} groups in each OU")
        loop_s = run_loop(bench.env, loop_dns, bench.version)
        engine_s = run_engine(bench.answer_file, engine_dns, bench.work)
        engine_rate, loop_rate = count / engine_s, count / loop_s
        print(f"engine: {count} requests of one group on one serve in {engine_s:.2f} s = {engine_rate:,.0f} groups/s "
              f"({engine_s * 1000 / count:.1f} ms per request)")
        print(f"ldap3: {count} groups read by DN and modified in {loop_s:.2f} s = {loop_rate:,.0f} groups/s "
              f"({loop_s * 1000 / count:.1f} ms per group)")
        print(f"engine/ldap3: {engine_rate / loop_rate:.2f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GROUPID_UPGRADE_LOG_DIR", tempfile.gettempdir())
    sys.exit(main())
