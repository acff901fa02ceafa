"""The crash matrix's Groups and backup rows (issue #9; R13, R15, R17).

Groups: ``group.upgrade`` (the CLI ``group``, whatIf false) on an OU of the test's own on the corp DC,
groups of every type plus Smart Groups, their documents into Elasticsearch, is SIGKILLed at a seeded
point (``groups-group-written:<n>`` between two groups' modifies, ``groups-after-directory``,
``groups-in-transaction``), run again, and compared with an uninterrupted run on an OU built the same
way: the GroupID attributes of every group (the LDIF of the upgraded groups), the target's ``Gid_Group``
rows and ledger entries, and the group index (count and ids), with the OU's own DN, objectGUIDs and
sAMAccountNames mapped to the group names. Each point's OU is deleted afterwards.

Backup: ``backup`` of a sample is SIGKILLed at a seeded point (``backup-file-copied:<n>``,
``backup-before-manifest``, ``backup-before-zip-rename`` with ``--zip``); the killed destination holds
no set verify accepts, and the next run's set verifies and lists the same files (path, size, SHA-256)
and the same database row counts as an uninterrupted run. The source's checksums never change.

Each row always includes its points that happen once per run (after the directory writes, in the target
transaction; before the manifest, before the zip's rename); the rest are drawn with the crash matrix's
seed (``GROUPID_CRASH_SEED`` replays them).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import pytest
import reliability_figures

import helpers
from groupid_upgrade.groups.conversion import decode_eleven, guid_text
from groupid_upgrade.model.installation import GroupType
from groupid_upgrade.source.group_definition import GroupDefinition, encode
from groupid_upgrade.storage.search import SearchClient
from support import trees
from test_groups import CORP_BASE, FIRST_RUN_MODULES, GID_ATTRS, admin, definitions, prepared_sample

pytestmark = pytest.mark.testbed

GROUPS_CI_POINTS = 8
BACKUP_CI_POINTS = 7
EXTRA_SMART_GROUPS = 8  # besides one group of every type (6): 14 groups, 12 written (the chain's 3 as one parent)
STORE_CORP = 5


# --- Groups ---------------------------------------------------------------------------------------------
@dataclass
class GroupsBed:
    answer_file: Path
    prefix: str
    conn: ldap3.Connection
    target_db: Path


@pytest.fixture(scope="module")
def groups_bed(samba_corp: dict[str, str], samba_fabrikam: dict[str, str], es_node: Any,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[GroupsBed]:
    root = tmp_path_factory.mktemp("crash-groups") / "sample"
    answer_file = prepared_sample(root, {"corp": samba_corp, "fabrikam": samba_fabrikam}, FIRST_RUN_MODULES)
    prefix = f"relcrash-grp-{uuid.uuid4().hex[:8]}"
    data = json.loads(answer_file.read_text())
    data["target"]["elasticsearch"] = {"url": es_node.url, "indexPrefix": prefix}
    answer_file.write_text(json.dumps(data))
    conn = admin(samba_corp)
    try:
        yield GroupsBed(answer_file, prefix, conn, root / "target" / "GroupID11.db")
    finally:
        conn.unbind()
        with SearchClient(es_node.url) as search:
            search.delete_index(f"{prefix}-groups-{STORE_CORP}")


def make_groups_ou(conn: ldap3.Connection) -> tuple[str, str]:
    """An OU of one group of every type and EXTRA_SMART_GROUPS Smart Groups; (its DN, its tag)."""
    tag = uuid.uuid4().hex[:8]
    ou = f"OU=rel-crash-{tag},{CORP_BASE}"
    assert conn.add(ou, ["top", "organizationalUnit"]), conn.result
    defs: dict[str, GroupDefinition | None] = dict(definitions(ou))
    for i in range(EXTRA_SMART_GROUPS):
        defs[f"SX-{i:02d}"] = GroupDefinition(GroupType.SMART_GROUP, ["user"], f'(department Equals "D{i}")',
                                              f"OU=Staff,{CORP_BASE}", expiry_days=[None, 30, 90][i % 3],
                                              version="10.0")
    for name, defn in defs.items():
        attrs: dict[str, Any] = {"sAMAccountName": f"rc{tag}{name}", "description": name}
        if defn is not None:
            attrs.update(encode(defn))
        assert conn.add(f"CN={name},{ou}", ["top", "group"], attrs), conn.result
    return ou, tag


def drop_groups_ou(conn: ldap3.Connection, ou: str) -> None:
    conn.search(ou, "(objectClass=*)", ldap3.SUBTREE, attributes=[])
    for dn in sorted((e["dn"] for e in conn.response if e.get("type") == "searchResEntry"), key=len, reverse=True):
        conn.delete(dn)


def group_state(bed: GroupsBed, ou: str, tag: str, search: SearchClient) -> dict[str, Any]:
    """The OU's groups as the directory, the target and the index hold them, names in place of ids."""
    bed.conn.search(ou, "(objectClass=group)", ldap3.SUBTREE, attributes=[*GID_ATTRS, "objectGUID", "cn"])
    entries = [e for e in bed.conn.response if e.get("type") == "searchResEntry"]
    names = {guid_text(e["raw_attributes"]["objectGUID"][0]): e["raw_attributes"]["cn"][0].decode() for e in entries}

    def norm(text: Any) -> Any:
        text = json.dumps(text, sort_keys=True) if not isinstance(text, str) else text
        text = text.replace(ou, "<OU>").replace(f"rc{tag}", "<SAM>")
        for guid, name in names.items():
            text = re.sub(re.escape(guid), f"<{name}>", text, flags=re.IGNORECASE)
        return text

    ldif: dict[str, Any] = {}
    for e in entries:
        raw = {k.lower(): v for k, v in e["raw_attributes"].items() if v}
        attrs: dict[str, Any] = {k: sorted(v.decode() for v in raw.get(k.lower(), [])) for k in GID_ATTRS
                                 if k != "extensionData"}
        eleven = decode_eleven(raw.get("extensiondata", []))
        attrs["extensionData"] = norm(eleven) if eleven is not None else [v.hex() for v in raw.get("extensiondata", [])]
        ldif[raw["cn"][0].decode()] = attrs
    guids = set(names)
    conn = sqlite3.connect(bed.target_db)
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(Gid_Group)") if r[1] != "UpgradedOn"]
        rows = sorted(norm(dict(zip(cols, r, strict=True))) for r in conn.execute(
            f"SELECT {', '.join(cols)} FROM Gid_Group") if r[cols.index("ObjectGuid")] in guids)
        ledger = sorted(norm(r[0]) for r in conn.execute("SELECT UnitKey FROM Upg_Ledger WHERE Module = 'Groups'")
                        if r[0].rpartition(":")[2] in guids)
    finally:
        conn.close()
    index = f"{bed.prefix}-groups-{STORE_CORP}"
    search.refresh(index)
    found = search.client.search(index=index, query={"terms": {"_id": sorted(guids)}}, size=1000,
                                 source=["name", "groupType", "parentObjectGuid"])["hits"]["hits"]
    docs = sorted(norm({"id": h["_id"], **h["_source"]}) for h in found)
    return {"ldif": ldif, "rows": rows, "ledger": ledger, "index": docs, "indexCount": len(docs)}


