"""History benchmark (issues #5, #19): the engine's History module vs the floor and a naive baseline.

    python bench/history.py [--rows N] [--quick] [--es-url URL] [--write-doc docs/performance.md]

Generates a sample with N history rows (default 1,000,000; --quick: 20,000), then measures in the
same run:
  (a) engine: `groupid-upgrade run` of Configuration + History into a SQLite target and Elasticsearch,
      end to end, as a subprocess; its RSS is sampled while it runs and printed at each tenth of the
      rows (target: at most 250 MB, flat), its peak read from the kernel for that process alone;
  (b) floor: the fastest load of the same documents the engine's parts allow: the rows read raw from
      the source (keyset pages) while the documents, built beforehand into a file (outside the
      timing) and streamed from it, are bulk-indexed with the engine's own bulk client and tuning
      (request size, requests in flight, refresh and replicas off during the load), in the engine's
      batch size; reading overlaps indexing as in the engine. The floor holds a batch at a time;
  (c) outbox: the same run without Elasticsearch (the documents go to the target's outbox), on a
      copy of the sample;
  (d) naive: row-by-row insert (a commit per row) and one index call per document on a 10,000-row
      slice (--quick: 2,000), extrapolated to the rows the engine moved.
Prints rows/s and RSS, and the lines `engine/floor: X` (target <= 1.10), `outbox/engine: Y` and
`naive/engine: Z`. Without --es-url it starts the test bed's Elasticsearch node
(tests/testbed/es_node.py) and stops what it started. --write-doc puts the printed figures into
that file's History section (bench/_performance_doc.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench._performance_doc import write_if_asked  # noqa: E402
from groupid_upgrade.history.batch_pipeline import BatchPipeline  # noqa: E402
from groupid_upgrade.history.conversion import HISTORY_INDEX_MAPPINGS, convert_row, document_id  # noqa: E402
from groupid_upgrade.history.pipeline import DEFAULT_BATCH_SIZE, INDEXING_IN_FLIGHT, PIPELINE_DEPTH  # noqa: E402
from groupid_upgrade.sample.generator import SampleSpec, generate_sample  # noqa: E402
from groupid_upgrade.source import schema  # noqa: E402
from groupid_upgrade.storage.search import SearchClient  # noqa: E402
from groupid_upgrade.storage.sql import open_sqlite  # noqa: E402

TARGET_RATIO = 1.10
RSS_LIMIT_MB = 250
SAMPLE_SECONDS = 0.2


# --- the engine, as a subprocess, with its memory sampled ----------------------------------------------
def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def committed_rows(target_db: Path) -> int | None:
    """Rows the engine has committed, from its ledger (a few hundred rows: cheap to count while it runs)."""
    try:
        conn = sqlite3.connect(f"{target_db.resolve().as_uri()}?mode=ro", uri=True, timeout=0.05)
        try:
            batches = conn.execute("SELECT COUNT(*) FROM Upg_Ledger WHERE UnitKey LIKE 'History/%/batch:%'"
                                   ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet, or locked for a moment
        return None
    return int(batches) * DEFAULT_BATCH_SIZE


def run_engine(sample: Path, es_url: str | None, tag: str) -> dict[str, Any]:
    answers = json.loads((sample / "answers.json").read_text())
    answers["modules"] = ["Configuration", "History"]
    if es_url is None:
        answers["target"].pop("elasticsearch", None)
    else:
        answers["target"]["elasticsearch"] = {"url": es_url, "indexPrefix": f"{tag}-engine"}
    (sample / "answers.json").write_text(json.dumps(answers))
    target_db = sample / "target" / "GroupID11.db"
    samples: list[tuple[int, int]] = []  # (rows committed, RSS KiB)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "groupid_upgrade", "run", "--answer-file",
                             str(sample / "answers.json"), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    out_parts: list[str] = []
    err_parts: list[str] = []
    readers = [threading.Thread(target=lambda s=s, p=p: p.append(s.read()), daemon=True)  # type: ignore[misc]
               for s, p in ((proc.stdout, out_parts), (proc.stderr, err_parts))]
    for reader in readers:
        reader.start()
    while True:
        # reaped here, with the rusage of this child alone: its own peak RSS, not the largest child's
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = rss_kib(proc.pid)
        rows = committed_rows(target_db)
        if rss is not None and rows is not None:
            samples.append((rows, rss))
        time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    if proc.returncode != 0:
        raise SystemExit(f"engine run failed ({proc.returncode}): {''.join(err_parts)[-2000:]}")
    with sqlite3.connect(target_db) as conn:
        moved = conn.execute("SELECT COUNT(*) FROM Gid_History").fetchone()[0]
    return {"seconds": seconds, "moved": moved, "samples": samples, "peak_kib": usage.ru_maxrss,
            "cpu": usage.ru_utime + usage.ru_stime}


class ServerCpu:
    """CPU seconds the Elasticsearch node (the process listening on the URL's port) has used.

    On a machine of two cores the node and the engine share them, so a load's cost is the CPU of both;
    printed beside each wall time so a ratio can be read against the work done."""

    def __init__(self, url: str) -> None:
        port = urlsplit(url).port
        pids = {c.pid for c in psutil.net_connections(kind="tcp")
                if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid}
        self.process = psutil.Process(pids.pop()) if len(pids) == 1 else None

    def seconds(self) -> float | None:
        if self.process is None:
            return None
        times = self.process.cpu_times()
        return float(times.user + times.system)


def cpu_text(before: float | None, after: float | None) -> str:
    return "n/a" if before is None or after is None else f"{after - before:.1f} s"


def rss_by_tenth(samples: list[tuple[int, int]], moved: int) -> list[tuple[int, int | None]]:
    """The RSS (KiB) sampled when each tenth of the rows had been committed (None: no sample in that tenth)."""
    tenths: list[tuple[int, int | None]] = []
    for tenth in range(1, 11):
        reached = [rss for rows, rss in samples if rows >= moved * tenth // 10]
        tenths.append((tenth * 10, reached[0] if reached else None))
    return tenths


def moved_stores(sample: Path) -> list[int]:
    with sqlite3.connect(sample / "target" / "GroupID11.db") as conn:
        return [r[0] for r in conn.execute("SELECT DISTINCT IdentityStoreId FROM Gid_History ORDER BY 1")]


# --- the floor: raw reads + prebuilt documents streamed from a file, the engine's bulk path ----------------
def source_db_path(sample: Path) -> Path:
    return next((sample / "source").glob("*.db"))


def prebuild_documents(sample: Path, stores: list[int], path: Path) -> int:
    """The documents of the stores, in the engine's order, one ``id<TAB>json`` line each (outside the timing)."""
    db = open_sqlite(source_db_path(sample), read_only=True)
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for store in stores:
            for page in db.keyset_pages_where(schema.HISTORY.name, schema.HISTORY.column_names, "HistoryId",
                                              "IdentityStoreId", store, DEFAULT_BATCH_SIZE):
                for row in page:
                    _, doc = convert_row(row, store)
                    out.write(f"{document_id(row[0])}\t{doc}\n")
                    written += 1
    db.close()
    return written


def run_floor(sample: Path, es_url: str, stores: list[int], tag: str, documents: Path) -> tuple[float, int, float]:
    db = open_sqlite(source_db_path(sample), read_only=True)
    search = SearchClient(es_url)
    indexes = {store: f"{tag}-floor-history-{store}" for store in stores}
    for index in indexes.values():
        search.ensure_index(index, mappings=HISTORY_INDEX_MAPPINGS)
    read = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    with documents.open(encoding="utf-8") as stream:
        for store in stores:
            def batches(store: int = store) -> Iterator[list[tuple[str, str]]]:
                nonlocal read
                for page in db.keyset_pages_where(schema.HISTORY.name, schema.HISTORY.column_names, "HistoryId",
                                                  "IdentityStoreId", store, DEFAULT_BATCH_SIZE):
                    read += len(page)
                    docs = []
                    for _ in page:
                        doc_id, _, text = stream.readline().rstrip("\n").partition("\t")
                        docs.append((doc_id, text))
                    yield docs

            def index_batch(docs: list[tuple[str, str]], stop: threading.Event, index: str = indexes[store]) -> None:
                refused = search.send_documents(index, docs, stop=stop)
                if refused:
                    raise SystemExit(f"floor: {len(refused)} documents refused, first {refused[0]}")

            def commit(_docs: list[tuple[str, str]], wait_indexed: Callable[[], None]) -> None:
                wait_indexed()

            with search.bulk_load(indexes[store]):
                BatchPipeline(batches, commit, index=index_batch, workers=INDEXING_IN_FLIGHT, depth=PIPELINE_DEPTH,
                              check_cancelled=lambda: None, name="floor").run()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    indexed = 0
    for index in indexes.values():
        search.refresh(index)
        indexed += search.count(index)
    search.close()
    db.close()
    if indexed != read:
        raise SystemExit(f"floor: {read} rows read but {indexed} documents indexed")
    return seconds, read, cpu


# --- the naive baseline ---------------------------------------------------------------------------------
def run_naive(sample: Path, es_url: str, stores: list[int], slice_rows: int, tag: str) -> tuple[float, int]:
    db = open_sqlite(source_db_path(sample), read_only=True)
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


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="CI size: 20,000 rows")
    parser.add_argument("--es-url")
    parser.add_argument("--write-doc", type=Path, metavar="PATH",
                        help="write the figures into the History section of PATH (docs/performance.md)")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    slice_rows = 2_000 if args.quick else 10_000
    work = Path(tempfile.mkdtemp(prefix="bench-history-"))
    started_node = None
    es_url = args.es_url
    tag = f"bench-{uuid.uuid4().hex[:8]}"  # this run's indexes, deleted at the end
    lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    try:
        if es_url is None:
            sys.path.insert(0, str(REPO / "tests" / "testbed"))
            import es_node  # the test bed's node (tests/testbed/es_node.py)

            started_node = work / "es"
            es_url = es_node.start(started_node, http_port=es_node.free_port(9270))["ES_URL"]
        t0 = time.perf_counter()
        sample = generate_sample(SampleSpec(out=work / "sample", history=rows))
        say(f"sample: {rows} history rows generated in {time.perf_counter() - t0:.1f} s; machine load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        outbox_sample = Path(shutil.copytree(sample, work / "outbox-sample"))
        server = ServerCpu(es_url)
        es_before = server.seconds()
        engine = run_engine(sample, es_url, tag)
        es_engine = cpu_text(es_before, server.seconds())
        moved = engine["moved"]
        stores = moved_stores(sample)
        documents = work / "documents.tsv"
        t0 = time.perf_counter()
        prebuilt = prebuild_documents(sample, stores, documents)
        say(f"floor: {prebuilt} documents prebuilt into a file ({documents.stat().st_size / 2**20:.0f} MiB) in "
            f"{time.perf_counter() - t0:.1f} s, outside the timing")
        es_before = server.seconds()
        floor_s, read, floor_cpu = run_floor(sample, es_url, stores, tag, documents)
        es_floor = cpu_text(es_before, server.seconds())
        documents.unlink()
        outbox = run_engine(outbox_sample, None, tag)
        shutil.rmtree(outbox_sample, ignore_errors=True)
        naive_s, naive_rows = run_naive(sample, es_url, stores, slice_rows, tag)
        naive_total = naive_s / max(naive_rows, 1) * moved
        engine_s = engine["seconds"]
        say(f"engine: {moved} rows in {engine_s:.2f} s = {moved / engine_s:,.0f} rows/s, "
            f"peak RSS {mib(engine['peak_kib'])}, CPU {engine['cpu']:.1f} s (Elasticsearch meanwhile: {es_engine})")
        tenths = rss_by_tenth(engine["samples"], moved)
        say(f"engine RSS at each tenth of the rows (sampled every {SAMPLE_SECONDS} s): " + ", ".join(f"{pct}% {mib(kib)}" for pct, kib in tenths))
        known = [kib for _, kib in tenths if kib is not None]
        if len(known) >= 2:
            say(f"engine RSS growth from the first to the last tenth sampled: {(known[-1] - known[0]) / 1024:+.0f} MiB")
        say(f"floor: {read} rows read + bulk-indexed in {floor_s:.2f} s = {read / floor_s:,.0f} rows/s "
            f"(prebuilt documents streamed from the file; {INDEXING_IN_FLIGHT} requests in flight, "
            f"{DEFAULT_BATCH_SIZE}-document batches, refresh and replicas off during the load, as the engine), "
            f"CPU {floor_cpu:.1f} s (Elasticsearch meanwhile: {es_floor})")
        say(f"outbox (no Elasticsearch): {outbox['moved']} rows in {outbox['seconds']:.2f} s = "
            f"{outbox['moved'] / outbox['seconds']:,.0f} rows/s, peak RSS {mib(outbox['peak_kib'])}, CPU {outbox['cpu']:.1f} s")
        say(f"naive: {naive_rows} rows in {naive_s:.2f} s = {naive_rows / naive_s:,.0f} rows/s "
            f"(extrapolated to {moved} rows: {naive_total:.1f} s)")
        ratio = engine_s / floor_s
        say(f"machine load average at the end: {os.getloadavg()[0]:.1f} (other work shares the cores)")
        say(f"engine/floor: {ratio:.2f}")
        say(f"outbox/engine: {outbox['seconds'] / engine_s:.2f}")
        say(f"naive/engine: {naive_total / engine_s:.2f}")
        say(f"target met: engine/floor {'yes' if ratio <= TARGET_RATIO else 'no'} (<= {TARGET_RATIO:.2f}), "
            f"engine peak RSS {'yes' if engine['peak_kib'] / 1024 <= RSS_LIMIT_MB else 'no'} (<= {RSS_LIMIT_MB} MB)")
        write_if_asked(args.write_doc, "history", f"History (`python bench/history.py --rows {rows}`)", lines)
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
