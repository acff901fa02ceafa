"""The sample generator: deterministic per seed, every case the rules need, faults, refusals, no
half-written sample, and history streamed in bounded memory."""

from __future__ import annotations

import re
import sqlite3
import stat
import tracemalloc
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

import helpers
from groupid_upgrade.answerfile import contains_secrets, load_answer_file
from groupid_upgrade.errors import Cancelled, EngineError
from groupid_upgrade.reporting import CollectingReporter, Reporter
from groupid_upgrade.sample.generator import SampleGenerator, SampleSpec, generate_sample
from groupid_upgrade.upgrade.blueprint import compute_plan
from support import trees

pytest_plugins = ["helpers"]

DIRECTORY_PROVIDERS = {"ActiveDirectory", "MicrosoftAzure", "GenericLdap", "GoogleWorkspace"}
SMALL = {"history": 300, "groups": 16}


# --- reading a sample independently of the engine ----------------------------------------------------
def conn_parts(text: str) -> dict[str, str]:
    """A connection string's parts; good enough for the sample's (unquoted) strings."""
    return {
        k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in text.split(";") if "=" in p)
    }


def norm(domain: str | None) -> str | None:
    return domain.strip().rstrip(".").lower() if domain else None


def read_jobs(sample: helpers.Sample) -> dict[str, dict[str, Any]]:
    """Every job of Jobs/ and Group Jobs/ by id: name, destination provider and domain, collection."""
    jobs: dict[str, dict[str, Any]] = {}
    for folder in ("Jobs", "Group Jobs"):
        for path in helpers.dtmconfig_files(sample.jobs_folder, folder):
            root = ElementTree.fromstring(path.read_bytes())
            coll = root.find("JobCollection")
            for job in root.iter("Job"):
                dest = job.find("Destination")
                jobs[job.get("Id")] = {
                    "name": job.get("Name"),
                    "provider": dest.get("Provider"),
                    "domain": norm(conn_parts(dest.get("ConnectionString")).get("domain")),
                    "collection": coll.get("Id") if coll is not None else None,
                    "messaging": (
                        job.find("Messaging").get("Provider") if job.find("Messaging") is not None else None
                    ),
                }
    return jobs


def store_domains(sample: helpers.Sample, enabled: bool | None = None) -> dict[str, int]:
    sql = "SELECT DomainName, IdentityStoreId FROM Svc_IdentityStore"
    if enabled is not None:
        sql += f" WHERE IsEnabled = {int(enabled)}"
    return {norm(d): sid for d, sid in sample.query(sql)}


def db_dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, encrypted values and the passphrase salt masked (they are random)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    out = {}
    try:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            rows = []
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                masked = tuple("<enc>" if isinstance(v, str) and v.startswith("enc:v1:") else v for v in row)
                if table == "Svc_Setting" and row[0] == "PassphraseSalt":
                    masked = (row[0], "<salt>")
                rows.append(masked)
            out[table] = rows
    finally:
        conn.close()
    return out


def masked_dtmconfigs(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): re.sub(
            r"Password=enc:v1:[A-Za-z0-9+/=]+", "Password=<enc>", p.read_text(encoding="utf-8")
        )
        for p in helpers.dtmconfig_files(root)
    }


def comparable(root: Path) -> dict[str, Any]:
    sample = helpers.Sample(root)
    return {
        "db": db_dump(sample.database),
        "ldif": {p.name: p.read_bytes() for p in sorted((root / "directory").glob("*.ldif"))},
        "dtmconfig": masked_dtmconfigs(sample.jobs_folder),
        "answers": sample.answers,
        "secrets": sample.secrets,
        "manifest": sample.manifest,
        "files": sorted(k for k in trees.contents(root) if not k.startswith("certs/")),
    }


# --- determinism -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("seeds")
    return {
        name: comparable(helpers.make_sample(base / name, seed=seed, **SMALL))
        for name, seed in (("a", 7), ("b", 7), ("c", 8))
    }


def test_sample_is_deterministic_for_a_seed(seeded: dict[str, dict[str, Any]]) -> None:
    a, b = seeded["a"], seeded["b"]
    assert a["db"]["Hist_History"] and a["ldif"] and a["dtmconfig"]
    for part in a:
        assert a[part] == b[part], part


def test_sample_differs_for_another_seed(seeded: dict[str, dict[str, Any]]) -> None:
    a, c = seeded["a"], seeded["c"]
    assert a["db"]["Hist_History"] != c["db"]["Hist_History"]
    assert a["secrets"] != c["secrets"]
    assert a["dtmconfig"] != c["dtmconfig"]  # job ids come from the seed
    assert a["files"] == c["files"]  # the same layout


