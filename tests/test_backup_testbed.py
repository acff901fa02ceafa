"""Backup sets with the servers (issue 7; R17, R18, R19): the full sample with its Elasticsearch (a
snapshot into an ``fs`` repository, copied into the set) and its group attributes (LDIF over LDAPS
from the Samba test bed), verified, then restored under an empty ``--to`` root and into the servers.

Each test uses its own OU in corp.example.com, its own index prefix and its own snapshot repository,
and removes them afterwards; the shared seeded groups are never written (restore is limited to the
test's OU with ``--container``).
"""

from __future__ import annotations

import json
import shutil
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import pytest

import helpers
from groupid_upgrade.backup.ldif_part import read_ldif
from groupid_upgrade.storage.directory import GROUPID_ATTRIBUTES
from groupid_upgrade.storage.search import SearchClient
from support import leaks, trees
from test_backup import FOLDER_PART_ROOTS, cli, dump_tables, verify
from testbed.fixtures_es import EsNode

pytest_plugins = ["helpers"]
pytestmark = pytest.mark.testbed

GROUPS = 4


def _admin(env: dict[str, str]) -> ldap3.Connection:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=env["LDAP_CA_FILE"])
    server = ldap3.Server(env["LDAP_ADDRESS"], port=636, use_ssl=True, tls=tls)
    password = Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()
    return ldap3.Connection(server, env["LDAP_BIND_DN"], password, auto_bind=True)


@dataclass
class Ou:
    dn: str
    groups: list[str]


def _attributes(conn: ldap3.Connection, dn: str) -> dict[str, list[bytes]]:
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(GROUPID_ATTRIBUTES))
    raw = conn.response[0]["raw_attributes"]
    return {a: sorted(bytes(v) for v in raw.get(a, [])) for a in GROUPID_ATTRIBUTES}


@pytest.fixture
def ou(samba_corp: dict[str, str]) -> Iterator[Ou]:
    """A new OU of corp.example.com with GroupID groups (binary extensionData, non-ASCII values)."""
    dn = f"OU=Backup Test {uuid.uuid4().hex[:8]},{samba_corp['LDAP_BASE_DN']}"
    conn = _admin(samba_corp)
    groups = []
    try:
        assert conn.add(dn, ["top", "organizationalUnit"]), conn.result
        for i in range(GROUPS):
            group = f"CN=Backup SG {i} Zoë,{dn}"
            attrs: dict[str, Any] = {"sAMAccountName": f"bk-{uuid.uuid4().hex[:12]}",
                                     "extensionAttribute12": "SmartGroup", "extensionAttribute15": "10.0"}
            if i % 2 == 0:
                attrs["extensionData"] = [b"GID\x01\x01" + f"<Query>{i} é</Query>".encode("utf-16-le"),
                                          bytes(range(256))]
                attrs["extensionAttribute13"] = "Never"
            assert conn.add(group, ["top", "group"], attrs), conn.result
            groups.append(group)
        yield Ou(dn, groups)
    finally:
        for group in groups:
            conn.delete(group)
        conn.delete(dn)
        conn.unbind()


@dataclass
class Search:
    client: SearchClient
    prefix: str
    repository: str
    location: Path


@pytest.fixture
def search(es_node: EsNode) -> Iterator[Search]:
    tag = uuid.uuid4().hex[:8]
    client = SearchClient(es_node.url, request_timeout=60)
    s = Search(client, f"bk-{tag}-", f"bk-repo-{tag}", es_node.repo_path / f"bk-{tag}")
    try:
        for name, docs in (("replica", 300), ("history", 120)):
            index = f"{s.prefix}{name}"
            client.ensure_index(index, settings={"number_of_shards": 1, "number_of_replicas": 0})
            failed = [i for ok, i in client.bulk_index(
                {"_index": index, "_id": f"d{n}", "n": n, "text": f"doc {n} ü"} for n in range(docs)) if not ok]
            assert not failed
            client.refresh(index)
        yield s
    finally:
        for name in ("replica", "history"):
            client.delete_index(f"{s.prefix}{name}")
        for snap in (client.list_snapshots(s.repository) if client.get_repository(s.repository) else []):
            client.delete_snapshot(s.repository, snap["snapshot"])
        if client.get_repository(s.repository):
            client.client.snapshot.delete_repository(name=s.repository)
        shutil.rmtree(s.location, ignore_errors=True)
        client.close()


