"""Outage: the domain controller stops in the middle of ``group.upgrade`` (issue #9; R13, R15, R16).

A PRIVATE Samba AD DC of corp.example.com on 127.0.0.3 (its own state folder, started from a copy of the
test bed's provisioned template; the shared DCs on 127.0.0.1 and 127.0.0.2 are never touched) serves
an OU of more groups than one batch. ``group.upgrade`` runs over the protocol; when the first batch is
reported done the engine is paused (SIGSTOP), the DC is stopped, the engine resumed: every group it
could not write is a ``Failed`` record naming the server's URL, the request ends PartiallySucceeded,
and the ledger holds exactly the groups whose new definition is in the directory. While the DC is down
a new request stops at once with ``DirectoryUnreachable`` naming it. The DC is started again (its data
kept) and the same request completes: the rest upgraded, the first batch already upgraded.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
import reliability_figures

import helpers
from groupid_upgrade.groups.conversion import guid_text
from groupid_upgrade.groups.pipeline import DEFAULT_BATCH_SIZE
from groupid_upgrade.model.installation import GroupType
from groupid_upgrade.source.group_definition import GroupDefinition, encode
from test_groups import FIRST_RUN_MODULES, admin, prepared_sample
from testbed import samba_dc
from testbed.fixtures_samba import state_dir_path

pytestmark = pytest.mark.testbed

DOMAIN = "corp.example.com"
PRIVATE_ADDRESS = "127.0.0.3"
GROUPS = DEFAULT_BATCH_SIZE + 40  # two batches: the DC stops after the first
BASE = "DC=corp,DC=example,DC=com"


@pytest.fixture(scope="module")
def private_dc(tmp_path_factory: pytest.TempPathFactory, samba_corp: dict[str, str]) -> Iterator[tuple[Path, dict]]:
    """A DC of corp.example.com of this module's own, on 127.0.0.3; stopped and removed at the end."""
    state = tmp_path_factory.mktemp("private-samba")
    shared_template = state_dir_path() / "templates" / DOMAIN
    assert (shared_template / ".template-ok").is_file(), "the test bed's template is not built"
    shutil.copytree(shared_template, state / "templates" / DOMAIN, symlinks=True)  # no second provisioning
    env = samba_dc.start(state, DOMAIN, PRIVATE_ADDRESS)
    try:
        yield state, env
    finally:
        samba_dc.stop(state, DOMAIN)


def make_groups(env: dict[str, str]) -> str:
    conn = admin(env)
    try:
        ou = f"OU=rel-outage-{uuid.uuid4().hex[:8]},{BASE}"
        assert conn.add(ou, ["top", "organizationalUnit"]), conn.result
        for i in range(GROUPS):
            defn = GroupDefinition(GroupType.SMART_GROUP, ["user"], f'(department Equals "D{i % 7}")',
                                   f"OU=Staff,{BASE}", expiry_days=[None, 30][i % 2], version="10.0")
            assert conn.add(f"CN=RO-{i:04d},{ou}", ["top", "group"], {"sAMAccountName": f"ro{uuid.uuid4().hex[:10]}",
                                                                       **encode(defn)}), conn.result
        return ou
    finally:
        conn.unbind()


def upgraded_in_directory(env: dict[str, str], ou: str) -> set[str]:
    conn = admin(env)
    try:
        conn.search(ou, "(&(objectClass=group)(extensionAttribute15=11*))", ldap3.SUBTREE, attributes=["objectGUID"])
        return {guid_text(e["raw_attributes"]["objectGUID"][0]) for e in conn.response
                if e.get("type") == "searchResEntry"}
    finally:
        conn.unbind()


def ledger_groups(target_db: Path) -> set[str]:
    conn = sqlite3.connect(target_db)
    try:
        return {r[0].rpartition(":")[2] for r in conn.execute("SELECT UnitKey FROM Upg_Ledger WHERE Module='Groups'")} \
            & {r[0] for r in conn.execute("SELECT ObjectGuid FROM Gid_Group")}
    finally:
        conn.close()


