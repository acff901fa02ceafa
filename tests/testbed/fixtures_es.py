"""The session's real Elasticsearch 8 node: the ``es_node`` fixture of tests/support/servers.py runs
``session_node`` (the one registration; tests take ``es_node``).

Which node:

- ``GROUPID_ES_STATE_DIR`` set: that state directory (as used by ``python tests/testbed/es_node.py start
  --state-dir DIR``). If its state file describes a live, answering node, the session uses it and leaves
  it running; otherwise the session starts one there (port ``GROUPID_ES_HTTP_PORT``, default 9250) and
  stops it at the end.
- otherwise: a private state directory under the session's temporary folder and the first free loopback
  port from ``GROUPID_ES_HTTP_PORT`` (default 9250) up; started for the session, stopped at its end.

If the node cannot start, the fixture fails with the reason (never skips).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import es_node as node_control


@dataclass(frozen=True)
class EsNode:
    url: str
    repo_path: Path
    pid: int
    state_dir: Path
    started_here: bool


def testbed_es_state_dir() -> Path:
    """Where ``tests/testbed/up`` keeps its node (beside the Samba DCs)."""
    root = os.environ.get("GROUPID_TESTBED_DIR") or Path(__file__).resolve().parents[2] / ".testbed"
    return Path(root).resolve() / "elasticsearch"


def session_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EsNode]:
    """The node for the session, stopped at its end when it was started here."""
    shared = os.environ.get("GROUPID_ES_STATE_DIR")
    if not shared and node_control.is_up(testbed_es_state_dir()):
        shared = str(testbed_es_state_dir())  # started by tests/testbed/up: use it, leave it running
    port = int(os.environ.get("GROUPID_ES_HTTP_PORT", node_control.DEFAULT_HTTP_PORT))
    if shared:
        state_dir = Path(shared).resolve()
        already_up = node_control.is_up(state_dir)
    else:
        state_dir = tmp_path_factory.mktemp("es-node")
        already_up = False
    failure: str | None = None
    try:
        if not already_up and not shared:
            port = node_control.free_port(port)
        info = node_control.start(state_dir, http_port=port)
    except Exception as exc:  # any failure to bring the node up fails the tests that need it
        failure = f"{type(exc).__name__}: {exc}"
    if failure is not None:
        pytest.fail(f"the Elasticsearch testbed node could not start: {failure}", pytrace=False)
    node = EsNode(
        url=info["ES_URL"],
        repo_path=Path(info["ES_REPO_PATH"]),
        pid=int(info["ES_PID"]),
        state_dir=state_dir,
        started_here=not already_up,
    )
    try:
        yield node
    finally:
        if node.started_here:
            node_control.stop(state_dir)
