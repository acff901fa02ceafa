"""Batches through three overlapping stages on bounded queues: produce, index, commit in order.

- one producer thread makes the batches (read a source page, convert it), in order;
- ``workers`` index threads send each batch's documents (a bulk request each: in flight at once);
- the caller's thread commits the batches, in the order they were produced; ``commit`` receives a
  ``wait_indexed`` callable and calls it where the batch must be indexed (before its ledger row), so
  its own database writes overlap that batch's indexing.

At most ``depth`` batches exist at once, from the moment the producer starts one to the moment its
commit returns: memory is bounded by the batch size times ``depth`` whatever the table's size, and a
slow stage holds the others back (backpressure) instead of letting batches pile up.

Errors and cancellation: whatever a stage raises is raised on the caller's thread (an indexing error
when the batch it belongs to is committed, so the batches before it still commit); ``check_cancelled``
is called while waiting, so a cancel is acted on within ``POLL_SECONDS``. On the way out every thread
is told to stop and joined; an index worker finishes the request it is in (bounded by the client's
request timeout) and starts no other.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

B = TypeVar("B")

POLL_SECONDS = 0.1


@dataclass
class _Job(Generic[B]):
    batch: B
    indexed: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class _End:
    """The producer is done (``error`` None) or failed with ``error``."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class BatchPipeline(Generic[B]):
    def __init__(self, produce: Callable[[], Iterator[B]], commit: Callable[[B, Callable[[], None]], None], *,
                 index: Callable[[B, threading.Event], None] | None, workers: int, depth: int,
                 check_cancelled: Callable[[], None], name: str = "pipeline") -> None:
        if depth < 1 or (index is not None and workers < 1):
            raise ValueError("depth and workers must be positive")
        self._produce = produce
        self._commit = commit
        self._index = index
        self._workers = workers if index is not None else 0
        self.depth = depth
        self._check_cancelled = check_cancelled
        self._name = name
        self._slots = threading.Semaphore(depth)
        self._stop = threading.Event()
        self._to_index: queue.SimpleQueue[_Job[B] | None] = queue.SimpleQueue()
        self._to_commit: queue.SimpleQueue[_Job[B] | _End] = queue.SimpleQueue()
        self._alive = 0
        self._alive_lock = threading.Lock()
        #: the most batches that existed at once (never above ``depth``)
        self.peak_alive = 0

    # --- the caller's thread: commit in order ----------------------------------------------------
    def run(self) -> None:
        threads = [threading.Thread(target=self._producer, name=f"{self._name}-read", daemon=True)]
        threads += [threading.Thread(target=self._indexer, name=f"{self._name}-index-{i}", daemon=True)
                    for i in range(self._workers)]
        for thread in threads:
            thread.start()
        try:
            while True:
                item = self._next_to_commit()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                self._commit(item.batch, functools.partial(self._wait_indexed, item))
                self._release()
        finally:
            self._stop.set()
            for _ in range(self._workers):
                self._to_index.put(None)
            for thread in threads:
                thread.join()

    def _next_to_commit(self) -> _Job[B] | _End:
        while True:
            self._check_cancelled()
            try:
                return self._to_commit.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue

    def _wait_indexed(self, job: _Job[B]) -> None:
        """Return once the batch is indexed; raise what indexing it raised."""
        while not job.indexed.wait(POLL_SECONDS):
            self._check_cancelled()
        if job.error is not None:
            raise job.error

    # --- the stages ------------------------------------------------------------------------------
    def _producer(self) -> None:
        try:
            batches = self._produce()
            while True:
                if not self._acquire():
                    return
                try:
                    batch = next(batches)
                except StopIteration:
                    self._release()
                    break
                job = _Job(batch)
                if self._index is None:
                    job.indexed.set()
                else:
                    self._to_index.put(job)
                self._to_commit.put(job)
            self._to_commit.put(_End())
        except BaseException as exc:  # raised on the caller's thread, after the batches before it
            self._to_commit.put(_End(exc))

    def _indexer(self) -> None:
        assert self._index is not None
        while True:
            job = self._to_index.get()
            if job is None:
                return
            try:
                if self._stop.is_set():
                    continue  # nobody waits for it any more
                self._index(job.batch, self._stop)
            except BaseException as exc:
                job.error = exc
            finally:
                job.indexed.set()

    # --- the bound -------------------------------------------------------------------------------
    def _acquire(self) -> bool:
        while not self._slots.acquire(timeout=POLL_SECONDS):
            if self._stop.is_set():
                return False
        if self._stop.is_set():
            self._slots.release()
            return False
        with self._alive_lock:
            self._alive += 1
            self.peak_alive = max(self.peak_alive, self._alive)
        return True

    def _release(self) -> None:
        with self._alive_lock:
            self._alive -= 1
        self._slots.release()
