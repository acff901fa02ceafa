"""The History module (issue #5; rules R3, R14, R15): conversion, the outbox, resume after SIGKILL,
an Elasticsearch outage mid-run, and the count checks, against a real Elasticsearch 8 node."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from groupid_upgrade.errors import Cancelled
from groupid_upgrade.history.conversion import ACTION_11, convert_row, document_id, history_type, index_name
from groupid_upgrade.sample.generator import STORE_CONTOSO, STORE_FABRIKAM, SampleSpec, generate_sample
from groupid_upgrade.source import schema
from groupid_upgrade.storage.search import LOAD_MARK, LOAD_SETTINGS, SearchClient
from testbed import es_node as node_control
from testbed.fixtures_es import EsNode

ENGINE = [sys.executable, "-m", "groupid_upgrade"]
ROWS = 12_000
BATCH = 1_000
UPGRADED_STORES = (STORE_FABRIKAM, STORE_CONTOSO)  # the sample's enabled AD and Entra stores


# --- helpers -------------------------------------------------------------------------------------
def make_sample(out: Path, *, es_url: str | None = None, prefix: str | None = None, rows: int = ROWS,
                retries: int | None = None) -> Path:
    sample = generate_sample(SampleSpec(out=out, history=rows))
    answers = json.loads((sample / "answers.json").read_text())
    answers["modules"] = ["Configuration", "History"]
    answers["target"]["historyBatchSize"] = BATCH
    if es_url is not None:
        set_search(sample, es_url, prefix or "x", retries=retries, answers=answers)
    else:
        (sample / "answers.json").write_text(json.dumps(answers))
    return sample


def set_search(sample: Path, es_url: str, prefix: str, *, retries: int | None = None,
               answers: dict[str, Any] | None = None) -> None:
    answers = answers or json.loads((sample / "answers.json").read_text())
    settings: dict[str, Any] = {"url": es_url, "indexPrefix": prefix}
    if retries is not None:
        settings.update(maxRetries=retries, initialBackoffSeconds=0.2)
    answers["target"]["elasticsearch"] = settings
    (sample / "answers.json").write_text(json.dumps(answers))


def run(sample: Path, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ENGINE, "run", "--answer-file", str(sample / "answers.json"), "--json"],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})


def run_ok(sample: Path) -> dict[str, Any]:
    proc = run(sample)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert {m["module"]: m["status"] for m in result["modules"]} == {"Configuration": "Succeeded",
                                                                     "History": "Succeeded"}
    return result


def source_counts(sample: Path) -> Counter[tuple[int, str]]:
    with sqlite3.connect(sample / "source" / "GroupID10.db") as conn:
        return Counter({(store, category): n for store, category, n in conn.execute(
            "SELECT IdentityStoreId, Category, COUNT(*) FROM Hist_History GROUP BY 1, 2")})


def expected_counts(sample: Path) -> Counter[tuple[int, str]]:
    return Counter({k: n for k, n in source_counts(sample).items() if k[0] in UPGRADED_STORES})


def target(sample: Path) -> sqlite3.Connection:
    return sqlite3.connect(sample / "target" / "GroupID11.db")


def target_counts(sample: Path) -> Counter[tuple[int, str]]:
    with target(sample) as conn:
        return Counter({(store, category): n for store, category, n in conn.execute(
            "SELECT IdentityStoreId, SourceCategory, COUNT(*) FROM Gid_History GROUP BY 1, 2")})


def history_dump(sample: Path) -> list[tuple[Any, ...]]:
    with target(sample) as conn:
        return conn.execute("SELECT * FROM Gid_History ORDER BY HistoryId").fetchall()


def assert_exact_once(sample: Path) -> None:
    """Every upgraded store's rows are in the target database once, and nothing else is."""
    with target(sample) as conn:
        total, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT HistoryId) FROM Gid_History").fetchone()
    assert total == distinct
    assert target_counts(sample) == expected_counts(sample)