def test_encrypted_values_really_are_random(tmp_path: Path) -> None:
    # the masking above hides only what differs by nature (nonces and salts)
    one = helpers.Sample(helpers.make_sample(tmp_path / "1", seed=3, **SMALL))
    two = helpers.Sample(helpers.make_sample(tmp_path / "2", seed=3, **SMALL))
    sql = "SELECT ServiceAccountPassword FROM Svc_IdentityStore WHERE ServiceAccountPassword IS NOT NULL"
    assert one.query(sql) != two.query(sql)


# --- 9.0 -----------------------------------------------------------------------------------------------
def test_r1_sample_version_9_writes_a_9_tree_and_plans(tmp_path: Path, engine_log_dir: Path) -> None:
    out = tmp_path / "nine"
    result = helpers.run_cli(
        "sample",
        "--out",
        out,
        "--version",
        "9.0",
        "--history",
        "120",
        "--groups",
        "16",
        "--json",
        log_dir=engine_log_dir,
    )
    assert result.returncode == 0, result.stderr
    sample = helpers.Sample(out)
    assert sample.program_files.name == "GroupID 9.0" and sample.program_files.is_dir()
    assert sample.program_data.name == "GroupID 9.0" and sample.program_data.is_dir()
    assert not any("10.0" in p for p in trees.contents(out))
    assert sample.answers["source"]["version"] == "9.0"
    assert sample.query("SELECT Value FROM Svc_Setting WHERE Name = 'ProductVersion'")[0][0].startswith("9.")
    for path in helpers.dtmconfig_files(sample.jobs_folder):
        assert ElementTree.fromstring(path.read_bytes()).get("Version") == "9.0"
    plan = helpers.run_cli("plan", "--answer-file", sample.answer_file, "--json", log_dir=engine_log_dir)
    assert plan.returncode == 0, plan.stderr
    data = helpers.load_json_text(plan.stdout)
    assert (data["sourceVersion"], data["targetVersion"]) == ("9.0", "11.0")
    assert data["inventory"]["historyRows"] == 120


# --- the cases the rules need ------------------------------------------------------------------------
def test_sample_has_a_disabled_store_with_jobs_to_its_domain(sample: helpers.Sample) -> None:
    disabled = store_domains(sample, enabled=False)
    assert disabled
    assert any(j["domain"] in disabled for j in read_jobs(sample).values())


def test_sample_has_an_entra_id_store_and_office_365_messaging(sample: helpers.Sample) -> None:
    assert (
        sample.query(
            "SELECT COUNT(*) FROM Svc_IdentityStore WHERE StoreType = 'MicrosoftAzure' AND IsEnabled = 1"
        )[0][0]
        >= 1
    )
    assert (
        sample.query(
            "SELECT COUNT(*) FROM Svc_MessagingProvider m JOIN Svc_IdentityStore s "
            "ON s.IdentityStoreId = m.IdentityStoreId WHERE m.ProviderType = 'Office365' "
            "AND s.IsEnabled = 1"
        )[0][0]
        >= 1
    )
    assert any(j["messaging"] == "Office365" for j in read_jobs(sample).values())  # R7


def test_sample_has_jobs_to_existing_stores(sample: helpers.Sample) -> None:
    enabled = store_domains(sample, enabled=True)
    jobs = read_jobs(sample)
    assert any(j["domain"] in enabled and j["provider"] == "ActiveDirectory" for j in jobs.values())
    # spelled differently from the store (case, trailing dot) in at least one job (R8)
    raw = [
        conn_parts(d.get("ConnectionString"))["domain"]
        for p in helpers.dtmconfig_files(sample.jobs_folder, "Jobs")
        for d in ElementTree.fromstring(p.read_bytes()).iter("Destination")
        if "domain" in conn_parts(d.get("ConnectionString"))
    ]
    assert any(norm(r) in enabled and r != norm(r) for r in raw)


@pytest.mark.parametrize("domain", ["child.corp.example.com", "sales.corp.example.com", "corp.example.com"])
def test_sample_has_jobs_to_domains_without_a_store(sample: helpers.Sample, domain: str) -> None:
    assert domain not in store_domains(sample)
    assert any(j["domain"] == domain for j in read_jobs(sample).values())


def test_sample_has_a_job_to_an_unrelated_domain(sample: helpers.Sample) -> None:
    stores = store_domains(sample)
    domains = {
        j["domain"] for j in read_jobs(sample).values() if j["domain"] and j["provider"] == "ActiveDirectory"
    }

    def related(a: str, b: str) -> bool:
        return a != b and (a.endswith("." + b) or b.endswith("." + a))

    unrelated = [d for d in domains - set(stores) if not any(related(d, o) for o in domains | set(stores))]
    assert unrelated