def run_group(bed: GroupsBed, ou: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*helpers.ENGINE, "group", "--answer-file", str(bed.answer_file), "--search-container", ou,
                           "--json"], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env={**helpers.engine_env(bed.answer_file.parent / "logs"), **(env or {})})


@pytest.mark.timeout(1800)
def test_r15_groups_crash_points_resume_to_the_uninterrupted_directory_target_and_index(
        groups_bed: GroupsBed, es_node: Any) -> None:
    seed = reliability_figures.crash_seed()
    started = time.monotonic()
    with SearchClient(es_node.url) as search:
        ou, tag = make_groups_ou(groups_bed.conn)
        try:
            done = run_group(groups_bed, ou)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            result = json.loads(done.stdout)
            written = result["upgraded"]
            assert written == 6 + EXTRA_SMART_GROUPS and result["status"] == "Succeeded", result
            reference = group_state(groups_bed, ou, tag, search)
        finally:
            drop_groups_ou(groups_bed.conn, ou)
        assert reference["indexCount"] == written and len(reference["rows"]) == written
        # the two points of the batch always; the rest drawn among the points between two groups' modifies
        fixed = ["groups-after-directory:1", "groups-in-transaction:1"]
        candidates = [f"groups-group-written:{n}" for n in range(1, written + 1)]
        rng = random.Random(f"{seed}/groups")
        wanted = GROUPS_CI_POINTS * reliability_figures.crash_factor() - len(fixed)
        points = fixed + rng.sample(candidates, min(len(candidates), wanted))
        print(f"groups crash points: seed {seed}: {points}")
        failures: list[str] = []
        for point in points:
            ou, tag = make_groups_ou(groups_bed.conn)
            try:
                killed = run_group(groups_bed, ou, {"GROUPID_UPGRADE_KILL_AT": point})
                if killed.returncode != -signal.SIGKILL:
                    failures.append(f"{point}: not killed (exit {killed.returncode}) {killed.stderr[-500:]}")
                    continue
                resumed = run_group(groups_bed, ou)
                if resumed.returncode != 0 or json.loads(resumed.stdout).get("status") != "Succeeded":
                    failures.append(f"{point}: the next run ended {resumed.returncode}: {resumed.stdout[-800:]}"
                                    f"{resumed.stderr[-800:]}")
                    continue
                state = group_state(groups_bed, ou, tag, search)
                differ = [k for k in reference if state[k] != reference[k]]
                if differ:
                    detail = {k: ([x for x in state[k] if x not in reference[k]], "instead of",
                                  [x for x in reference[k] if x not in state[k]]) if isinstance(state[k], list)
                              else state[k] for k in differ}
                    failures.append(f"{point}: differs from the uninterrupted run in {differ}: {detail}"[:3000])
            finally:
                drop_groups_ou(groups_bed.conn, ou)
    reliability_figures.record_crash_outcome(
        "group.upgrade", seed=seed, points=[f"Groups {p}" for p in points], failures=failures, started=started,
        modules={"Groups": {"tried": len(points), "survived": len(points) - len(failures)}},
        note=f"{written} groups of every type in an OU of the test's own on the corp DC, documents into "
             "Elasticsearch; compared: GroupID attributes of every group, Gid_Group rows, ledger, index ids")