def index_ids(search: SearchClient, index: str) -> list[str]:
    search.refresh(index)
    ids: list[str] = []
    body: dict[str, Any] = {"size": 5000, "sort": [{"historyId": "asc"}], "_source": False}
    while True:
        hits = search.client.search(index=index, **body)["hits"]["hits"]
        if not hits:
            return ids
        ids += [h["_id"] for h in hits]
        body["search_after"] = hits[-1]["sort"]


def assert_index_exact(sample: Path, search: SearchClient, prefix: str) -> None:
    """Each store's index holds one document per target row, under the row's deterministic id."""
    with target(sample) as conn:
        for store in UPGRADED_STORES:
            rows = [document_id(r[0]) for r in conn.execute(
                "SELECT HistoryId FROM Gid_History WHERE IdentityStoreId = ? ORDER BY HistoryId", (store,))]
            ids = index_ids(search, index_name(prefix, store))
            assert len(ids) == len(set(ids)) == search.count(index_name(prefix, store))
            assert sorted(ids) == sorted(rows), f"store {store}: {len(ids)} documents, {len(rows)} rows"


def load_state(search: SearchClient, index: str) -> tuple[dict[str, Any], bool]:
    """The index's values of the bulk-load settings, and whether a load's mark is on it."""
    meta = search.client.indices.get_mapping(index=index)[index]["mappings"].get("_meta") or {}
    return search.index_settings(index, LOAD_SETTINGS), LOAD_MARK in meta


# what the engine's own indices have: the default refresh, and the replica count every new index records
UNTUNED = ({"index.refresh_interval": None, "index.number_of_replicas": "1"}, False)
TUNED = ({"index.refresh_interval": "-1", "index.number_of_replicas": "0"}, True)


def assert_load_settings_put_back(search: SearchClient, prefix: str) -> None:
    for store in UPGRADED_STORES:
        assert load_state(search, index_name(prefix, store)) == UNTUNED, f"store {store}"


def outbox_size(sample: Path) -> int:
    with target(sample) as conn:
        return conn.execute("SELECT COUNT(*) FROM Upg_SearchOutbox").fetchone()[0]


@pytest.fixture()
def search(es_node: EsNode) -> Iterator[SearchClient]:
    with SearchClient(es_node.url, request_timeout=60) as client:
        yield client


@pytest.fixture()
def prefix(search: SearchClient) -> Iterator[str]:
    name = f"hist-{uuid.uuid4().hex[:8]}"
    yield name
    for store in UPGRADED_STORES:
        search.delete_index(index_name(name, store))


# --- conversion (pure) ---------------------------------------------------------------------------
def test_r14_every_source_action_has_its_11_name_and_history_type() -> None:
    for category, actions in schema.HISTORY_ACTIONS.items():
        for action in actions:
            assert action in ACTION_11, f"{category}/{action} has no 11 name"
            expected_type = "ConfigurationHistory" if action == "IdentityStoreConfiguration" else {
                "IdentityStore": "ObjectHistory", "AdminCenter": "AdminCenterHistory",
                "Helpdesk": "HelpdeskHistory", "Synchronize": "SynchronizeHistory"}[category]
            assert history_type(category, action) == expected_type


def test_r14_a_row_keeps_every_fact_with_its_time_in_utc_and_its_offset() -> None:
    source = (42, 1, "IdentityStore", "OwnershipChange", "g-uid", "CN=Sales,DC=x", "CN=Admin,DC=x", "Owner 1",
              "Owner 2 — ünïcode", "changed by the wizard", "2021-03-04T10:00:00-05:00")
    row, document = convert_row(source, 7)
    assert row == (42, 7, "ObjectHistory", "OwnerChanged", "g-uid", "CN=Sales,DC=x", "CN=Admin,DC=x",
                   '[{"old":"Owner 1","new":"Owner 2 — ünïcode"}]', "changed by the wizard",
                   "2021-03-04T15:00:00+00:00", "-05:00", "IdentityStore", "OwnershipChange")
    assert json.loads(document) == {
        "historyId": 42, "identityStoreId": 7, "historyType": "ObjectHistory", "action": "OwnerChanged",
        "objectGuid": "g-uid", "objectDn": "CN=Sales,DC=x", "actorDn": "CN=Admin,DC=x",
        "changes": [{"old": "Owner 1", "new": "Owner 2 — ünïcode"}], "description": "changed by the wizard",
        "occurredOn": "2021-03-04T15:00:00+00:00"}


def test_r14_an_action_this_version_does_not_know_is_kept_verbatim() -> None:
    row, document = convert_row((1, 1, "Helpdesk", "SomethingNew", None, None, None, None, None, None,
                                 "2020-01-01T00:00:00+00:00"), 1)
    assert row[2:4] == ("HelpdeskHistory", "SomethingNew") and row[-1] == "SomethingNew"
    assert json.loads(document)["changes"] == []


# --- the embedded default: the outbox ---------------------------------------------------------------
def test_r3_r14_without_elasticsearch_rows_land_once_and_documents_wait_in_the_outbox(tmp_path: Path) -> None:
    sample = make_sample(tmp_path / "s")
    result = run_ok(sample)
    assert_exact_once(sample)
    assert outbox_size(sample) == sum(expected_counts(sample).values())
    # R3: the disabled store's and the Google store's rows are counted as skipped, not moved
    skipped = sum(n for (store, _), n in source_counts(sample).items() if store not in UPGRADED_STORES)
    assert skipped > 0 and sum(target_counts(sample).values()) + skipped == ROWS
    history = next(m for m in result["modules"] if m["module"] == "History")
    assert history["done"] == len(UPGRADED_STORES)
    moved = sum(expected_counts(sample).values())
    assert history["notes"][0] == f"{moved:,} history rows in the target database"
    assert history["notes"][1].startswith(f"{moved:,} history documents wait in the outbox")


def test_r14_outbox_then_a_run_with_elasticsearch_gives_exact_counts_in_the_index(
        tmp_path: Path, es_node: EsNode, search: SearchClient, prefix: str) -> None:
    sample = make_sample(tmp_path / "s")
    run_ok(sample)
    dump = history_dump(sample)
    set_search(sample, es_node.url, prefix)
    drained = next(m for m in run_ok(sample)["modules"] if m["module"] == "History")
    assert outbox_size(sample) == 0 and not any("outbox" in note for note in drained["notes"])
    assert history_dump(sample) == dump  # the database is not written twice
    assert_index_exact(sample, search, prefix)
    third = run_ok(sample)  # everything done: nothing resent, counts still checked against the index
    assert all(m["done"] == 0 for m in third["modules"])
    assert_index_exact(sample, search, prefix)


def test_r15_a_second_run_with_elasticsearch_writes_nothing_and_duplicates_nothing(
        tmp_path: Path, es_node: EsNode, search: SearchClient, prefix: str) -> None:
    sample = make_sample(tmp_path / "s", es_url=es_node.url, prefix=prefix)
    run_ok(sample)
    dump = history_dump(sample)
    assert outbox_size(sample) == 0
    assert_index_exact(sample, search, prefix)
    again = run_ok(sample)
    assert all(m["done"] == 0 and m["failed"] == 0 for m in again["modules"])
    assert history_dump(sample) == dump
    assert_index_exact(sample, search, prefix)


def test_r14_a_document_missing_from_the_index_fails_the_module_with_the_numbers(
        tmp_path: Path, es_node: EsNode, search: SearchClient, prefix: str) -> None:
    sample = make_sample(tmp_path / "s", es_url=es_node.url, prefix=prefix)
    run_ok(sample)
    index = index_name(prefix, STORE_CONTOSO)
    search.client.delete(index=index, id=index_ids(search, index)[0], refresh=True)
    proc = run(sample)
    assert proc.returncode == 1
    history = next(m for m in json.loads(proc.stdout)["modules"] if m["module"] == "History")
    assert history["status"] != "Succeeded"
    error = history["failures"][0]["error"]
    assert error["data"]["errorId"] == "HistoryCountMismatch"
    assert index in error["message"] and "Contoso" in error["message"]


# --- resume after SIGKILL (R15) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    sample = make_sample(tmp_path_factory.mktemp("history-reference") / "s")
    run_ok(sample)
    return history_dump(sample)