def answers_with_servers(sample: helpers.Sample, env: dict[str, str], search: Search,
                         *more: dict[str, str]) -> Path:
    """The sample's answer file with its Elasticsearch and the directories of ``env`` (+ ``more``)."""
    data = sample.answers
    data["source"]["elasticsearch"] = {
        "url": search.client.url, "indexPrefix": search.prefix, "snapshotRepository": search.repository,
        "snapshotLocation": str(search.location), "snapshotLocalPath": str(search.location)}
    data["directories"] = {e["LDAP_DOMAIN"]: {"url": e["LDAP_URL"], "caFile": e["LDAP_CA_FILE"],
                                              "credential": {"userName": e["LDAP_BIND_DN"]}} for e in (env, *more)}
    secrets = sample.secrets
    secrets["directories"] = {e["LDAP_DOMAIN"]: {"credential": {
        "password": Path(e["LDAP_PASSWORD_FILE"]).read_text().strip()}} for e in (env, *more)}
    secrets_path = sample.root / "secrets-servers.json"
    helpers.write_json(secrets_path, secrets)
    secrets_path.chmod(0o600)
    data["secretsFile"] = secrets_path.name
    return sample.write_answers(data, "answers-servers.json")


def counts(search: Search) -> dict[str, int]:
    out = {}
    for name in ("replica", "history"):
        index = f"{search.prefix}{name}"
        search.client.refresh(index)
        out[index] = search.client.count(index)
    return out