# --- backup ---------------------------------------------------------------------------------------------
def backup_cli(answer_file: Path, dest: Path, log_dir: Path, *extra: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*helpers.ENGINE, "backup", "--answer-file", str(answer_file), "--destination", str(dest),
                           "--json", *extra], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env={**helpers.engine_env(log_dir), **(env or {})})


def verifies(path: Path, log_dir: Path) -> bool:
    done = subprocess.run([*helpers.ENGINE, "verify", str(path), "--json"], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, env=helpers.engine_env(log_dir))
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.returncode == 0 and json.loads(done.stdout).get("ok") is True


def set_content(manifest: dict[str, Any]) -> dict[str, Any]:
    files = sorted((f["path"], f["size"], f["sha256"]) for f in manifest["files"])
    tables = [p["database"]["tables"] for p in manifest["parts"] if p.get("database")]
    return {"files": files, "tables": tables, "parts": [p["name"] for p in manifest["parts"]]}


@pytest.mark.timeout(1800)
def test_r15_backup_crash_points_leave_no_accepted_set_and_the_next_run_makes_the_same_set(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    seed = reliability_figures.crash_seed()
    started = time.monotonic()
    work = tmp_path_factory.mktemp("crash-backup")
    sample = helpers.make_sample(work / "sample")
    logs = work / "logs"
    answer_file = sample / "answers.json"
    source_before = trees.snapshot(sample / "source")
    done = backup_cli(answer_file, work / "reference", logs)
    assert done.returncode == 0, done.stderr[-2000:]
    reference = set_content(json.loads(done.stdout)["manifest"])
    copied = sum(1 for f in reference["files"] if not f[0].startswith("Database/"))
    # the manifest and zip points always; the rest drawn among the files copied
    fixed = ["backup-before-manifest:1", "backup-before-zip-rename:1"]
    candidates = [f"backup-file-copied:{n}" for n in range(1, copied + 1)]
    rng = random.Random(f"{seed}/backup")
    wanted = BACKUP_CI_POINTS * reliability_figures.crash_factor() - len(fixed)
    points = fixed + rng.sample(candidates, min(len(candidates), wanted))
    print(f"backup crash points: seed {seed}: {points}")
    failures: list[str] = []
    for i, point in enumerate(points):
        zip_it = point.startswith("backup-before-zip-rename")
        extra = ("--zip",) if zip_it else ()
        killed_dest = work / f"killed-{i}"
        killed = backup_cli(answer_file, killed_dest, logs, *extra, env={"GROUPID_UPGRADE_KILL_AT": point})
        if killed.returncode != -signal.SIGKILL:
            failures.append(f"{point}: not killed (exit {killed.returncode})")
            continue
        # what the kill left is no set verify accepts: no manifest in the folder, no zip
        claimed = Path(f"{killed_dest}.zip") if zip_it else killed_dest
        if claimed.exists() and verifies(claimed, logs):
            failures.append(f"{point}: the killed backup left a set verify accepts at {claimed}")
            continue
        if not zip_it and (killed_dest / "manifest.json").exists():
            failures.append(f"{point}: the killed backup left a manifest")
            continue
        # the same destination again is refused, naming it (a half set is never mixed into a new one)
        if not zip_it:
            again = backup_cli(answer_file, killed_dest, logs)
            if again.returncode != 1 or str(killed_dest) not in again.stderr or "Traceback" in again.stderr:
                failures.append(f"{point}: a re-run into the killed destination ended {again.returncode}: "
                                f"{again.stderr[-500:]}")
                continue
        rerun_dest = work / f"rerun-{i}"
        rerun = backup_cli(answer_file, rerun_dest, logs, *extra)
        if rerun.returncode != 0:
            failures.append(f"{point}: the next backup ended {rerun.returncode}: {rerun.stderr[-800:]}")
            continue
        made = Path(f"{rerun_dest}.zip") if zip_it else rerun_dest
        if not verifies(made, logs):
            failures.append(f"{point}: the next backup's set does not verify")
            continue
        content = set_content(json.loads(rerun.stdout)["manifest"])
        if content != reference:
            differ = [k for k in reference if content[k] != reference[k]]
            failures.append(f"{point}: the next set differs from the uninterrupted one in {differ}")
        if changed := trees.changes(source_before, trees.snapshot(sample / "source")):
            failures.append(f"{point}: the source changed (R4): {changed[:5]}")
        for leftover in (killed_dest, rerun_dest):
            shutil.rmtree(leftover, ignore_errors=True)
    reliability_figures.record_crash_outcome(
        "backup.create", seed=seed, points=[f"backup {p}" for p in points], failures=failures, started=started,
        modules={"backup": {"tried": len(points), "survived": len(points) - len(failures)}},
        note=f"the sample's database and folders ({len(reference['files'])} files); killed set refused by "
             "verify, the next set verifies and equals the uninterrupted one (paths, sizes, SHA-256, row counts)")
