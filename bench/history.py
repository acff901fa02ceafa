"""History benchmark (issue #5): the engine's History module vs the floor and a naive baseline.

    python bench/history.py [--rows N] [--quick] [--es-url URL]

Generates a sample with N history rows (default 1,000,000; --quick: 20,000), then measures in the
same run:
  (a) engine: `groupid-upgrade run` of Configuration + History into a SQLite target and Elasticsearch,
      end to end, as a subprocess (its peak RSS read from the kernel);
  (b) floor: reading the same rows raw from the source (keyset pages) plus streaming_bulk of
      documents built beforehand, with the engine's bulk settings;
  (c) naive: row-by-row insert (a commit per row) and one index call per document on a 10,000-row
      slice (--quick: 2,000), extrapolated to the rows the engine moved.
Prints rows/s, peak RSS and the lines `engine/floor: X` and `naive/engine: Y`. Without --es-url it
starts the test bed's Elasticsearch node (tests/testbed/es_node.py) and stops what it started.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from groupid_upgrade.history.conversion import HISTORY_INDEX_MAPPINGS, convert_row, document_id  # noqa: E402
from groupid_upgrade.sample.generator import SampleSpec, generate_sample  # noqa: E402
from groupid_upgrade.source import schema  # noqa: E402
from groupid_upgrade.storage.search import SearchClient  # noqa: E402
from groupid_upgrade.storage.sql import open_sqlite  # noqa: E402


def run_engine(sample: Path, es_url: str, tag: str) -> tuple[float, int, int]:
    answers = json.loads((sample / "answers.json").read_text())
    answers["modules"] = ["Configuration", "History"]
    answers["target"]["elasticsearch"] = {"url": es_url, "indexPrefix": f"{tag}-engine"}
    (sample / "answers.json").write_text(json.dumps(answers))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "groupid_upgrade", "run", "--answer-file",
                           str(sample / "answers.json"), "--json"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"engine run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib <= before:
        print("note: peak RSS of the engine is not above the earlier children's; figure is an upper bound")
    conn = sqlite3.connect(sample / "target" / "GroupID11.db")
    moved = conn.execute("SELECT COUNT(*) FROM Gid_History").fetchone()[0]
    return seconds, moved, peak_kib


def moved_stores(sample: Path) -> list[int]:
    conn = sqlite3.connect(sample / "target" / "GroupID11.db")
    return [r[0] for r in conn.execute("SELECT DISTINCT IdentityStoreId FROM Gid_History ORDER BY 1")]


def run_floor(sample: Path, es_url: str, stores: list[int], tag: str) -> tuple[float, int]:
    db = open_sqlite(next((sample / "source").glob("*.db")), read_only=True)
    cols = schema.HISTORY.column_names
    # documents built beforehand (outside the timing), serialised once
    prebuilt: list[tuple[str, str, str]] = []
    for store in stores:
        for page in db.keyset_pages_where(schema.HISTORY.name, cols, "HistoryId", "IdentityStoreId", store, 5000):
            for row in page:
                _, doc = convert_row(row, store)
                prebuilt.append((f"{tag}-floor-history-{store}", document_id(row[0]), doc))
    search = SearchClient(es_url)
    for store in stores:
        search.ensure_index(f"{tag}-floor-history-{store}", mappings=HISTORY_INDEX_MAPPINGS)
    started = time.perf_counter()
    read = 0
    for store in stores:
        for page in db.keyset_pages_where(schema.HISTORY.name, cols, "HistoryId", "IdentityStoreId", store, 5000):
            read += len(page)
    actions = ({"_index": index, "_id": doc_id, "_source": body} for index, doc_id, body in prebuilt)
    failed = sum(1 for ok, _ in search.bulk_index(actions) if not ok)
    seconds = time.perf_counter() - started
    if failed:
        raise SystemExit(f"floor: {failed} documents refused")
    return seconds, read


def run_naive(sample: Path, es_url: str, stores: list[int], slice_rows: int, tag: str) -> tuple[float, int]:
    db = open_sqlite(next((sample / "source").glob("*.db")), read_only=True)
    cols = schema.HISTORY.column_names
    rows = []
    for page in db.keyset_pages_where(schema.HISTORY.name, cols, "HistoryId", "IdentityStoreId", stores[0],
                                      slice_rows):
        rows = page
        break
    target = sqlite3.connect(sample / "naive.db", isolation_level=None)
    target.execute("CREATE TABLE H (HistoryId INTEGER PRIMARY KEY, Store INTEGER, Doc TEXT)")
    search = SearchClient(es_url)
    search.ensure_index(f"{tag}-naive-history", mappings=HISTORY_INDEX_MAPPINGS)
    started = time.perf_counter()
    for row in rows:
        converted, doc = convert_row(row, stores[0])
        target.execute("INSERT INTO H VALUES (?, ?, ?)", (converted[0], stores[0], doc))
        search.client.index(index=f"{tag}-naive-history", id=document_id(row[0]), document=json.loads(doc))
    return time.perf_counter() - started, len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="CI size: 20,000 rows")
    parser.add_argument("--es-url")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    slice_rows = 2_000 if args.quick else 10_000
    work = Path(tempfile.mkdtemp(prefix="bench-history-"))
    started_node = None
    es_url = args.es_url
    tag = f"bench-{uuid.uuid4().hex[:8]}"  # this run's indexes, deleted at the end
    try:
        if es_url is None:
            sys.path.insert(0, str(REPO / "tests" / "testbed"))
            import es_node  # the test bed's node (tests/testbed/es_node.py)

            started_node = work / "es"
            es_url = es_node.start(started_node, http_port=es_node.free_port(9270))["ES_URL"]
        t0 = time.perf_counter()
        sample = generate_sample(SampleSpec(out=work / "sample", history=rows))
        print(f"sample: {rows} history rows generated in {time.perf_counter() - t0:.1f} s")
        engine_s, moved, peak_kib = run_engine(sample, es_url, tag)
        stores = moved_stores(sample)
        floor_s, read = run_floor(sample, es_url, stores, tag)
        naive_s, naive_rows = run_naive(sample, es_url, stores, slice_rows, tag)
        naive_total = naive_s / max(naive_rows, 1) * moved
        print(f"engine: {moved} rows in {engine_s:.2f} s = {moved / engine_s:,.0f} rows/s, "
              f"peak RSS {peak_kib / 1024:.0f} MiB")
        print(f"floor: {read} rows read + bulk-indexed in {floor_s:.2f} s = {read / floor_s:,.0f} rows/s")
        print(f"naive: {naive_rows} rows in {naive_s:.2f} s = {naive_rows / naive_s:,.0f} rows/s "
              f"(extrapolated to {moved} rows: {naive_total:.1f} s)")
        print(f"engine/floor: {engine_s / floor_s:.2f}")
        print(f"naive/engine: {naive_total / engine_s:.2f}")
    finally:
        if es_url is not None and started_node is None:
            with SearchClient(es_url) as search:
                for index in search.client.indices.get(index=f"{tag}-*"):  # deletes need exact names
                    search.delete_index(index)
        if started_node is not None:
            es_node.stop(started_node)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GROUPID_UPGRADE_LOG_DIR", tempfile.gettempdir())
    sys.exit(main())