def test_full_backup_verify_and_restore_under_a_root_and_into_the_servers(
        sample_copy: helpers.Sample, samba_corp: dict[str, str], samba_fabrikam: dict[str, str], ou: Ou,
        search: Search, tmp_path: Path, engine_log_dir: Path) -> None:
    answer_file = answers_with_servers(sample_copy, samba_corp, search, samba_fabrikam)
    conn = _admin(samba_corp)
    try:
        before_groups = {dn: _attributes(conn, dn) for dn in ou.groups}
        before_counts = counts(search)
        set_dir = tmp_path / "set"
        done = cli("backup", "--answer-file", answer_file, "--destination", set_dir, "--json", log_dir=engine_log_dir)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        manifest = json.loads(done.stdout)["manifest"]
        assert [p["name"] for p in manifest["parts"]] == ["Database", "Elasticsearch", "GroupAttributes",
                                                          *FOLDER_PART_ROOTS]
        assert manifest["leftOut"] == []
        es = next(p for p in manifest["parts"] if p["name"] == "Elasticsearch")["elasticsearch"]
        assert es["state"] == "SUCCESS" and es["repository"] == search.repository
        assert es["documentCounts"] == before_counts and sorted(es["indices"]) == sorted(before_counts)
        assert es["copiedInto"] == "Elasticsearch/repository" and es["serverVersion"].startswith("8.")
        assert any(f["path"].startswith("Elasticsearch/repository/") for f in manifest["files"])
        ldif = next(p for p in manifest["parts"] if p["name"] == "GroupAttributes")["groupAttributes"]["files"]
        # one LDIF per directory domain of the answer file, each with every GroupID group of the domain
        assert [f["domain"] for f in ldif] == ["corp.example.com", "fabrikam.example.com"]
        assert ldif[0]["entries"] >= GROUPS + 16 and ldif[1]["entries"] >= 16
        assert ldif[0]["filter"].count("(") == ldif[0]["filter"].count(")")  # the corrected filter (R17)
        exported = {dn.lower(): attrs for dn, attrs in read_ldif(set_dir / ldif[0]["file"])}
        for dn in ou.groups:
            attrs = exported[dn.lower()]
            assert {a: sorted(v) for a, v in attrs.items() if a in GROUPID_ATTRIBUTES} == {
                a: v for a, v in before_groups[dn].items() if v}
            assert set(attrs) >= {"objectGUID", "whenChanged"}

        code, report = verify(set_dir, engine_log_dir)
        assert code == 0 and report["ok"], report["problems"]
        leaks.assert_no_leaks({**leaks.sample_secrets(sample_copy.root), **{
            f"{e['LDAP_DOMAIN']} admin password": Path(e["LDAP_PASSWORD_FILE"]).read_text().strip()
            for e in (samba_corp, samba_fabrikam)}}, paths=[set_dir])

        # change everything after the backup: the groups' attributes, the indices
        for i, dn in enumerate(ou.groups):
            changes = {"extensionAttribute12": [(ldap3.MODIFY_REPLACE, ["Changed after backup"])]}
            if i % 2 == 0:
                changes["extensionData"] = [(ldap3.MODIFY_REPLACE, [b"\x00new definition"])]
            else:
                changes["extensionAttribute14"] = [(ldap3.MODIFY_REPLACE, ["2030-01-01T00:00:00Z"])]
            assert conn.modify(dn, changes), conn.result
        changed_groups = {dn: _attributes(conn, dn) for dn in ou.groups}
        assert changed_groups != before_groups
        list(search.client.bulk_index({"_index": f"{search.prefix}replica", "_id": f"new{n}", "n": n}
                                      for n in range(50)))
        search.client.delete_index(f"{search.prefix}history")
        root = tmp_path / "root"
        args = ("restore", set_dir, "--answer-file", answer_file, "--include", "All", "--to", root,
                "--container", ou.dn, "--json")

        # R18: newer groups and an existing index are not overwritten without --force; nothing is written
        refused = cli(*args, log_dir=engine_log_dir)
        assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
        error = json.loads(refused.stdout)["error"]
        assert error["data"]["errorId"] == "RestoreWouldOverwrite"
        conflicts = error["data"]["conflicts"]
        assert sum("changed after the set was made" in c for c in conflicts) == GROUPS
        assert any(f"{search.prefix}replica" in c for c in conflicts)
        assert not root.exists()
        assert {dn: _attributes(conn, dn) for dn in ou.groups} == changed_groups

        done = cli(*args, "--force", log_dir=engine_log_dir)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        restored = {p["part"]: p for p in json.loads(done.stdout)["parts"]}
        assert restored["GroupAttributes"]["written"] == GROUPS
        # database rows, index counts, group attributes and folder hashes all equal the source at backup time
        assert dump_tables(root / "Database" / sample_copy.database.name) == dump_tables(sample_copy.database)
        assert counts(search) == before_counts
        assert {dn: _attributes(conn, dn) for dn in ou.groups} == before_groups
        for part, roots in FOLDER_PART_ROOTS.items():
            for root_attr, rel in roots:
                folder = root / ("Program Files" if root_attr == "program_files" else "ProgramData") / rel
                assert trees.contents(folder) == trees.contents(getattr(sample_copy, root_attr) / rel), part
        # and again: everything is as in the set, nothing is written
        again = cli(*args, log_dir=engine_log_dir)
        assert again.returncode == 1  # the restored indices exist: Elasticsearch is never compared
        done = cli("restore", set_dir, "--answer-file", answer_file, "--include", "GroupAttributes",
                   "--include", "Reports", "--to", root, "--container", ou.dn, "--json", log_dir=engine_log_dir)
        assert done.returncode == 0, done.stderr[-2000:]
        assert {p["part"]: p["status"] for p in json.loads(done.stdout)["parts"]} == {
            "GroupAttributes": "Unchanged", "Reports": "Unchanged"}
    finally:
        conn.unbind()


