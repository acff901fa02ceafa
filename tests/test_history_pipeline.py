"""The History pipeline's mechanism (issue #19): bounded stages that overlap reading, indexing and
committing. Memory is bounded (at most ``depth`` batches exist at once), a slow stage holds the
others back, batches commit in order and exactly once, a stage's error surfaces on the caller's
thread after the batches before it, and a cancel is acted on promptly with every thread joined.
Also the conversion's hand-written documents: the same text json.dumps gives (R14)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groupid_upgrade.errors import Cancelled
from groupid_upgrade.history.batch_pipeline import POLL_SECONDS, BatchPipeline
from groupid_upgrade.history.conversion import ACTION_11, convert_row, history_type


class Recorder:
    """Real batches (lists of ints) through real threads; it notes what each stage saw and when."""

    def __init__(self, batches: int, *, index_delay: float = 0.0, commit_delay: float = 0.0,
                 indexing: bool = True) -> None:
        self.batches = batches
        self.indexing = indexing
        self.index_delay = index_delay
        self.commit_delay = commit_delay
        self.produced = 0
        self.indexed: set[int] = set()
        self.committed: list[int] = []
        self.produced_at_first_commit: int | None = None
        self.lock = threading.Lock()

    def produce(self) -> Iterator[list[int]]:
        for n in range(self.batches):
            with self.lock:
                self.produced += 1
            yield [n] * 1000

    def index(self, batch: list[int], stop: threading.Event) -> None:
        time.sleep(self.index_delay)
        with self.lock:
            self.indexed.add(batch[0])

    def commit(self, batch: list[int], wait_indexed: Callable[[], None]) -> None:
        if self.produced_at_first_commit is None:
            self.produced_at_first_commit = self.produced
        wait_indexed()
        assert batch[0] in self.indexed or not self.indexing  # the ledger row waits for the documents
        time.sleep(self.commit_delay)
        self.committed.append(batch[0])


def pipeline(recorder: Recorder, *, depth: int = 3, workers: int = 2, indexing: bool = True,
             check_cancelled: Callable[[], None] = lambda: None) -> BatchPipeline[list[int]]:
    return BatchPipeline(recorder.produce, recorder.commit, index=recorder.index if indexing else None,
                         workers=workers, depth=depth, check_cancelled=check_cancelled, name="test-pipeline")


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("test-pipeline")]


def test_a_slow_commit_holds_the_reader_back_so_at_most_depth_batches_exist() -> None:
    recorder = Recorder(40, commit_delay=0.01)
    run = pipeline(recorder, depth=3)
    run.run()
    assert recorder.committed == list(range(40))
    assert run.peak_alive == 3  # the bound was reached (the reader ran ahead) and never passed
    assert recorder.produced_at_first_commit is not None and recorder.produced_at_first_commit <= 3 + 1
    assert pipeline_threads() == []


def test_slow_indexing_holds_the_reader_back_too() -> None:
    recorder = Recorder(30, index_delay=0.02)
    run = pipeline(recorder, depth=4, workers=2)
    run.run()
    assert recorder.committed == list(range(30))
    assert run.peak_alive <= 4


def test_without_indexing_batches_still_commit_in_order_within_the_bound() -> None:
    recorder = Recorder(25, commit_delay=0.002, indexing=False)
    run = pipeline(recorder, depth=2, indexing=False)
    run.run()
    assert recorder.committed == list(range(25)) and recorder.indexed == set()
    assert run.peak_alive <= 2


@settings(max_examples=25, deadline=None)
@given(batches=st.integers(0, 30), depth=st.integers(1, 6), workers=st.integers(1, 4),
       index_delay=st.sampled_from([0.0, 0.001, 0.003]), commit_delay=st.sampled_from([0.0, 0.001, 0.003]))
def test_any_sizes_commit_every_batch_once_in_order_within_the_bound(
        batches: int, depth: int, workers: int, index_delay: float, commit_delay: float) -> None:
    recorder = Recorder(batches, index_delay=index_delay, commit_delay=commit_delay)
    run = pipeline(recorder, depth=depth, workers=workers)
    run.run()
    assert recorder.committed == list(range(batches))
    assert run.peak_alive <= depth


def test_an_indexing_error_is_raised_at_its_batch_after_the_batches_before_it_committed() -> None:
    recorder = Recorder(20)

    def index(batch: list[int], stop: threading.Event) -> None:
        if batch[0] == 7:
            raise RuntimeError("refused")
        recorder.index(batch, stop)

    run = BatchPipeline(recorder.produce, recorder.commit, index=index, workers=2, depth=3,
                        check_cancelled=lambda: None, name="test-pipeline")
    with pytest.raises(RuntimeError, match="refused"):
        run.run()
    assert recorder.committed == list(range(7))
    assert pipeline_threads() == []


def test_a_reading_error_is_raised_after_the_batches_read_before_it_committed() -> None:
    committed: list[int] = []

    def produce() -> Iterator[int]:
        yield from range(5)
        raise OSError("the source went away")

    run = BatchPipeline(produce, lambda batch, wait: (wait(), committed.append(batch)), index=lambda b, s: None,
                        workers=1, depth=2, check_cancelled=lambda: None, name="test-pipeline")
    with pytest.raises(OSError, match="went away"):
        run.run()
    assert committed == list(range(5))
    assert pipeline_threads() == []


def test_a_cancel_while_indexing_hangs_stops_promptly_and_joins_every_thread() -> None:
    cancel = threading.Event()
    started_indexing = threading.Event()

    def index(batch: list[int], stop: threading.Event) -> None:
        started_indexing.set()
        stop.wait(30)  # a request that only ends when the pipeline stops (as a backoff does)

    def check_cancelled() -> None:
        if cancel.is_set():
            raise Cancelled("the test")

    recorder = Recorder(100)
    run = BatchPipeline(recorder.produce, recorder.commit, index=index, workers=2, depth=3,
                        check_cancelled=check_cancelled, name="test-pipeline")
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run.run()
    assert started_indexing.is_set()
    assert time.monotonic() - started < 0.3 + 10 * POLL_SECONDS
    assert recorder.committed == [] and run.peak_alive <= 3
    assert pipeline_threads() == []


def test_depth_and_workers_must_be_positive() -> None:
    recorder = Recorder(1)
    with pytest.raises(ValueError):
        pipeline(recorder, depth=0)
    with pytest.raises(ValueError):
        pipeline(recorder, workers=0)


# --- the hand-written documents are json.dumps's text --------------------------------------------------
_texts = st.one_of(st.none(), st.text(max_size=40))
_actions = st.one_of(st.sampled_from(sorted(ACTION_11)), st.text(min_size=1, max_size=20))


@settings(max_examples=300, deadline=None)
@given(hid=st.integers(1, 2**62), store=st.integers(1, 2**31), category=st.sampled_from(
    ["IdentityStore", "AdminCenter", "Helpdesk", "Synchronize", "Other"]), action=_actions, guid=_texts,
    object_dn=_texts, actor_dn=_texts, old=_texts, new=_texts, description=_texts,
    moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                        timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-5)),
                                                   timezone(timedelta(hours=5, minutes=30))])))
def test_r14_the_document_and_changes_are_the_text_json_dumps_gives(
        hid: int, store: int, category: str, action: str, guid: str | None, object_dn: str | None,
        actor_dn: str | None, old: str | None, new: str | None, description: str | None, moment: datetime) -> None:
    source = (hid, 1, category, action, guid, object_dn, actor_dn, old, new, description, moment.isoformat())
    row, document = convert_row(source, store)
    changes = [{"old": old, "new": new}] if old is not None or new is not None else []
    utc = moment.astimezone(timezone.utc).isoformat()
    expected = {"historyId": hid, "identityStoreId": store, "historyType": history_type(category, action),
                "action": ACTION_11.get(action, action), "objectGuid": guid, "objectDn": object_dn,
                "actorDn": actor_dn, "changes": changes, "description": description, "occurredOn": utc}
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    assert document == dumps(expected)
    assert row[7] == (dumps(changes) if changes else None)
    assert json.loads(document) == expected
