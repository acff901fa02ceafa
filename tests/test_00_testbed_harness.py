"""tests/testbed/up then down: the servers answer in between and no process of theirs is left after.

Run first (tests/conftest.py orders it): the Samba DCs bind fixed loopback addresses, so this runs before any session
fixture has started its own. When a developer's test bed is already up (started by ``up`` for a
working session), ``up`` must hand back those same servers, and ``down`` is not run: it would stop
servers other work relies on. CI starts from nothing, so there the whole cycle runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from support import leaks

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.testbed  # it starts and stops the servers itself


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "tests" / "testbed" / script)], capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)


def _running_testbed_pids() -> set[int]:
    """PIDs of test-bed servers already running in the state directory ``up`` uses."""
    from testbed import es_node, samba_dc
    from testbed.fixtures_es import testbed_es_state_dir
    from testbed.fixtures_samba import CORP, FABRIKAM, state_dir_path

    pids: set[int] = set()
    for spec in (CORP, FABRIKAM):
        env = samba_dc.status(state_dir_path(), str(spec["domain"]))
        if env and env.get("LDAP_PID"):
            pids.add(int(env["LDAP_PID"]))
    if es_node.is_up(testbed_es_state_dir()):
        pids.add(int(es_node.status(testbed_es_state_dir())["pid"]))
    return pids


def test_up_prints_the_servers_and_down_leaves_no_process_of_theirs() -> None:
    already = _running_testbed_pids()
    up = _run("up")
    assert up.returncode == 0, up.stderr
    env = dict(line.split("=", 1) for line in up.stdout.splitlines())
    assert env["LDAP_URL"].startswith("ldaps://127.0.0.1")
    assert env["FABRIKAM_LDAP_URL"].startswith("ldaps://127.0.0.2")
    assert env["LDAP_BIND_DN"].startswith("CN=Administrator")
    assert env["ES_URL"].startswith("http://127.0.0.1:")
    for key in ("LDAP_PASSWORD_FILE", "FABRIKAM_LDAP_PASSWORD_FILE"):
        password = Path(env[key]).read_text().strip()
        leaks.assert_no_leaks({key: password}, texts={"up stdout": up.stdout, "up stderr": up.stderr})
        assert Path(env[key]).stat().st_mode & 0o077 == 0
    pids = [int(env[k]) for k in ("LDAP_PID", "FABRIKAM_LDAP_PID", "ES_PID")]
    family = {p for pid in pids for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]}
    assert len(family) >= 3
    if already:
        assert already <= set(pids), "up started new servers in place of the running ones"
        return
    down = _run("down")
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in family):
        time.sleep(0.2)
    left = [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == []
