"""Moving history: source pages -> 11 rows -> target database and Elasticsearch (R14, R15).

Per identity store, in HistoryId order, a page at a time (keyset; memory is one page):
1. convert the page (pure);
2. with Elasticsearch: index its documents (deterministic ids, so a resend after a crash is harmless)
   and stop if any document was refused;
3. one target transaction: the page's rows, the page's ledger row, and, without Elasticsearch, the
   documents into the outbox that a later run drains.
A page is in the target exactly when its ledger row is, so each source row lands once however often
the run is repeated or resumed; the counts are checked at the end of each store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import EngineError
from ..faults import fault_point
from ..reporting import Reporter
from ..source import schema as source_schema
from ..storage.sql import Database, insert, statement, transaction
from ..target import schema as t
from ..target.writer import TargetInstallation, now_iso
from .conversion import HISTORY_INDEX_MAPPINGS, convert_row, document_id, index_name

DEFAULT_BATCH_SIZE = 5_000
INDEXING_IN_FLIGHT = 2


@dataclass
class _Batch:
    key: str
    name: str
    first: int
    last: int
    rows: list[tuple[Any, ...]]
    docs: list[tuple[str, str]]  # (document id, JSON)
    store_id: int
    indexed: Future[None] | None = None
HISTORY_COLUMNS = source_schema.HISTORY.column_names


def batch_key(store_id: int, last_id: int) -> str:
    return f"History/store:{store_id}/batch:{last_id}"


def resume_point(done: set[str], store_id: int) -> int | None:
    prefix = f"History/store:{store_id}/batch:"
    marks = [int(k[len(prefix):]) for k in done if k.startswith(prefix)]
    return max(marks) if marks else None


class HistoryMover:
    def __init__(self, source_db: Database, target: TargetInstallation, search: Any | None, index_prefix: str,
                 reporter: Reporter, run_id: str, done: set[str], batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.source_db = source_db
        self.target = target
        self.db = target.db
        assert self.db is not None
        self.search = search
        self.index_prefix = index_prefix
        self.reporter = reporter
        self.run_id = run_id
        self.done = done
        self.batch_size = batch_size
        dialect = self.db.dialect
        self._insert_history = insert(t.HISTORY.name, t.HISTORY.column_names, dialect)
        self._insert_outbox = insert(t.SEARCH_OUTBOX.name, t.SEARCH_OUTBOX.column_names, dialect)
        self._insert_ledger = insert(t.LEDGER.name, t.LEDGER.column_names, dialect)

    # --- search ---------------------------------------------------------------------------------
    def _index(self, actions: list[dict[str, Any]], what: str) -> None:
        refused: list[str] = []
        for ok, item in self.search.bulk_index(actions):
            if not ok:
                op = next(iter(item.values()))
                reason = (op.get("error") or {}).get("reason") or str(op.get("status"))
                refused.append(f"{op.get('_id')}: {reason}")
                self.reporter.record("HistoryDocumentRefused", {"id": op.get("_id"), "index": op.get("_index"),
                                                                "reason": reason})
        if refused:
            raise EngineError(
                "SearchOperationFailed",
                f"Elasticsearch {self.search.url} refused {len(refused)} document(s) of {what}, first "
                f"{refused[0]}; the batch was not recorded and is sent again by the next run.",
                target=self.search.url,
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
            actions = [{"_index": index_name(self.index_prefix, store_id), "_id": doc_id, "_source": doc}
                       for doc_id, store_id, doc in page]
            self._index(actions, "the outbox")
            with transaction(self.db) as cur:
                cur.executemany(delete, [(row[0],) for row in page])
            sent += len(page)
            self.reporter.progress("history-outbox", "Sending kept history to Elasticsearch", f"{sent} sent",
                                   sent, None, parent_activity_id="upgrade")
        return sent

    # --- one store --------------------------------------------------------------------------------
    def pages(self, store_id: int, after: int | None) -> Iterator[list[tuple[Any, ...]]]:
        return self.source_db.keyset_pages_where(source_schema.HISTORY.name, HISTORY_COLUMNS, "HistoryId",
                                                 "IdentityStoreId", store_id, self.batch_size, after)

    def move_store(self, source_store_id: int, target_store_id: int, store_name: str) -> dict[str, Any]:
        after = resume_point(self.done, source_store_id)
        total = sum(self.source_db.count_where_by(source_schema.HISTORY.name, "IdentityStoreId", source_store_id,
                                                  "IdentityStoreId").values())
        index = index_name(self.index_prefix, target_store_id)
        if self.search is not None:
            self.search.ensure_index(index, mappings=HISTORY_INDEX_MAPPINGS)
        moved = self._already_moved(target_store_id)
        activity = f"history-{source_store_id}"
        # Indexing (mostly waiting on Elasticsearch) overlaps reading and converting the next batches:
        # up to INDEXING_IN_FLIGHT batches are being indexed at once, as Elastic advises for bulk loads.
        # Batches commit in order, each only once its own indexing succeeded.
        in_flight: deque[_Batch] = deque()
        with ThreadPoolExecutor(max_workers=INDEXING_IN_FLIGHT, thread_name_prefix="history-index") as pool:
            try:
                for page in self.pages(source_store_id, after):
                    self.reporter.check_cancelled("the history upgrade")
                    batch = self._convert(page, source_store_id, target_store_id, index, store_name)
                    if self.search is not None:
                        actions = [{"_index": index, "_id": doc_id, "_source": doc} for doc_id, doc in batch.docs]
                        batch.indexed = pool.submit(self._index, actions,
                                                    f"history rows {batch.first}..{batch.last} of {store_name}")
                    in_flight.append(batch)
                    while len(in_flight) > INDEXING_IN_FLIGHT or (self.search is None and in_flight):
                        moved += self._commit(in_flight.popleft())
                        self.reporter.progress(activity, f"Upgrading the history of {store_name}",
                                               f"{moved} of {total} rows", moved, total, parent_activity_id="upgrade")
                while in_flight:
                    moved += self._commit(in_flight.popleft())
            finally:
                for batch in in_flight:
                    if batch.indexed is not None:
                        batch.indexed.cancel()
        self.reporter.progress(activity, f"Upgrading the history of {store_name}", "Done", moved, total,
                               completed=True, parent_activity_id="upgrade")
        return self.check_counts(source_store_id, target_store_id, store_name)

    def _convert(self, page: list[tuple[Any, ...]], source_store_id: int, target_store_id: int, index: str,
                 store_name: str) -> _Batch:
        rows: list[tuple[Any, ...]] = []
        docs: list[tuple[str, str]] = []
        for source_row in page:
            row, doc = convert_row(source_row, target_store_id)
            rows.append(row)
            docs.append((document_id(row[0]), doc))
        first, last = page[0][0], page[-1][0]
        return _Batch(key=batch_key(source_store_id, last), name=f"{store_name} rows {first}..{last}", first=first,
                      last=last, rows=rows, docs=docs, store_id=target_store_id)

    def _commit(self, batch: _Batch) -> int:
        if batch.indexed is not None:
            batch.indexed.result()  # raises what indexing raised: the batch is then not recorded
        with transaction(self.db) as cur:
            cur.executemany(self._insert_history, batch.rows)
            if self.search is None:
                cur.executemany(self._insert_outbox, [(doc_id, batch.store_id, doc) for doc_id, doc in batch.docs])
            fault_point("history-in-transaction")
            cur.execute(self._insert_ledger, (batch.key, "History", batch.name, self.run_id, now_iso()))
        fault_point("history-after-commit")
        self.done.add(batch.key)
        return len(batch.rows)

    def _already_moved(self, target_store_id: int) -> int:
        return sum(self.db.count_where_by(t.HISTORY.name, "IdentityStoreId", target_store_id, "IdentityStoreId")
                   .values())

    # --- the check at the end ----------------------------------------------------------------------
    def check_counts(self, source_store_id: int, target_store_id: int, store_name: str) -> dict[str, Any]:
        """Counts per kind in the source, the target database and the index must agree (R14)."""
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