def test_verify_catches_a_deleted_snapshot(sample_copy: helpers.Sample, samba_corp: dict[str, str], search: Search,
                                           tmp_path: Path, engine_log_dir: Path) -> None:
    answer_file = answers_with_servers(sample_copy, samba_corp, search)
    set_dir = tmp_path / "set"
    done = cli("backup", "--answer-file", answer_file, "--destination", set_dir, "--include", "Elasticsearch",
               "--json", log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    es = json.loads(done.stdout)["manifest"]["parts"][0]["elasticsearch"]
    assert verify(set_dir, engine_log_dir)[0] == 0
    assert search.client.delete_snapshot(search.repository, es["snapshot"]) is True
    code, report = verify(set_dir, engine_log_dir)
    assert code == 4
    assert [p["part"] for p in report["problems"]] == ["Elasticsearch"]
    assert es["snapshot"] in report["problems"][0]["problem"] and "no longer exists" in report["problems"][0]["problem"]

    # the set holds a copy of the repository: restore puts it back beside the original, read-only, and
    # restores from it; then forgets it again
    before = es["documentCounts"]
    search.client.delete_index(f"{search.prefix}history")
    list(search.client.bulk_index({"_index": f"{search.prefix}replica", "_id": f"x{n}", "n": n} for n in range(7)))
    done = cli("restore", set_dir, "--answer-file", answer_file, "--include", "Elasticsearch", "--force", "--json",
               log_dir=engine_log_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    notes = json.loads(done.stdout)["parts"][0]["notes"]
    assert any("set's copy of the repository" in n for n in notes), notes
    assert counts(search) == before
    assert [n for n in search.client.client.snapshot.get_repository(name="*").body if n.startswith(
        f"{search.repository}-restore")] == []
    assert not list(search.location.parent.glob(f"{search.location.name}-restore-*"))


def test_a_data_folder_copy_is_refused_while_a_node_answers(sample_copy: helpers.Sample, samba_corp: dict[str, str],
                                                            search: Search, tmp_path: Path,
                                                            engine_log_dir: Path) -> None:
    answer_file = answers_with_servers(sample_copy, samba_corp, search)
    done = cli("backup", "--answer-file", answer_file, "--destination", tmp_path / "set", "--include",
               "Elasticsearch", "--elasticsearch-stopped", log_dir=engine_log_dir)
    assert done.returncode == 1
    assert search.client.url in done.stderr and "not a backup" in done.stderr
    assert not (tmp_path / "set").exists()


def test_a_snapshot_location_outside_path_repo_is_a_clear_error(sample_copy: helpers.Sample,
                                                                samba_corp: dict[str, str], search: Search,
                                                                tmp_path: Path, engine_log_dir: Path) -> None:
    data = helpers.load_json(answers_with_servers(sample_copy, samba_corp, search))
    data["source"]["elasticsearch"]["snapshotLocation"] = str(tmp_path / "not-under-path-repo")
    answer_file = sample_copy.write_answers(data, "answers-bad-repo.json")
    done = cli("backup", "--answer-file", answer_file, "--destination", tmp_path / "set", "--include",
               "Elasticsearch", log_dir=engine_log_dir)
    assert done.returncode == 1
    assert "path.repo" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "set").exists()


def _rewrite(set_dir: Path, rel: str, data: bytes) -> None:
    """Replace a file of the set and its manifest entry, so that only the part check can notice."""
    import hashlib

    (set_dir / rel).write_bytes(data)
    manifest = helpers.load_json(set_dir / "manifest.json")
    entry = next(f for f in manifest["files"] if f["path"] == rel)
    entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    helpers.write_json(set_dir / "manifest.json", manifest)


def test_verify_checks_that_each_ldif_parses_and_holds_the_counted_entries(
        sample_copy: helpers.Sample, samba_corp: dict[str, str], search: Search, tmp_path: Path,
        engine_log_dir: Path) -> None:
    data = helpers.load_json(answers_with_servers(sample_copy, samba_corp, search))
    answer_file = sample_copy.write_answers(data, "answers-ldif.json")
    set_dir = tmp_path / "set"
    done = cli("backup", "--answer-file", answer_file, "--destination", set_dir, "--include", "GroupAttributes",
               "--json", log_dir=engine_log_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    rel = json.loads(done.stdout)["manifest"]["parts"][0]["groupAttributes"]["files"][0]["file"]
    text = (set_dir / rel).read_bytes()
    records = text.split(b"\n\n")
    _rewrite(set_dir, rel, b"\n\n".join(records[1:]))  # one entry fewer
    code, report = verify(set_dir, engine_log_dir)
    assert code == 4 and [p["path"] for p in report["problems"]] == [rel]
    assert "entries" in report["problems"][0]["problem"]
    _rewrite(set_dir, rel, text.replace(b"dn:", b"dn;", 1))  # not LDIF any more
    code, report = verify(set_dir, engine_log_dir)
    assert code == 4 and [p["path"] for p in report["problems"]] == [rel]
    assert "does not parse" in report["problems"][0]["problem"]