# Store 1 has about 6,300 rows (7 batches), store 2 about 2,800 (3 batches): points in the first
# store, on its last batch, and in the second store; two with a batch transaction open.
KILL_POINTS = [
    "history-in-transaction:1",
    "history-after-commit:3",
    "history-in-transaction:7",
    "history-after-commit:7",
    "history-after-commit:9",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_r15_killed_mid_history_and_resumed_gives_exact_counts_and_no_duplicate(
        point: str, tmp_path: Path, es_node: EsNode, search: SearchClient, prefix: str,
        uninterrupted: list[tuple[Any, ...]]) -> None:
    sample = make_sample(tmp_path / "s", es_url=es_node.url, prefix=prefix)
    killed = run(sample, env={"GROUPID_UPGRADE_KILL_AT": point})
    assert killed.returncode == -9, f"the fault point {point} was not reached: {killed.stderr[-2000:]}"
    with target(sample) as conn:
        batches = conn.execute("SELECT COUNT(*) FROM Upg_Ledger WHERE UnitKey LIKE 'History/%/batch:%'").fetchone()[0]
    committed = int(point.split(":")[1]) - (1 if "in-transaction" in point else 0)
    assert batches == committed  # the open transaction was rolled back, the committed batches stayed
    # killed inside a store's load: its index keeps the load settings, and the mark that puts them back
    loading = [store for store in UPGRADED_STORES if search.index_exists(index_name(prefix, store))
               and load_state(search, index_name(prefix, store)) == TUNED]
    assert len(loading) == 1
    run_ok(sample)
    assert_exact_once(sample)
    assert history_dump(sample) == uninterrupted
    assert_index_exact(sample, search, prefix)
    assert outbox_size(sample) == 0
    assert_load_settings_put_back(search, prefix)


def test_r15_killed_mid_history_without_elasticsearch_keeps_the_outbox_exact(tmp_path: Path) -> None:
    sample = make_sample(tmp_path / "s")
    killed = run(sample, env={"GROUPID_UPGRADE_KILL_AT": "history-in-transaction:4"})
    assert killed.returncode == -9
    run_ok(sample)
    assert_exact_once(sample)
    with target(sample) as conn:
        ids = [r[0] for r in conn.execute("SELECT DocId FROM Upg_SearchOutbox")]
    assert len(ids) == len(set(ids)) == sum(expected_counts(sample).values())


# --- bulk-load settings (issue #19): off during a load, the index's own values afterwards -----------------
@pytest.fixture()
def own_index(search: SearchClient) -> Iterator[str]:
    """An index with settings of its own (not the defaults), to see them come back."""
    name = f"load-{uuid.uuid4().hex[:8]}"
    search.ensure_index(name, settings={"refresh_interval": "7s", "number_of_replicas": 0})
    yield name
    search.delete_index(name)


OWN = ({"index.refresh_interval": "7s", "index.number_of_replicas": "0"}, False)


@pytest.mark.parametrize("failure", [RuntimeError("a failure inside the load"), Cancelled("the test")],
                         ids=["failure", "cancel"])
def test_bulk_load_settings_are_put_back_when_the_load_fails_or_is_cancelled(
        search: SearchClient, own_index: str, failure: Exception) -> None:
    assert load_state(search, own_index) == OWN
    with pytest.raises(type(failure)), search.bulk_load(own_index):
        assert load_state(search, own_index) == TUNED
        raise failure
    assert load_state(search, own_index) == OWN


def test_a_killed_load_leaves_a_mark_that_the_next_load_or_check_puts_right(
        search: SearchClient, own_index: str) -> None:
    killed = [search.bulk_load(own_index)]  # kept: a context left to the collector would put them back
    killed[0].__enter__()  # entered, never left: what Elasticsearch sees of a SIGKILL
    assert load_state(search, own_index) == TUNED
    with search.bulk_load(own_index):  # the next run: the values in the mark are the index's own, not -1
        assert load_state(search, own_index) == TUNED
    assert load_state(search, own_index) == OWN
    killed.append(search.bulk_load(own_index))
    killed[1].__enter__()
    assert search.end_interrupted_load(own_index) is True  # a run with nothing left to load
    assert load_state(search, own_index) == OWN
    assert search.end_interrupted_load(own_index) is False


def test_r15_documents_refused_mid_load_fail_the_store_and_its_settings_come_back(
        tmp_path: Path, es_node: EsNode, search: SearchClient, prefix: str) -> None:
    sample = make_sample(tmp_path / "s", es_url=es_node.url, prefix=prefix)
    refusing = index_name(prefix, STORE_CONTOSO)  # historyType is no IP address: every document is refused
    search.client.indices.create(index=refusing, mappings={"properties": {"historyType": {"type": "ip"}}},
                                 settings={"refresh_interval": "3s"})
    proc = run(sample)
    assert proc.returncode == 1, proc.stderr[-3000:]
    history = next(m for m in json.loads(proc.stdout)["modules"] if m["module"] == "History")
    error = next(f["error"] for f in history["failures"] if "Contoso" in f["name"])
    assert error["data"]["errorId"] == "SearchOperationFailed" and "refused" in error["message"]
    assert load_state(search, refusing) == ({"index.refresh_interval": "3s", "index.number_of_replicas": "1"}, False)
    assert load_state(search, index_name(prefix, STORE_FABRIKAM)) == UNTUNED
    with target(sample) as conn:  # nothing of the refused store was recorded
        assert conn.execute("SELECT COUNT(*) FROM Gid_History WHERE IdentityStoreId = ?", (STORE_CONTOSO,)
                            ).fetchone()[0] == 0


# --- Elasticsearch stopped mid-run -------------------------------------------------------------------
@pytest.fixture()
def private_node(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A node of its own, so stopping it disturbs no other test."""
    state = tmp_path / "es"
    port = node_control.free_port(node_control.DEFAULT_HTTP_PORT + 50)
    info = node_control.start(state, http_port=port)
    try:
        yield {"state": state, "port": port, "url": info["ES_URL"]}
    finally:
        node_control.stop(state)


def wait_for_batches(sample: Path, process: subprocess.Popen[str], at_least: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the run ended before history started: {process.stderr.read()[-2000:]}")
        try:
            with target(sample) as conn:
                n = conn.execute("SELECT COUNT(*) FROM Upg_Ledger WHERE UnitKey LIKE 'History/%/batch:%'"
                                 ).fetchone()[0]
            if n >= at_least:
                return
        except sqlite3.OperationalError:  # the target does not exist yet, or is locked for a moment
            pass
        time.sleep(0.02)
    raise AssertionError("no history batch was committed in time")


def test_r15_elasticsearch_stopped_mid_run_fails_naming_the_url_then_the_next_run_completes(
        tmp_path: Path, private_node: dict[str, Any]) -> None:
    url = private_node["url"]
    sample = make_sample(tmp_path / "s", es_url=url, prefix="outage", rows=60_000, retries=2)
    process = subprocess.Popen([*ENGINE, "run", "--answer-file", str(sample / "answers.json"), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        wait_for_batches(sample, process, at_least=2)
        # the engine is held still while the node shuts down, so the outage is mid-run however fast
        # the engine (pipelined) would otherwise finish during a graceful shutdown
        process.send_signal(signal.SIGSTOP)
        try:
            node_control.stop(private_node["state"])
        finally:
            process.send_signal(signal.SIGCONT)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, err[-3000:]
    history = next(m for m in json.loads(out)["modules"] if m["module"] == "History")
    assert history["status"] in ("Failed", "PartiallySucceeded")
    errors = [f["error"] for f in history["failures"]]
    assert errors and all(e["data"]["errorId"] == "SearchUnreachable" for e in errors)
    assert all(e["data"]["category"] == "ConnectionError" and url in e["message"] for e in errors)
    assert "Traceback" not in err
    with target(sample) as conn:
        partial = conn.execute("SELECT COUNT(*) FROM Gid_History").fetchone()[0]
    assert 0 < partial < sum(expected_counts(sample).values())

    node_control.start(private_node["state"], http_port=private_node["port"])
    run_ok(sample)
    assert_exact_once(sample)
    with SearchClient(url, request_timeout=60) as search:
        assert_index_exact(sample, search, "outage")
        assert_load_settings_put_back(search, "outage")  # left tuned by the outage, put back by the next run
