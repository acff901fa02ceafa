"""The two run-log events that need servers (docs/logs.md): ``groups-finished`` (the Groups module against the
test bed's Samba DCs) and ``outbox-drained`` (history kept without Elasticsearch, sent by a later run with it).
Needs the test bed (Samba, Elasticsearch)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.reporting import CollectingReporter
from groupid_upgrade.run_log import RUN_LOG_NAME
from groupid_upgrade.storage.search import SearchClient
from groupid_upgrade.upgrade.run_method import run_upgrade
from test_groups import envs, prepared_sample, restore_seeded_groups  # noqa: F401 - fixtures used below
from test_run_log import parse

pytestmark = pytest.mark.testbed


# The Groups module upgrades the seeded groups; later tests read them as seeded, so they are put back.
@pytest.mark.usefixtures("restore_seeded_groups")
def test_groups_finished_and_outbox_drained_are_logged(samba_corp: dict[str, str], samba_fabrikam: dict[str, str],
                                                       es_node: object, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROUPID_UPGRADE_LOG_DIR", str(tmp_path / "engine-logs"))
    answer_file = prepared_sample(tmp_path / "sample", {"corp": samba_corp, "fabrikam": samba_fabrikam}, None)
    first = run_upgrade(load_answer_file(answer_file), CollectingReporter())  # no Elasticsearch: the outbox fills
    assert {m.module: m.status for m in first.modules}["Groups"] != "Skipped", first.wire()
    prefix = f"rl{uuid.uuid4().hex[:8]}"
    data = json.loads(answer_file.read_text())
    data["target"]["elasticsearch"] = {"url": es_node.url, "indexPrefix": prefix}  # type: ignore[attr-defined]
    answer_file.write_text(json.dumps(data, indent=2))
    try:
        run_upgrade(load_answer_file(answer_file, overrides={"modules": ["Configuration", "History"]}),
                    CollectingReporter())
    finally:
        with SearchClient(es_node.url) as client:  # type: ignore[attr-defined]
            for index in client.client.indices.get(index=f"{prefix}*").body:
                client.delete_index(index)
    log = Path(first.log_path)
    assert log.name == RUN_LOG_NAME
    entries = parse(log)
    groups = [e for e in entries if e["event"] == "groups-finished"]
    assert len(groups) == 1 and groups[0]["upgraded"] > 0
    drained = [e for e in entries if e["event"] == "outbox-drained"]
    assert len(drained) == 1 and drained[0]["documents"] > 0
    assert drained[0]["runId"] != groups[0]["runId"]
