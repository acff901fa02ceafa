"""The search adapter against a real Elasticsearch 8 node (tests/testbed/es_node.py)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from pydantic import SecretStr

from groupid_upgrade.errors import EngineError
from groupid_upgrade.storage.search import SearchClient
from support import leaks
from testbed import es_node as node_control
from testbed.fixtures_es import EsNode

# the lead wires the plugin in tests/conftest.py; naming it here lets this file run on its own

DOCS = 100_000
SINGLE_SHARD = {"number_of_shards": 1, "number_of_replicas": 0}
HISTORY_MAPPINGS = {
    "properties": {
        "seq": {"type": "long"},
        "action": {"type": "keyword"},
        "group": {"type": "keyword"},
        "when": {"type": "date"},
        "text": {"type": "text"},
    }
}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _closed_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def search(es_node: EsNode) -> Iterator[SearchClient]:
    with SearchClient(es_node.url, request_timeout=60) as client:
        yield client


def _history(index: str, count: int) -> Iterator[dict[str, Any]]:
    for seq in range(count):
        yield {
            "_index": index,
            "_id": f"h{seq}",
            "seq": seq,
            "action": ("create", "update", "delete")[seq % 3],
            "group": f"CN=Group {seq % 997},OU=Groups,DC=corp,DC=example,DC=com",
            "when": 1_700_000_000_000 + seq * 1000,
            "text": f"membership change number {seq}",
        }


@pytest.mark.testbed
@pytest.mark.slow
def test_bulk_100k_snapshot_delete_restore_same_count(search: SearchClient, es_node: EsNode) -> None:
    prefix = _name("hist")
    index = f"{prefix}-2024"
    repo, snapshot = _name("repo"), "before-upgrade"
    search.ensure_index_template(prefix, [f"{prefix}-*"], HISTORY_MAPPINGS, SINGLE_SHARD)
    try:
        failures = [item for ok, item in search.bulk_index(_history(index, DOCS)) if not ok]
        assert failures == []
        search.refresh(index)
        assert search.count(index) == DOCS
        # the template applied
        mapping = search.client.indices.get_mapping(index=index)[index]["mappings"]
        assert mapping["properties"]["group"]["type"] == "keyword"

        search.ensure_fs_repository(repo, str(es_node.repo_path / repo))
        search.ensure_fs_repository(repo, str(es_node.repo_path / repo))  # idempotent
        taken = search.create_snapshot(repo, snapshot, [index])
        assert taken["state"] == "SUCCESS"
        assert taken["indices"] == [index]
        assert [s["snapshot"] for s in search.list_snapshots(repo)] == [snapshot]
        described = search.get_snapshot(repo, snapshot)
        assert described is not None and described["state"] == "SUCCESS"
        assert search.get_snapshot(repo, "no-such-snapshot") is None

        assert search.delete_index(index) is True
        assert search.index_exists(index) is False

        restored = search.restore_snapshot(repo, snapshot, [index])
        assert restored["shards"]["failed"] == 0
        search.refresh(index)
        assert search.count(index) == DOCS
        hits = search.client.search(index=index, query={"term": {"seq": 4242}})["hits"]["hits"]
        assert [hit["_id"] for hit in hits] == ["h4242"]
    finally:
        search.delete_snapshot(repo, snapshot)
        assert search.delete_snapshot(repo, snapshot) is False
        search.delete_index(index)
        search.client.indices.delete_index_template(name=prefix)


@pytest.mark.testbed
def test_per_document_failure_is_yielded_with_its_reason(search: SearchClient) -> None:
    index = _name("hist-conflict")
    assert search.ensure_index(index, HISTORY_MAPPINGS, SINGLE_SHARD) is True
    assert search.ensure_index(index, HISTORY_MAPPINGS, SINGLE_SHARD) is False
    try:
        actions = [
            {"_index": index, "_id": "good-1", "seq": 1},
            {"_index": index, "_id": "bad", "seq": "not a number"},  # mapping conflict: seq is a long
            {"_index": index, "_id": "good-2", "seq": 2},
        ]
        results = list(search.bulk_index(actions, chunk_size=2))
        assert [ok for ok, _ in results] == [True, False, True]
        failed = results[1][1]["index"]
        assert failed["_id"] == "bad"
        assert failed["status"] == 400
        assert failed["error"]["type"] in ("document_parsing_exception", "mapper_parsing_exception")
        assert "seq" in failed["error"]["reason"]
        search.refresh(index)
        assert search.count(index) == 2
    finally:
        search.delete_index(index)


def test_connection_refused_raises_search_unreachable_quickly() -> None:
    url = f"http://127.0.0.1:{_closed_loopback_port()}"
    client = SearchClient(url, username="upgrader", password=SecretStr("s3cret-pw"), request_timeout=2)
    began = time.monotonic()
    with pytest.raises(EngineError) as caught:
        list(
            client.bulk_index(
                ({"_index": "x", "_id": str(i), "n": i} for i in range(10)),
                max_retries=2,
                initial_backoff=0.01,
                max_backoff=0.05,
            )
        )
    elapsed = time.monotonic() - began
    error = caught.value
    assert error.error_id == "SearchUnreachable"
    assert url in error.message
    assert "3 attempts" in error.message
    leaks.assert_no_leaks(["s3cret-pw"], texts={"message": error.message, "data": str(error.data())})
    assert elapsed < 10

    with pytest.raises(EngineError) as caught:
        client.ping()
    assert caught.value.error_id == "SearchUnreachable" and url in caught.value.message


def test_credentials_in_the_url_never_reach_a_message() -> None:
    port = _closed_loopback_port()
    client = SearchClient(f"http://upgrader:s3cret-pw@127.0.0.1:{port}", request_timeout=2)
    assert client.url == f"http://127.0.0.1:{port}"
    with pytest.raises(EngineError) as caught:
        client.info()
    leaks.assert_no_leaks(["s3cret-pw"], texts={"message": caught.value.message,
                                                "error": str(caught.value.to_error_object())})


def test_not_a_url_is_refused() -> None:
    with pytest.raises(EngineError) as caught:
        SearchClient("es.corp.example.com:9200")
    assert caught.value.error_id == "SearchUnreachable"


@pytest.mark.testbed
def test_repository_outside_path_repo_is_invalid(search: SearchClient, tmp_path: Path) -> None:
    outside = tmp_path / "not-under-path-repo"
    with pytest.raises(EngineError) as caught:
        search.ensure_fs_repository(_name("outside"), str(outside))
    error = caught.value
    assert error.error_id == "SnapshotRepositoryInvalid"
    assert "path.repo" in error.message
    assert search.url in error.message
    assert error.recommended_action is not None
    assert "path.repo" in error.recommended_action and "elasticsearch.yml" in error.recommended_action


@pytest.mark.testbed
def test_info_answers_as_elasticsearch_8(search: SearchClient) -> None:
    info = search.info()
    assert info["version"]["number"].startswith("8.")
    assert info["tagline"] == "You Know, for Search"
    search.ping()


@pytest.mark.testbed
@pytest.mark.slow
def test_start_then_stop_leaves_no_process(tmp_path: Path, es_node: EsNode) -> None:
    state_dir = tmp_path / "second-node"
    port = node_control.free_port(es_node_port(es_node) + 1)
    info = node_control.start(state_dir, http_port=port)
    pid = int(info["ES_PID"])
    try:
        assert info["ES_URL"] == f"http://127.0.0.1:{port}"
        proc = psutil.Process(pid)
        assert "java" in proc.name()
        listening = {c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        assert listening and {ip.removeprefix("::ffff:") for ip in listening} == {
            "127.0.0.1"
        }  # loopback only
        assert node_control.is_up(state_dir)
        # starting again while it answers gives the same node
        assert node_control.start(state_dir, http_port=port)["ES_PID"] == str(pid)
    finally:
        assert node_control.stop(state_dir) is True
    assert not psutil.pid_exists(pid)
    assert not node_control.is_up(state_dir)
    assert node_control.stop(state_dir) is False
    # the session's node is untouched
    assert psutil.pid_exists(es_node.pid)


def es_node_port(node: EsNode) -> int:
    return int(node.url.rsplit(":", 1)[1])
