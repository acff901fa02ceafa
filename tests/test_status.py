"""``groupid-upgrade status`` on a fresh, a half-done, a cancelled, a failed and a finished target (SQLite),
and ``plan`` marking what the ledger already holds (issue 18)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import helpers
from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.errors import Cancelled
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.upgrade.run_method import run_upgrade

pytest_plugins = ["helpers"]

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "schemas" / "cli.status.schema.json")
                    .read_text(encoding="utf-8"))


def status(sample: helpers.Sample, log_dir: Path) -> dict[str, Any]:
    done = helpers.run_cli("status", "--answer-file", sample.answer_file, "--json", log_dir=log_dir)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    text = helpers.run_cli("status", "--answer-file", sample.answer_file, log_dir=log_dir)
    assert text.returncode == 0 and "Traceback" not in text.stderr
    data["text"] = text.stdout
    return data


def totals(data: dict[str, Any], module: str | None = None) -> dict[str, int]:
    rows = [u for u in data["units"] if module is None or u["module"] == module]
    return {k: sum(u[k] for u in rows) for k in ("done", "failed", "pending")}


def ledger_units(sample: helpers.Sample) -> set[str]:
    with sqlite3.connect(sample.root / "target" / "GroupID11.db") as conn:
        return {r[0] for r in conn.execute("SELECT UnitKey FROM Upg_Ledger") if "/batch:" not in r[0]}


def test_status_of_a_fresh_target(sample_copy: helpers.Sample, engine_log_dir: Path) -> None:
    data = status(sample_copy, engine_log_dir)
    assert data["exists"] is False and data["runs"] == [] and data["lastErrors"] == [] and data["outbox"] == []
    all_units = totals(data)
    assert all_units["done"] == 0 and all_units["failed"] == 0 and all_units["pending"] > 20
    assert "No run has written this target yet." in data["text"]
    assert not (sample_copy.root / "target" / "GroupID11.db").exists()  # status writes nothing


def test_status_of_a_half_done_target_and_plan_already_done(sample_copy: helpers.Sample,
                                                            engine_log_dir: Path) -> None:
    fresh = totals(status(sample_copy, engine_log_dir), "Configuration")
    run = helpers.run_cli("run", "--answer-file", sample_copy.answer_file, "--module", "Configuration",
                          log_dir=engine_log_dir)
    assert run.returncode == 0, run.stderr
    data = status(sample_copy, engine_log_dir)
    assert data["exists"] is True
    [only] = data["runs"]
    assert only["status"] == "Succeeded" and only["modules"] == ["Configuration"] and only["finishedOn"]
    assert totals(data, "Configuration") == {"done": fresh["pending"], "failed": 0, "pending": 0}
    assert totals(data, "Synchronize")["done"] == 0 and totals(data, "Synchronize")["pending"] > 0
    done_kinds = {u["kind"] for u in data["units"] if u["module"] == "Configuration" and u["done"]}
    assert {"store", "setting", "datasource"} <= done_kinds  # per unit kind
    assert "Succeeded" in data["text"] and "Configuration" in data["text"]

    plan = helpers.run_cli("plan", "--answer-file", sample_copy.answer_file, "--json", log_dir=engine_log_dir)
    assert plan.returncode == 0, plan.stderr
    items = json.loads(plan.stdout)["items"]
    marked = [i for i in items if i.get("alreadyDone")]
    assert marked and all(i["module"] == "Configuration" for i in marked)
    assert len(marked) == len([u for u in ledger_units(sample_copy)])  # every unit done has its item marked
    assert not any(i.get("alreadyDone") for i in items if i["action"] == "skip")
    text = helpers.run_cli("plan", "--answer-file", sample_copy.answer_file, log_dir=engine_log_dir).stdout
    assert f"({len(marked)} already done in the target)" in text
    assert sum(1 for line in text.splitlines() if line.startswith("  [Configuration] already done")) == len(marked)


class CancelAt(CollectingReporter):
    """Cancels (as a client would) when the run reaches its ``n``-th unit."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def emit_progress(self, payload: dict[str, Any]) -> None:
        super().emit_progress(payload)
        if payload["activityId"] == "upgrade" and payload["current"] >= self.n:
            self.cancel(by="the test's client ($/cancelRequest)")


def test_status_of_a_cancelled_target(sample_copy: helpers.Sample, engine_log_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUPID_UPGRADE_LOG_DIR", str(engine_log_dir))
    from groupid_upgrade import reporting

    monkeypatch.setattr(reporting, "PROGRESS_INTERVAL_SECONDS", 0.0)  # every unit reports, so the cancel lands
    answers = load_answer_file(sample_copy.answer_file)
    with pytest.raises(Cancelled):
        run_upgrade(answers, CancelAt(25))
    data = status(sample_copy, engine_log_dir)
    [run] = data["runs"]
    assert run["status"] == "Cancelled" and run["stoppedBy"] == "the test's client ($/cancelRequest)"
    assert run["finishedOn"]
    all_units = totals(data)
    assert 20 <= all_units["done"] <= 26 and all_units["pending"] > 0 and all_units["failed"] == 0
    assert all_units["done"] == len(ledger_units(sample_copy))
    assert "Cancelled" in data["text"] and "the test's client" in data["text"]


def test_status_of_a_target_with_failed_units(faults_sample: helpers.Sample, engine_log_dir: Path,
                                              tmp_path: Path) -> None:
    sample = helpers.Sample(helpers.copy_sample(faults_sample.root, tmp_path / "faults"))
    run = helpers.run_cli("run", "--answer-file", sample.answer_file, "--json", log_dir=engine_log_dir)
    result = json.loads(run.stdout)
    failed_modules = {m["module"]: m for m in result["modules"] if m["failed"]}
    assert failed_modules, result
    data = status(sample, engine_log_dir)
    assert data["runs"][0]["status"] == result["status"]
    for module, outcome in failed_modules.items():
        # the faults sample's failures are all planned units (a store, two job files)
        assert totals(data, module)["failed"] == len(outcome["failures"]) == outcome["failed"]
        last = next(e for e in data["lastErrors"] if e["module"] == module)
        assert last["errorId"] == outcome["failures"][-1]["error"]["data"]["errorId"]
        assert last["message"] == outcome["failures"][-1]["error"]["message"]
    assert "Last error per module" in data["text"]


def test_status_of_a_finished_target(sample_copy: helpers.Sample, engine_log_dir: Path) -> None:
    for _ in range(2):
        run = helpers.run_cli("run", "--answer-file", sample_copy.answer_file, log_dir=engine_log_dir)
        assert run.returncode == 0, run.stderr
    data = status(sample_copy, engine_log_dir)
    assert [r["status"] for r in data["runs"]] == ["Succeeded", "Succeeded"]
    assert data["runs"][0]["startedOn"] <= data["runs"][1]["startedOn"]
    all_units = totals(data)
    assert all_units["pending"] == 0 and all_units["failed"] == 0
    assert all_units["done"] == len(ledger_units(sample_copy))
    history_rows = sample_copy.query("SELECT COUNT(*) FROM Hist_History")[0][0]
    assert 0 < sum(o["documents"] for o in data["outbox"]) <= history_rows  # no Elasticsearch: they wait
    assert data["lastErrors"] == []
    assert "document(s) waiting for Elasticsearch" in data["text"]
