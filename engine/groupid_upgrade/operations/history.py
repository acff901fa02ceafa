"""The History module's operations: one per identity store, its rows moved in batches (R14, R15).

A store's operation is the batches of its remaining rows. ``prepare`` checks what the store needs (the
search server answers when there is one) and, in a what-if, reads and converts every remaining batch
exactly as the run does, writing nothing; ``commit`` sends the batches through the History pipeline
(``history/pipeline.py``), each committed with its ledger row, then records the store as done once
the counts agree. The outbox of earlier runs and the recheck of stores done earlier are operations of
the module too (``OutboxDrain``, ``HistoryRecheck``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..history.pipeline import HistoryMover, convert_batch, source_pages
from ..target.ledger import history_batch_prefix
from .base import Operation, Prepared, RunContext


def history_mover(ctx: RunContext, done: set[str]) -> HistoryMover:
    return HistoryMover(ctx.source.db, ctx.target, ctx.search, ctx.index_prefix, ctx.reporter, ctx.run_id, done,
                        batch_size=ctx.answers.target.history_batch_size)


@dataclass
class HistoryStoreOperation(Operation):
    kind = "history"
    store_id: int
    store_name: str
    rows: int

    def prepare(self, ctx: RunContext) -> Prepared:
        search = ctx.search
        if search is not None:
            search.ping()  # SearchUnreachable / SearchCredentialsRefused before anything is read
        if ctx.what_if:
            after = ctx.ledger.resume_point(history_batch_prefix(self.store_id))
            for page in source_pages(ctx.source.db, self.store_id, after, ctx.answers.target.history_batch_size):
                ctx.reporter.check_cancelled("the history upgrade")
                convert_batch(page, self.store_id, self.store_id, self.store_name)
        return Prepared()

    def commit(self, ctx: RunContext, prepared: Prepared) -> None:
        mover = history_mover(ctx, ctx.done)
        mover.move_store(self.store_id, self.store_id, self.store_name)
        super().commit(ctx, prepared)  # the store's own row: every batch is in and the counts agree


@dataclass
class HistoryRecheck:
    """A store done earlier is checked again once Elasticsearch is there: the index must agree too."""

    key: str
    name: str
    store_id: int

    def run(self, ctx: RunContext) -> None:
        history_mover(ctx, ctx.done).check_counts(self.store_id, self.store_id, self.name, read_only=ctx.what_if)


def outbox_pending(ctx: RunContext) -> int:
    if ctx.search is None or ctx.target.db is None:
        return 0
    return history_mover(ctx, ctx.done).outbox_pending()


def drain_outbox(ctx: RunContext) -> int:
    """History kept by an earlier run without Elasticsearch goes out first (nothing is lost). A what-if only
    checks that the server answers."""
    pending = outbox_pending(ctx)
    if not pending:
        return 0
    if ctx.what_if:
        assert ctx.search is not None
        ctx.search.ping()
        return pending
    return history_mover(ctx, ctx.done).drain_outbox()
