"""Upgrade-Group benchmark (issues #6 and #19): the engine's group pipeline vs a plain ldap3 loop.

    python bench/groups.py [--groups N] [--rounds R] [--quick] [--write-doc docs/performance.md]

Against the test bed's corp.example.com Samba DC (started when it is not up, stopped again then):
creates two OUs of N Smart Groups each (default 10,000; --quick: 500) with unique names, each OU's
groups split into R sub-OUs (default 10; --quick: 2), then measures in R interleaved rounds, one
sub-OU of each side a round (ldap3 first in even rounds, the engine first in odd ones, so a change in
the shared machine's load or the DC's growing database falls on both):
  (a) engine: ``group.upgrade`` with ``searchContainer`` = the round's sub-OU of the first OU, in
      process: the prerequisite, one paged search, conversion, one conditional modify per group over
      the pipeline's write connections, the target rows and ledger (SQLite), records and progress;
  (b) ldap3: a plain loop over the round's sub-OU of the second OU doing the same reads (one paged
      search of the same attributes) and the same modifies (delete the values read, add the same
      bytes the engine writes), nothing else.
Prints groups/s of each with the DC's CPU per group, ``engine/ldap3: X`` (engine groups/s over loop
groups/s, all rounds) with the median of the per-round ratios and the target line. Both OUs are
deleted at the end. --write-doc puts the printed figures into docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ldap3  # noqa: E402
import psutil  # noqa: E402
from tests.testbed import samba_dc  # noqa: E402
from tests.testbed.fixtures_samba import CORP, state_dir_path  # noqa: E402
from tests.testbed.seed import seed_ldif  # noqa: E402

from bench._performance_doc import write_if_asked  # noqa: E402
from groupid_upgrade.answerfile import load_answer_file  # noqa: E402
from groupid_upgrade.groups.conversion import eleven_definition, encode_eleven  # noqa: E402
from groupid_upgrade.groups.method import GroupUpgradeParams, group_upgrade_handler  # noqa: E402
from groupid_upgrade.model.installation import GroupType  # noqa: E402
from groupid_upgrade.reporting import CollectingReporter, Reporter  # noqa: E402
from groupid_upgrade.sample.generator import SampleSpec, generate_sample  # noqa: E402
from groupid_upgrade.source.group_definition import GroupDefinition, encode  # noqa: E402
from groupid_upgrade.upgrade.run_method import run_upgrade  # noqa: E402

TARGET = 1.3  # issue #19: hold engine/ldap3 >= 1.3 at 10,000 groups

ATTRIBUTES = ["objectGUID", "cn", "name", "sAMAccountName", "objectClass", "extensionData", "extensionAttribute12",
              "extensionAttribute13", "extensionAttribute14", "extensionAttribute15"]


def connect(env: dict[str, str]) -> ldap3.Connection:
    tls = ldap3.Tls(ca_certs_file=env["LDAP_CA_FILE"])
    server = ldap3.Server(env["LDAP_ADDRESS"], port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    password = Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()
    return ldap3.Connection(server, env["LDAP_BIND_DN"], password, auto_bind=True)


def bench_definition(i: int, base: str) -> GroupDefinition:
    """The 10.0 Smart Group definition of the OU's group ``CN=G<i>`` (``base``: the domain's DN)."""
    return GroupDefinition(GroupType.SMART_GROUP, ["user"], f'(department Equals "D{i % 50}")', f"OU=Staff,{base}",
                           expiry_days=[None, 30, 90][i % 3], last_update="2024-05-01T02:00:00Z", version="10.0")


def group_index(dn: str) -> int:
    """``i`` of a group ``CN=G<i>,...`` that make_groups created."""
    return int(dn.split(",", 1)[0][len("CN=G"):])


def eleven_values(count: int, ou: str) -> list[bytes]:
    """The extensionData value the engine writes to each of the OU's groups (the same conversion, so the
    ldap3 loops send the same bytes as the engine: Samba's modify time grows with the value's size).
    Computed before any timing: the loops do no conversion work."""
    base = ou.split(",", 1)[1]
    return [encode_eleven(eleven_definition(bench_definition(i, base))) for i in range(count)]


def part_ou(ou: str, part: int) -> str:
    return f"OU=part{part:02d},{ou}"


def group_dn(ou: str, i: int, count: int, parts: int) -> str:
    """The DN of group ``i`` of ``count`` that make_groups put in ``ou`` (in sub-OUs when ``parts`` > 1)."""
    return f"CN=G{i:06d},{ou}" if parts == 1 else f"CN=G{i:06d},{part_ou(ou, i * parts // count)}"


def same_bytes_written(bench: GroupsBench, count: int) -> None:
    """Refuses the figures unless the engine wrote to its OU's groups exactly what the loop wrote to the
    other OU's: the ratio compares the same work."""
    for ou in bench.ous:
        values = eleven_values(count, ou)
        for i in (0, count // 2, count - 1):
            dn = group_dn(ou, i, count, bench.parts)
            bench.conn.search(dn, "(objectClass=group)", ldap3.BASE, attributes=["extensionData"])
            written = bench.conn.response[0]["raw_attributes"]["extensionData"]
            if written != [values[i]]:
                raise SystemExit(f"{dn} holds {[len(v) for v in written]} bytes of extensionData, not the "
                                 f"{len(values[i])} the engine writes: the loop and the engine differ")


def make_groups(conn: ldap3.Connection, ou: str, count: int, tag: str, parts: int = 1) -> None:
    for container in [ou, *(part_ou(ou, k) for k in range(parts if parts > 1 else 0))]:
        if not conn.add(container, ["top", "organizationalUnit"]):
            raise SystemExit(f"cannot create {container}: {conn.result}")
    base = ou.split(",", 1)[1]
    for i in range(count):
        if not conn.add(group_dn(ou, i, count, parts), ["top", "group"],
                        {"sAMAccountName": f"b{tag[-7:]}{i:06d}", **encode(bench_definition(i, base))}):
            raise SystemExit(f"cannot create group {i}: {conn.result}")


def drop(conn: ldap3.Connection, ou: str) -> None:
    entries = conn.extend.standard.paged_search(ou, "(objectClass=*)", ldap3.SUBTREE, attributes=[],
                                                paged_size=500, generator=False)
    for dn in sorted((e["dn"] for e in entries if e.get("type") == "searchResEntry"), key=len, reverse=True):
        conn.delete(dn)


@dataclass
class GroupsBench:
    env: dict[str, str]
    conn: ldap3.Connection
    answer_file: Path
    work: Path
    ous: list[str]  # two OUs of ``count`` Smart Groups: the engine's and the loop's
    version: str  # the target's version, written to extensionAttribute15
    parts: int = 1  # the groups of each OU are in this many sub-OUs (OU=partNN) when more than 1


@contextmanager
def two_ous_of_groups(count: int, label: str, parts: int = 1) -> Iterator[GroupsBench]:
    """The corp DC (started when it is not up, stopped again then), a prepared target and two OUs of
    ``count`` Smart Groups with unique names (each in ``parts`` sub-OUs when more than 1); the OUs and the
    work folder are deleted whatever happens."""
    state_dir = state_dir_path()
    domain, address = str(CORP["domain"]), str(CORP["address"])
    started_dc = samba_dc.status(state_dir, domain) is None
    env = samba_dc.start(state_dir, domain, address, seed_ldif(state_dir, domain))
    work = Path(tempfile.mkdtemp(prefix=f"bench-{label}-"))
    tag = uuid.uuid4().hex[:10]
    conn = connect(env)
    ous: list[str] = []
    try:
        answer_file = prepare_target(work, env)
        t0 = time.perf_counter()
        for suffix in "ab":
            ous.append(f"OU=bench-{label}-{tag}{suffix},{env['LDAP_BASE_DN']}")
            make_groups(conn, ous[-1], count, tag + suffix, parts)
        print(f"setup: 2 x {count} groups created in {time.perf_counter() - t0:.1f} s")
        version = json.loads(answer_file.read_text())["target"]["version"]
        yield GroupsBench(env, conn, answer_file, work, ous, version, parts)
    finally:
        for ou in ous:
            drop(conn, ou)
        conn.unbind()
        shutil.rmtree(work, ignore_errors=True)
        if started_dc:
            samba_dc.stop(state_dir, domain)


def prepare_target(work: Path, env: dict[str, str]) -> Path:
    """A sample target after its first run (Configuration and History), with corp.example.com's DC."""
    sample = generate_sample(SampleSpec(out=work / "sample", history=200))
    answer_file = sample / "answers.json"
    data = json.loads(answer_file.read_text())
    data["modules"] = ["Configuration", "Synchronize", "Schedules", "Reports", "History"]
    data["directories"] = {env["LDAP_DOMAIN"]: {
        "url": env["LDAP_URL"], "caFile": env["LDAP_CA_FILE"],
        "credential": {"userName": env["LDAP_BIND_DN"], "password": Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()}}}
    answer_file.write_text(json.dumps(data))
    answer_file.chmod(0o600)
    result = run_upgrade(load_answer_file(answer_file), CollectingReporter())
    if result.status != "Succeeded":
        raise SystemExit(f"the first run of the sample failed: {result.wire()}")
    return answer_file


class PeakRss:
    """Samples this process's resident memory every 20 ms while the engine runs."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def run_engine(answer_file: Path, ou: str) -> tuple[float, int, float]:
    """Seconds, groups upgraded, and how far the resident memory grew above where it started (MiB)."""
    params = GroupUpgradeParams.model_validate({"answerFile": str(answer_file), "searchContainer": [ou]})
    with PeakRss() as rss:
        started = time.perf_counter()
        # records stream out and are gone, as in serve: a CollectingReporter would count its own lists
        result = group_upgrade_handler(params, Reporter())
        seconds = time.perf_counter() - started
    if result.status != "Succeeded":
        raise SystemExit(f"engine run failed: {result.wire()}")
    return seconds, result.upgraded, rss.growth_mib


def run_loop(env: dict[str, str], ou: str, version: str, values: list[bytes]) -> tuple[float, int]:
    """The same reads and modifies (the same bytes: ``values``, from eleven_values) with nothing around them."""
    started = time.perf_counter()
    conn = connect(env)
    done = 0
    for entry in conn.extend.standard.paged_search(ou, "(&(objectClass=group)(objectCategory=group))", ldap3.SUBTREE,
                                                   attributes=ATTRIBUTES, paged_size=500, generator=True):
        if entry.get("type") != "searchResEntry":
            continue
        raw = entry["raw_attributes"]
        changes = {
            "extensionData": [(ldap3.MODIFY_DELETE, list(raw["extensionData"])),
                              (ldap3.MODIFY_ADD, [values[group_index(entry["dn"])]])],
            "extensionAttribute15": [(ldap3.MODIFY_DELETE, list(raw["extensionAttribute15"])),
                                     (ldap3.MODIFY_ADD, [version.encode()])],
        }
        if not conn.modify(entry["dn"], changes):
            raise SystemExit(f"loop modify failed: {conn.result}")
        done += 1
    conn.unbind()
    return time.perf_counter() - started, done


class DcCpu:
    """CPU seconds the corp DC's samba process (``LDAP_PID``) and its children used."""

    def __init__(self, env: dict[str, str]) -> None:
        root = psutil.Process(int(env["LDAP_PID"]))
        self.processes = [root, *root.children(recursive=True)]

    def seconds(self) -> float:
        total = 0.0
        for process in self.processes:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="500 groups in 2 rounds (CI)")
    parser.add_argument("--write-doc", type=Path, metavar="PATH",
                        help="write the figures into this run's section of PATH (docs/performance.md)")
    args = parser.parse_args()
    count = 500 if args.quick else args.groups
    rounds = max(1, min(2 if args.quick else args.rounds, count))
    with two_ous_of_groups(count, "groups", parts=rounds) as bench:
        values = eleven_values(count, bench.ous[1])
        dc = DcCpu(bench.env)
        engine_times: list[float] = []
        loop_times: list[float] = []
        engine_dc = loop_dc = 0.0
        growth = 0.0
        upgraded = looped = 0
        for r in range(rounds):  # interleaved, each side first in every other round: drift falls on both
            sides = ["loop", "engine"] if r % 2 == 0 else ["engine", "loop"]
            for side in sides:
                before = dc.seconds()
                if side == "loop":
                    seconds, done = run_loop(bench.env, part_ou(bench.ous[1], r), bench.version, values)
                    loop_times.append(seconds)
                    looped += done
                    loop_dc += dc.seconds() - before
                else:
                    seconds, done, grew = run_engine(bench.answer_file, part_ou(bench.ous[0], r))
                    engine_times.append(seconds)
                    upgraded += done
                    growth = max(growth, grew)
                    engine_dc += dc.seconds() - before
        if upgraded != count or looped != count:
            raise SystemExit(f"expected {count} groups each, engine {upgraded}, loop {looped}")
        same_bytes_written(bench, count)
        engine_s, loop_s = sum(engine_times), sum(loop_times)
        ratio = loop_s / engine_s
        per_round = statistics.median(lo / en for en, lo in zip(engine_times, loop_times, strict=True))
        lines = [
            f"rounds: {rounds}, interleaved ({count // rounds} groups each; ldap3 first in even rounds, the engine "
            "in odd ones)",
            f"engine: {upgraded} groups in {engine_s:.2f} s = {upgraded / engine_s:,.0f} groups/s "
            f"({engine_s * 1000 / count:.2f} ms per group; the DC's CPU {engine_dc * 1000 / count:.2f} ms per group)",
            f"ldap3: {looped} groups in {loop_s:.2f} s = {looped / loop_s:,.0f} groups/s "
            f"({loop_s * 1000 / count:.2f} ms per group; the DC's CPU {loop_dc * 1000 / count:.2f} ms per group)",
            f"engine peak memory growth: {growth:.1f} MiB for {count // rounds} groups a run",
            f"engine/ldap3: {ratio:.2f}",
            f"median of the per-round ratios: {per_round:.2f}",
            f"target met: {'yes' if ratio >= TARGET else 'no'} (>= {TARGET:.2f})",
        ]
        print("\n".join(lines))
        # before the OUs are dropped (minutes at full size)
        write_if_asked(args.write_doc, "groups", f"Groups in bulk (`python bench/groups.py --groups {count}`)", lines)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GROUPID_UPGRADE_LOG_DIR", tempfile.gettempdir())
    sys.exit(main())