def test_sample_has_file_based_destinations_and_collections(sample: helpers.Sample) -> None:
    jobs = read_jobs(sample)
    assert any(j["provider"] not in DIRECTORY_PROVIDERS for j in jobs.values())
    collections = {j["collection"] for j in jobs.values() if j["collection"]}
    assert len(collections) >= 2
    assert helpers.dtmconfig_files(sample.jobs_folder, "Job Templates")
    assert helpers.dtmconfig_files(sample.jobs_folder, "Job Group Templates")


def schedule_kinds(sample: helpers.Sample) -> dict[int, set[str]]:
    """R11's cases per Synchronize schedule, computed from the files and the database."""
    jobs = read_jobs(sample)
    stores = store_domains(sample)
    dest_domains = {j["domain"] for j in jobs.values() if j["domain"]}

    def store_of(domain: str) -> str:
        if domain in stores:
            return f"store:{stores[domain]}"
        roots = [d for d in dest_domains if domain == d or domain.endswith("." + d)]
        return "forest:" + min(roots, key=len)

    targets: dict[int, list[tuple[str, str]]] = {}
    for sid, kind, target in sample.query("SELECT ScheduleId, TargetKind, TargetId FROM Svc_ScheduleTarget"):
        targets.setdefault(sid, []).append((kind, target))
    out: dict[int, set[str]] = {}
    for (sid,) in sample.query("SELECT ScheduleId FROM Svc_Schedule WHERE JobType = 'Synchronize'"):
        members = []
        kinds = set()
        for kind, target in targets.get(sid, []):
            if kind == "JobCollection":
                kinds.add("collection")
                members += [j for j in jobs.values() if j["collection"] == target]
            else:
                members.append(jobs[target])
        directory = {store_of(j["domain"]) for j in members if j["provider"] in DIRECTORY_PROVIDERS}
        files = [j for j in members if j["provider"] not in DIRECTORY_PROVIDERS]
        if directory and files:
            kinds.add("mixed")
        if files and not directory:
            kinds.add("file-only")
        if len(directory) >= 2:
            kinds.add("several-stores")
        if len(directory) == 1 and not files:
            kinds.add("one-store")
        out[sid] = kinds
    return out


@pytest.mark.parametrize("kind", ["one-store", "mixed", "file-only", "several-stores", "collection"])
def test_r11_sample_has_a_schedule_of_each_kind(sample: helpers.Sample, kind: str) -> None:
    assert any(kind in kinds for kinds in schedule_kinds(sample).values())


def test_sample_has_schedules_of_other_job_types_and_reports(sample: helpers.Sample) -> None:
    types = {t for (t,) in sample.query("SELECT DISTINCT JobType FROM Svc_Schedule")}
    assert "Insights" in types and len(types) >= 3  # R12a: Insights becomes GroupID Entitlement
    reports = sample.query("SELECT FileName, Domain FROM Svc_Report")
    assert reports
    for file_name, domain in reports:
        assert (sample.program_data / "Reports" / file_name).is_file()
        assert domain  # R10: the domain the reports were generated for


def test_sample_history_covers_every_store(sample: helpers.Sample) -> None:
    stores = {sid for (sid,) in sample.query("SELECT IdentityStoreId FROM Svc_IdentityStore")}
    with_history = {sid for (sid,) in sample.query("SELECT DISTINCT IdentityStoreId FROM Hist_History")}
    assert with_history == stores


# --- faults --------------------------------------------------------------------------------------------
def test_with_faults_adds_the_bad_items(faults_sample: helpers.Sample, sample: helpers.Sample) -> None:
    clean = {p.name for p in helpers.dtmconfig_files(sample.jobs_folder)}
    faulty = {p.name for p in helpers.dtmconfig_files(faults_sample.jobs_folder)}
    added = faulty - clean
    assert clean < faulty and len(added) == 2
    truncated, unparseable = [], []
    for name in added:
        path = faults_sample.jobs_folder / "Jobs" / name
        try:
            root = ElementTree.fromstring(path.read_bytes())
        except ElementTree.ParseError:
            truncated.append(name)
            continue
        text = root.find("Job/Destination").get("ConnectionString")
        if text.count('"') % 2 == 1:
            unparseable.append(name)
    assert len(truncated) == 1 and len(unparseable) == 1
    stores = dict(faults_sample.query("SELECT IdentityStoreId, ConnectionString FROM Svc_IdentityStore"))
    clean_stores = dict(sample.query("SELECT IdentityStoreId, ConnectionString FROM Svc_IdentityStore"))
    extra = set(stores) - set(clean_stores)
    assert len(extra) == 1
    assert stores[extra.pop()].count('"') % 2 == 1  # an unterminated quote
    assert all(v is None or v.count('"') % 2 == 0 for v in clean_stores.values())


