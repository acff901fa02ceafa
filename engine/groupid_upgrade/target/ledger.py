"""The ledger of the 11 target: the only code that reads or writes ``Upg.Ledger``, ``Upg.Run`` and
``Upg.RunStop`` (R15).

A unit of work is done exactly when its ledger row is there, and its row is written in the same
transaction as what the unit wrote (``commit``), so a crash leaves a unit either done and recorded or
absent. A run row is opened when a run starts and always ends: Succeeded, PartiallySucceeded or
Failed when the run reaches its end, Cancelled, Failed or Interrupted when it stops early, and a row
left open by a killed run is ended as Interrupted by the next run (which holds the target's run lock,
so no open row can belong to a live run then).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..errors import EngineError
from ..faults import fault_point
from ..storage.sql import Database, Dialect, Table, insert, statement, transaction, upsert
from . import schema as t

GROUP_UNIT_PREFIX = "Groups/group:"  # the key of one upgraded group is this and its objectGUID
RUN_STATUSES = ("Succeeded", "PartiallySucceeded", "Failed", "Cancelled", "Interrupted")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def history_batch_prefix(store_id: int) -> str:
    return f"History/store:{store_id}/batch:"


def history_batch_key(store_id: int, last_id: int) -> str:
    return f"{history_batch_prefix(store_id)}{last_id}"


def group_key(object_guid: str) -> str:
    return GROUP_UNIT_PREFIX + object_guid


Rows = Sequence[tuple[Table, dict[str, Any]]]


@dataclass(frozen=True)
class RunRow:
    run_id: str
    started_on: str
    finished_on: str | None
    status: str | None
    modules: list[str]
    stopped_by: str | None
    error_id: str | None


class Ledger:
    """Read and write the ledger of one target database (``None``: a target that does not exist yet)."""

    def __init__(self, db: Database | None, on_error: Callable[[Exception], Exception] | None = None) -> None:
        self.db = db
        self._on_error = on_error

    @property
    def exists(self) -> bool:
        return self.db is not None and self.db.has_table(t.LEDGER.name)

    # --- reading -----------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        """Every done unit but the per-group ones: those grow with the directory, so they are asked for one
        at a time (``is_done``) instead of being held in memory."""
        if not self.exists:
            return set()
        assert self.db is not None
        return set(self.db.keys_not_like(t.LEDGER.name, "UnitKey", GROUP_UNIT_PREFIX + "%"))

    def is_done(self, key: str) -> bool:
        if not self.exists:
            return False
        assert self.db is not None
        return self.db.has_key(t.LEDGER.name, "UnitKey", key)

    def count_like(self, prefix: str) -> int:
        if not self.exists:
            return 0
        assert self.db is not None
        return int(self.db.scalar(statement("count_keys_like", self.db.dialect, table=t.LEDGER.name,
                                            key="UnitKey"), (_like_prefix(prefix),)))

    def resume_point(self, prefix: str, done: set[str] | None = None) -> int | None:
        """The highest number after ``prefix`` among the done keys (a History store's last committed row)."""
        keys: Iterator[str] | set[str]
        if done is not None:
            keys = done
        elif self.exists:
            assert self.db is not None
            cursor = self.db.execute(statement("select_keys_like", self.db.dialect, table=t.LEDGER.name,
                                               key="UnitKey"), (_like_prefix(prefix),))
            keys = {row[0] for row in cursor.fetchall()}
        else:
            return None
        marks = [int(k[len(prefix):]) for k in keys if k.startswith(prefix) and k[len(prefix):].isdigit()]
        return max(marks) if marks else None

    def ended_modules(self) -> set[str]:
        """The modules of every run that reached its end with something done (Succeeded, PartiallySucceeded)."""
        if self.db is None or not self.db.has_table(t.RUN.name):
            return set()
        rows = self.db.execute(statement("select_ended_runs", self.db.dialect, table=t.RUN.name)).fetchall()
        return {m for modules, status in rows if status in ("Succeeded", "PartiallySucceeded")
                for m in str(modules).split(",")}

    def runs(self) -> list[RunRow]:
        """Every run, oldest first, with how it stopped when it stopped early."""
        db = self.db
        if db is None or not db.has_table(t.RUN.name):
            return []
        stops = {}
        if db.has_table(t.RUN_STOP.name):
            stops = {row[0]: row for row in db.select_all(t.RUN_STOP.name, ("RunId", "StoppedBy", "ErrorId"),
                                                          t.RUN_STOP.key)}
        runs = []
        for run_id, started, finished, modules, status in db.select_all(
                t.RUN.name, ("RunId", "StartedOn", "FinishedOn", "Modules", "Status"), t.RUN.key):
            stop = stops.get(run_id)
            runs.append(RunRow(run_id=run_id, started_on=str(started),
                               finished_on=None if finished is None else str(finished), status=status,
                               modules=[m for m in str(modules).split(",") if m],
                               stopped_by=stop[1] if stop else None, error_id=stop[2] if stop else None))
        runs.sort(key=lambda r: r.started_on)
        return runs

    # --- writing -----------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[LedgerWriter]:
        """One transaction of units: what they write and their ledger rows commit together or not at all."""
        assert self.db is not None
        try:
            with transaction(self.db) as cur:
                yield LedgerWriter(cur, self.db.dialect)
        except EngineError:
            raise
        except Exception as exc:
            raise self._error(exc) from None

    def commit(self, key: str, module: str, name: str, run_id: str, rows: Rows) -> None:
        """One unit: its rows and its ledger row, in one transaction."""
        with self.transaction() as writer:
            for table, row in rows:
                writer.write(table, row)
            fault_point("unit-in-transaction")
            writer.record(key, module, name, run_id)
        fault_point("unit-after-commit")

    # --- runs --------------------------------------------------------------------------------------
    def start_run(self, run_id: str, modules: Sequence[str]) -> list[str]:
        """Open this run's row; first end as Interrupted every row a killed run left open. The caller holds
        the target's run lock. Returns the ids of the runs ended so."""
        assert self.db is not None
        try:
            interrupted = self._end_abandoned_runs()
            with transaction(self.db) as cur:
                upsert(cur, t.RUN, {"RunId": run_id, "StartedOn": now_iso(), "Modules": ",".join(modules)},
                       self.db.dialect)
        except Exception as exc:
            raise self._error(exc) from None
        return interrupted

    def end_run(self, run_id: str, status: str) -> None:
        assert self.db is not None and status in RUN_STATUSES
        try:
            with transaction(self.db) as cur:
                cur.execute(statement("end_run", self.db.dialect, table=t.RUN.name), (now_iso(), status, run_id))
        except Exception as exc:
            raise self._error(exc) from None

    def stop_run(self, run_id: str, status: str, by: str | None, error_id: str | None) -> None:
        """A run that stopped before its end: its status, and who or what stopped it."""
        assert self.db is not None and status in RUN_STATUSES
        with transaction(self.db) as cur:
            cur.execute(statement("end_run", self.db.dialect, table=t.RUN.name), (now_iso(), status, run_id))
            upsert(cur, t.RUN_STOP, {"RunId": run_id, "StoppedOn": now_iso(), "Status": status, "StoppedBy": by,
                                     "ErrorId": error_id}, self.db.dialect)

    def _end_abandoned_runs(self) -> list[str]:
        assert self.db is not None
        if not self.db.has_table(t.RUN.name):
            return []
        open_runs = [row[0] for row in
                     self.db.execute(statement("select_open_runs", self.db.dialect, table=t.RUN.name)).fetchall()]
        if not open_runs:
            return []
        with transaction(self.db) as cur:
            for run_id in open_runs:
                cur.execute(statement("end_run", self.db.dialect, table=t.RUN.name),
                            (now_iso(), "Interrupted", run_id))
                upsert(cur, t.RUN_STOP, {"RunId": run_id, "StoppedOn": now_iso(), "Status": "Interrupted",
                                         "StoppedBy": "the process ended without closing the run (found by the "
                                                      "next run)", "ErrorId": None}, self.db.dialect)
        return open_runs

    def _error(self, exc: Exception) -> Exception:
        return self._on_error(exc) if self._on_error is not None else exc


class LedgerWriter:
    """Writes inside one ledger transaction (``Ledger.transaction``)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self.cursor = cursor
        self.dialect = dialect

    def write(self, table: Table, row: dict[str, Any]) -> None:
        upsert(self.cursor, table, row, self.dialect)  # a unit written again leaves one row

    def insert_many(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows that cannot exist yet (a History batch after its resume point), in the table's column order."""
        self.cursor.executemany(insert(table.name, table.column_names, self.dialect), rows)

    def record(self, key: str, module: str, name: str, run_id: str) -> None:
        """A unit's ledger row: the one way it is written."""
        upsert(self.cursor, t.LEDGER, {"UnitKey": key, "Module": module, "Name": name, "RunId": run_id,
                                       "CompletedOn": now_iso()}, self.dialect)


def _like_prefix(prefix: str) -> str:
    # "_" in a prefix matches any one character: the match is a superset, which callers filter exactly.
    return prefix + "%"