class Serve:
    """One ``serve`` process; messages read line by line so the test can act between them."""

    def __init__(self, log_dir: Path) -> None:
        self.stderr = (log_dir / f"serve-{uuid.uuid4().hex[:6]}.stderr").open("w+b")
        self.proc = subprocess.Popen([*helpers.ENGINE, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, env=helpers.engine_env(log_dir))

    def send(self, request_id: int, method: str, params: dict[str, Any]) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                                          "params": params}).encode() + b"\n")
        self.proc.stdin.flush()

    def messages(self) -> Iterator[dict[str, Any]]:
        assert self.proc.stdout
        for line in self.proc.stdout:
            yield json.loads(line)  # stdout carries protocol messages only

    def close(self) -> int:
        assert self.proc.stdin
        self.proc.stdin.close()
        code = self.proc.wait(timeout=120)
        self.stderr.seek(0)
        assert b"Traceback" not in self.stderr.read()
        self.stderr.close()
        return code


@pytest.mark.timeout(900)
def test_r15_samba_stopped_mid_groups_fails_those_groups_naming_the_url_then_the_next_run_completes(
        private_dc: tuple[Path, dict[str, str]], samba_fabrikam: dict[str, str], tmp_path: Path) -> None:
    state, env = private_dc
    what = ("Samba stopped mid-groups (Failed records naming the DC, ledger = directory, then the next run "
            "completes)")
    try:
        url = env["LDAP_URL"]
        assert PRIVATE_ADDRESS in url
        answer_file = prepared_sample(tmp_path / "sample", {"corp": env, "fabrikam": samba_fabrikam},
                                      FIRST_RUN_MODULES)
        target_db = tmp_path / "sample" / "target" / "GroupID11.db"
        ou = make_groups(env)
        params = {"answerFile": str(answer_file), "searchContainer": [ou]}
        logs = tmp_path / "logs"
        logs.mkdir()

        engine = Serve(logs)
        engine.send(1, "group.upgrade", params)
        records: list[dict[str, Any]] = []
        result: dict[str, Any] | None = None
        stopped = False
        for message in engine.messages():
            if message.get("method") == "$/progress" and not stopped and message["params"].get("current"):
                os.kill(engine.proc.pid, signal.SIGSTOP)  # the first batch is written; hold the engine there
                try:
                    assert samba_dc.stop(state, DOMAIN)
                finally:
                    os.kill(engine.proc.pid, signal.SIGCONT)
                stopped = True
            elif message.get("method") == "$/record" and message["params"]["type"] == "GroupUpgrade":
                records.append(message["params"]["data"])
            elif message.get("id") == 1:
                result = message
                break
        assert stopped, "the engine reported no progress before it finished"
        assert result is not None and "result" in result, result
        summary = result["result"]
        failed = [r for r in records if r["status"] == "Failed"]
        upgraded = [r for r in records if r["status"] == "Upgraded"]
        assert summary["status"] == "PartiallySucceeded" and len(records) == GROUPS, summary
        assert len(upgraded) >= DEFAULT_BATCH_SIZE and failed, summary
        for record in failed:
            error = record["error"]
            assert error["data"]["errorId"] == "DirectoryUnreachable" and url in error["message"], error
        # while the DC is down, a new request stops at once, naming it, and writes nothing
        ledger_before = ledger_groups(target_db)
        engine.send(2, "group.upgrade", params)
        down = next(m for m in engine.messages() if m.get("id") == 2)
        assert down["error"]["data"]["errorId"] == "DirectoryUnreachable" and url in down["error"]["message"], down
        assert engine.close() == 0
        assert ledger_groups(target_db) == ledger_before == {r["objectGuid"] for r in upgraded}

        samba_dc.start(state, DOMAIN, PRIVATE_ADDRESS, fresh=False)  # the same data back
        assert upgraded_in_directory(env, ou) == ledger_before  # the ledger is what the directory holds
        again = helpers.serve([("group.upgrade", params)], log_dir=logs)
        done = again.result(1)
        assert done["status"] == "Succeeded" and done["upgraded"] == len(failed), done
        assert done["alreadyUpgraded"] == len(upgraded), done
        final = upgraded_in_directory(env, ou)
        assert len(final) == GROUPS and ledger_groups(target_db) == final
    except BaseException:
        reliability_figures.record("outages", "Samba stopped mid-groups", {"what": what, "passed": 0, "failed": 1})
        raise
    reliability_figures.record("outages", "Samba stopped mid-groups", {"what": what, "passed": 1, "failed": 0})
    time.sleep(0)