# --- refusals and no half-written sample --------------------------------------------------------------
def test_sample_into_a_non_empty_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(EngineError) as info:
        helpers.make_sample(out, **SMALL)
    assert info.value.error_id == "OutputPathInvalid"
    assert str(out) in info.value.message
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_sample_into_an_empty_folder_is_accepted(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    helpers.make_sample(out, **SMALL)
    assert (out / "answers.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


class CancelAt(Reporter):
    """Cancels at the ``n``-th ``check_cancelled`` call; counts them."""

    def __init__(self, n: int | None) -> None:
        super().__init__()
        self.n = n
        self.calls = 0

    def check_cancelled(self, what: str = "the request") -> None:
        self.calls += 1
        if self.n is not None and self.calls >= self.n:
            raise Cancelled(what)
        super().check_cancelled(what)


CANCEL_SPEC = {"history": 25_000, "groups": 16}  # history in three batches: cancels inside it too


@pytest.fixture(scope="module")
def cancel_points(tmp_path_factory: pytest.TempPathFactory) -> int:
    counter = CancelAt(None)
    generate_sample(SampleSpec(out=tmp_path_factory.mktemp("count") / "s", **CANCEL_SPEC), counter)
    return counter.calls


@pytest.mark.parametrize("n", range(1, 10))
def test_cancelled_generation_leaves_nothing(tmp_path: Path, cancel_points: int, n: int) -> None:
    if n > cancel_points:
        pytest.skip(f"the generation checks for cancellation {cancel_points} times")
    parent = tmp_path / "parent"
    parent.mkdir()
    reporter = CancelAt(n)
    with pytest.raises(EngineError) as info:
        generate_sample(SampleSpec(out=parent / "s", **CANCEL_SPEC), reporter)
    assert info.value.error_id == "RequestCancelled"
    assert reporter.calls == n
    assert list(parent.iterdir()) == []  # neither the sample nor a .partial folder


def test_cancel_points_include_the_history_batches(cancel_points: int) -> None:
    assert cancel_points >= 9  # one per step (7) and one per full history batch (2 of 25,000 rows)


@pytest.mark.parametrize("step", ["_write_database", "_write_jobs", "_write_history", "_write_answer_file"])
def test_failed_generation_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    def boom(self: SampleGenerator) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(SampleGenerator, step, boom)
    parent = tmp_path / "parent"
    parent.mkdir()
    with pytest.raises(OSError):
        generate_sample(SampleSpec(out=parent / "s", **SMALL))
    assert list(parent.iterdir()) == []


def test_failed_generation_into_an_empty_folder_leaves_it_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    reporter = CancelAt(4)
    with pytest.raises(EngineError):
        generate_sample(SampleSpec(out=out, **SMALL), reporter)
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


# --- secrets -------------------------------------------------------------------------------------------
def test_r19_secrets_file_is_0600_and_the_answer_file_holds_no_secret(sample: helpers.Sample) -> None:
    assert stat.S_IMODE((sample.root / "secrets.json").stat().st_mode) == 0o600
    assert contains_secrets(sample.secrets)
    assert not contains_secrets(sample.answers)
    text = sample.answer_file.read_text(encoding="utf-8")
    for value in (sample.secrets["source"]["passphrase"], sample.secrets["target"]["passphrase"]):
        assert value not in text


def test_r19_sample_loads_with_no_warning(sample: helpers.Sample) -> None:
    reporter = CollectingReporter()
    load_answer_file(sample.answer_file, reporter=reporter)
    assert [m for level, m in reporter.logs if level == "warning"] == []


# --- streaming ------------------------------------------------------------------------------------------
# Measured: a 200,000-row generation peaks at about 8 MB under tracemalloc (one 10,000-row batch);
# holding every row would take well over 100 MB.
PEAK_BOUND = 40_000_000


def generation_peak(out: Path, history: int) -> int:
    tracemalloc.start()
    try:
        generate_sample(SampleSpec(out=out, history=history, groups=16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_history_is_generated_streaming_and_counted_exactly(tmp_path: Path) -> None:
    small_peak = generation_peak(tmp_path / "small", 20_000)
    peak = generation_peak(tmp_path / "big", 200_000)
    assert peak < PEAK_BOUND, f"peak {peak / 1e6:.1f} MB"
    # ten times the rows, about the same memory: the rows are not held
    assert peak < small_peak * 1.5 + 2_000_000, (peak, small_peak)
    sample = helpers.Sample(tmp_path / "big")
    assert sample.query("SELECT COUNT(*), MIN(HistoryId), MAX(HistoryId) FROM Hist_History")[0] == (
        200_000,
        1,
        200_000,
    )
    plan = compute_plan(load_answer_file(sample.answer_file), CollectingReporter())
    assert plan.inventory.history_rows == 200_000
    assert sum(s.history_rows for s in plan.inventory.stores) == 200_000
