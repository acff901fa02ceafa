"""Moving history: source pages -> 11 rows -> target database and Elasticsearch (R14, R15).

Per identity store, in HistoryId order, a batch (one keyset page) at a time, in a pipeline of bounded
stages (``batch_pipeline.py``) so that everything overlaps the indexing, which is the floor:
1. a reader thread reads the next pages and converts them (pure);
2. with Elasticsearch, index threads send each batch's documents (deterministic ids, so a resend after
   a crash is harmless); a document refused stops the store;
3. the caller's thread writes each batch in one target transaction, in order: the batch's rows (while
   its documents are being indexed), then, once they are indexed, the batch's ledger row; without
   Elasticsearch the documents go into the outbox in the same transaction, for a later run to drain.
A batch is in the ledger only once its rows and its documents are durable, and its rows are in the
target exactly when its ledger row is, so each source row lands once however often the run is
repeated or resumed; the counts are checked at the end of each store. At most ``PIPELINE_DEPTH``
batches are held at once (memory: batch size x depth). During a store's load its index has refresh
and replicas off (``SearchClient.bulk_load``), put back afterwards whatever happens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import EngineError
from ..faults import fault_point
from ..reporting import Reporter
from ..source import schema as source_schema
from ..source.installation import SourceDatabase
from ..storage.search import DEFAULT_BULK_IN_FLIGHT, BulkRefusal
from ..storage.sql import Database, statement, transaction
from ..target import schema as t
from ..target.ledger import history_batch_key, history_batch_prefix
from ..target.writer import TargetInstallation
from .batch_pipeline import BatchPipeline
from .conversion import HISTORY_INDEX_MAPPINGS, convert_row, document_id, index_name

DEFAULT_BATCH_SIZE = 5_000
INDEXING_IN_FLIGHT = DEFAULT_BULK_IN_FLIGHT
#: batches held at once: one being read, those being indexed, one being committed, one waiting
PIPELINE_DEPTH = INDEXING_IN_FLIGHT + 3


@dataclass
class HistoryBatch:
    key: str
    name: str
    first: int
    last: int
    rows: list[tuple[Any, ...]]
    docs: list[tuple[str, str]]  # (document id, JSON)
    store_id: int


HISTORY_COLUMNS = source_schema.HISTORY.column_names


def convert_batch(page: list[tuple[Any, ...]], source_store_id: int, target_store_id: int,
                  store_name: str) -> HistoryBatch:
    """A page of source rows as the batch that writes them: target rows, documents and its ledger key."""
    rows: list[tuple[Any, ...]] = []
    docs: list[tuple[str, str]] = []
    for source_row in page:
        row, doc = convert_row(source_row, target_store_id)
        rows.append(row)
        docs.append((document_id(row[0]), doc))
    first, last = page[0][0], page[-1][0]
    return HistoryBatch(key=history_batch_key(source_store_id, last), name=f"{store_name} rows {first}..{last}",
                        first=first, last=last, rows=rows, docs=docs, store_id=target_store_id)


def source_pages(source_db: SourceDatabase, store_id: int, after: int | None, batch_size: int
                 ) -> Iterator[list[tuple[Any, ...]]]:
    return source_db.keyset_pages_where(source_schema.HISTORY.name, HISTORY_COLUMNS, "HistoryId", "IdentityStoreId",
                                        store_id, batch_size, after)


class HistoryMover:
    def __init__(self, source_db: SourceDatabase, target: TargetInstallation, search: Any | None, index_prefix: str,
                 reporter: Reporter, run_id: str, done: set[str], batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.source_db = source_db
        self.target = target
        assert target.db is not None
        self.db: Database = target.db
        self.search = search
        self.index_prefix = index_prefix
        self.reporter = reporter
        self.run_id = run_id
        self.done = done
        self.batch_size = batch_size

    # --- search ---------------------------------------------------------------------------------
    def _index(self, index: str, docs: list[tuple[str, str]], what: str, stop: threading.Event | None = None) -> None:
        search = self.search
        assert search is not None
        refused: list[BulkRefusal] = search.send_documents(index, docs, stop=stop)
        for refusal in refused:
            self.reporter.record("HistoryDocumentRefused", {"id": refusal.doc_id, "index": index,
                                                            "reason": refusal.reason})
        if refused:
            raise EngineError(
                "SearchOperationFailed",
                f"Elasticsearch {search.url} refused {len(refused)} document(s) of {what}, first "
                f"{refused[0].doc_id}: {refused[0].reason}; the batch was not recorded and is sent again by the "
                "next run.",
                target=search.url,
                recommended_action="Fix the cause named (mapping, disk watermark), then run again.",
            )

    def drain_outbox(self) -> int:
        """Send the documents earlier runs without Elasticsearch kept, then forget them."""
        assert self.search is not None
        sent = 0
        table = t.SEARCH_OUTBOX
        delete = statement("delete_where_key", self.db.dialect, table=table.name, key=table.key)
        ensured: set[str] = set()
        for page in self.db.keyset_pages(table.name, table.column_names, table.key, self.batch_size):
            self.reporter.check_cancelled("the history upgrade")
            for index in {index_name(self.index_prefix, row[1]) for row in page} - ensured:
                self.search.ensure_index(index, mappings=HISTORY_INDEX_MAPPINGS)
                ensured.add(index)
            by_index: dict[str, list[tuple[str, str]]] = {}
            for doc_id, store_id, doc in page:
                by_index.setdefault(index_name(self.index_prefix, store_id), []).append((doc_id, doc))
            for index, docs in by_index.items():
                self._index(index, docs, "the outbox")
            with transaction(self.db) as cur:
                cur.executemany(delete, [(row[0],) for row in page])
            sent += len(page)
            self.reporter.progress("history-outbox", "Sending kept history to Elasticsearch", f"{sent} sent",
                                   sent, None, parent_activity_id="upgrade")
        return sent

    # --- one store --------------------------------------------------------------------------------
    def move_store(self, source_store_id: int, target_store_id: int, store_name: str) -> dict[str, Any]:
        after = self.target.ledger.resume_point(history_batch_prefix(source_store_id), self.done)
        total = sum(self.source_db.count_where_by(source_schema.HISTORY.name, "IdentityStoreId", source_store_id,
                                                  "IdentityStoreId").values())
        index = index_name(self.index_prefix, target_store_id)
        progress = _Progress(self.reporter, f"history-{source_store_id}", f"Upgrading the history of {store_name}",
                             self._already_moved(target_store_id), total)

        def batches() -> Iterator[HistoryBatch]:
            for page in source_pages(self.source_db, source_store_id, after, self.batch_size):
                yield convert_batch(page, source_store_id, target_store_id, store_name)

        def index_batch(batch: HistoryBatch, stop: threading.Event) -> None:
            self._index(index, batch.docs, f"history rows {batch.first}..{batch.last} of {store_name}", stop)

        def commit(batch: HistoryBatch, wait_indexed: Callable[[], None]) -> None:
            progress.moved(self._commit(batch, wait_indexed))

        pipeline = BatchPipeline(batches, commit, index=index_batch if self.search is not None else None,
                                 workers=INDEXING_IN_FLIGHT, depth=PIPELINE_DEPTH, name="history",
                                 check_cancelled=lambda: self.reporter.check_cancelled("the history upgrade"))
        if self.search is None:
            pipeline.run()
        else:
            self.search.ensure_index(index, mappings=HISTORY_INDEX_MAPPINGS)
            with self.search.bulk_load(index):
                pipeline.run()
        progress.done()
        return self.check_counts(source_store_id, target_store_id, store_name)

    def _commit(self, batch: HistoryBatch, wait_indexed: Callable[[], None]) -> int:
        with self.target.ledger.transaction() as writer:
            writer.insert_many(t.HISTORY, batch.rows)
            if self.search is None:
                writer.insert_many(t.SEARCH_OUTBOX, [(doc_id, batch.store_id, doc) for doc_id, doc in batch.docs])
            # the rows above were written while the documents were being indexed; the ledger row needs both
            wait_indexed()  # raises what indexing raised: the transaction is rolled back, the batch not recorded
            fault_point("history-in-transaction")
            writer.record(batch.key, "History", batch.name, self.run_id)
        fault_point("history-after-commit")
        self.done.add(batch.key)
        return len(batch.rows)

    def _already_moved(self, target_store_id: int) -> int:
        return sum(self.db.count_where_by(t.HISTORY.name, "IdentityStoreId", target_store_id, "IdentityStoreId")
                   .values())

    # --- the check at the end ----------------------------------------------------------------------
    def check_counts(self, source_store_id: int, target_store_id: int, store_name: str, *,
                     read_only: bool = False) -> dict[str, Any]:
        """Counts per kind in the source, the target database and the index must agree (R14). ``read_only``
        (what-if): the index is neither refreshed nor has its load settings put back."""
        source = self.source_db.count_where_by(source_schema.HISTORY.name, "IdentityStoreId", source_store_id,
                                               "Category")
        target = self.db.count_where_by(t.HISTORY.name, "IdentityStoreId", target_store_id, "SourceCategory")
        by_type = self.db.count_where_by(t.HISTORY.name, "IdentityStoreId", target_store_id, "HistoryType")
        problems = [f"{kind}: source {n}, target database {target.get(kind, 0)}"
                    for kind, n in sorted(source.items()) if target.get(kind, 0) != n]
        problems += [f"{kind}: source 0, target database {n}" for kind, n in sorted(target.items())
                     if kind not in source]
        indexed: dict[str, int] | None = None
        if self.search is not None:
            index = index_name(self.index_prefix, target_store_id)
            if not read_only:
                self.search.end_interrupted_load(index)  # a killed run's load settings, when this run loaded nothing
                self.search.refresh(index)
            indexed = {kind: self.search.count(index, query={"term": {"historyType": kind}}) for kind in by_type}
            problems += [f"{kind}: target database {n}, index {index} {indexed[kind]}"
                         for kind, n in sorted(by_type.items()) if indexed[kind] != n]
            total_indexed = self.search.count(index)
            if total_indexed != sum(by_type.values()):
                problems.append(f"index {index} holds {total_indexed} documents, the target database "
                                f"{sum(by_type.values())} rows")
        counts = {"store": store_name, "sourceStoreId": source_store_id, "identityStoreId": target_store_id,
                  "source": source, "targetDatabase": target, "byHistoryType": by_type, "index": indexed}
        if problems:
            raise EngineError(
                "HistoryCountMismatch",
                f"The history counts of {store_name} disagree: {'; '.join(problems)}.",
                target=f"history of {store_name}",
                recommended_action="Run again: missing batches are resumed; if the numbers stay apart, send the "
                                   "log to support.",
                extra={"counts": counts},
            )
        self.reporter.record("HistoryCounts", counts)
        return counts

    def outbox_pending(self) -> int:
        return self.db.count(t.SEARCH_OUTBOX.name)



class _Progress:
    """A store's progress: rows moved of the store's total, throttled by the reporter."""

    def __init__(self, reporter: Reporter, activity_id: str, activity: str, moved: int, total: int) -> None:
        self._reporter = reporter
        self._activity_id = activity_id
        self._activity = activity
        self._moved = moved
        self._total = total

    def moved(self, rows: int) -> None:
        self._moved += rows
        self._reporter.progress(self._activity_id, self._activity, f"{self._moved} of {self._total} rows",
                                self._moved, self._total, parent_activity_id="upgrade")

    def done(self) -> None:
        self._reporter.progress(self._activity_id, self._activity, "Done", self._moved, self._total, completed=True,
                                parent_activity_id="upgrade")
