#!/usr/bin/env python3
"""Groups on the test bed's corp.example.com Samba DC, for the Pester tests and the PowerShell bench.

    python tests/testbed/pester_groups.py up --groups N --out STATE.json [--ous 1]
    python tests/testbed/pester_groups.py down --state STATE.json

``up`` starts the DC when it is not running (and says so in the state, so ``down`` stops only what
it started), prepares a sample target after its first run (``bench.groups.prepare_target``), and
creates ``--ous`` OUs of N Smart Groups each plus, in the first OU, one group whose definition
cannot be read (``CN=Broken``: it must fail alone). STATE.json lists the answer file, each OU and
every group's DN, objectGUID and sAMAccountName (no password: the answer file is 0600).
``down`` deletes the OUs and the work folder, and stops the DC if ``up`` started it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import ldap3  # noqa: E402
from bench.groups import connect, drop, make_groups, prepare_target  # noqa: E402
from tests.testbed import samba_dc  # noqa: E402
from tests.testbed.fixtures_samba import CORP, state_dir_path  # noqa: E402
from tests.testbed.seed import seed_ldif  # noqa: E402

BROKEN_DEFINITION = b"GID\x01\x01<not xml"


def up(count: int, ous: int, out: Path) -> dict[str, object]:
    state_dir = state_dir_path()
    domain, address = str(CORP["domain"]), str(CORP["address"])
    started = samba_dc.status(state_dir, domain) is None
    env = samba_dc.start(state_dir, domain, address, seed_ldif(state_dir, domain))
    work = Path(tempfile.mkdtemp(prefix="pester-groups-"))
    answer_file = prepare_target(work, env)
    conn = connect(env)
    tag = uuid.uuid4().hex[:10]
    made: list[dict[str, object]] = []
    try:
        for n in range(ous):
            ou = f"OU=pester-{tag}{n},{env['LDAP_BASE_DN']}"
            make_groups(conn, ou, count, f"{tag}{n}")
            groups = []
            for entry in conn.extend.standard.paged_search(ou, "(objectClass=group)", ldap3.SUBTREE,
                                                           attributes=["objectGUID", "sAMAccountName"], paged_size=500):
                guid = uuid.UUID(bytes_le=entry["raw_attributes"]["objectGUID"][0])
                groups.append({"distinguishedName": entry["dn"], "objectGuid": str(guid),
                               "samAccountName": entry["attributes"]["sAMAccountName"]})
            made.append({"ou": ou, "groups": sorted(groups, key=lambda g: str(g["distinguishedName"]))})
        broken = f"CN=Broken,{made[0]['ou']}"
        if not conn.add(broken, ["top", "group"], {"sAMAccountName": f"broken{tag}", "extensionData": [BROKEN_DEFINITION],
                                                     "extensionAttribute15": [b"10.0"]}):
            raise SystemExit(f"cannot create {broken}: {conn.result}")
    finally:
        conn.unbind()
    state = {"answerFile": str(answer_file), "work": str(work), "startedDc": started, "ous": made, "broken": broken}
    out.write_text(json.dumps(state, indent=1), encoding="utf-8")
    return state


def down(state_file: Path) -> None:
    state = json.loads(state_file.read_text(encoding="utf-8"))
    state_dir = state_dir_path()
    env = samba_dc.status(state_dir, str(CORP["domain"]))
    if env is not None:
        conn = connect(env)
        try:
            for ou in state["ous"]:
                drop(conn, ou["ou"])
        finally:
            conn.unbind()
    shutil.rmtree(state["work"], ignore_errors=True)
    if state["startedDc"]:
        samba_dc.stop(state_dir, str(CORP["domain"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("up")
    make.add_argument("--groups", type=int, default=1000)
    make.add_argument("--ous", type=int, default=1)
    make.add_argument("--out", type=Path, required=True)
    end = sub.add_parser("down")
    end.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "up":
        up(args.groups, args.ous, args.out)
    else:
        down(args.state)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # a clear line for the Pester test that called it, not a traceback
        print(f"pester_groups failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
