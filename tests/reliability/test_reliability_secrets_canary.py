"""The secrets canary (issue #9, R19): every secret of a sample is a unique canary; no canary may appear
in any form tests/support/leaks.py searches (clear, escaped, UTF-16LE/BE, hex, base64 at every alignment,
a two-thirds prefix; inside zips and SQLite values) in any byte the engine wrote (target database and
folders, logs, answer template, stdout, stderr) nor in the serve process's (and its children's) command
line, environment or thread names (``/proc/<pid>/...``); files holding key material are 0600.

This extends tests/test_upgrade_run.py's R19 test (the sample's own secrets, plan and run output,
target): canaries make every secret findable by value, whatever module carries it, and the scan covers
logs, the answer template, the protocol session and the process. ``CANARY_SCENARIOS``: plan, run, serve,
group.upgrade (on an OU of its own on the corp DC; the DC's real password is a canary too) and
backup.create, backup.verify, backup.restore (the sets, folder and zip, and the restored files are
scanned). A scenario runs the engine, keeps what it printed and adds the folders it wrote to
``ctx.scan_dirs``.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import reliability_figures

import helpers
from groupid_upgrade.sample.generator import SampleGenerator, SampleSpec
from support import leaks


@dataclass
class CanaryContext:
    sample: Path
    log_dir: Path
    work: Path
    canaries: dict[str, str]
    corp: dict[str, str] = field(default_factory=dict)  # the test bed's corp DC (samba_corp)
    scan_dirs: list[Path] = field(default_factory=list)
    captured: dict[str, bytes] = field(default_factory=dict)  # where -> bytes the engine produced


def make_canary_sample(out: Path) -> tuple[Path, dict[str, str]]:
    """The default sample with every secret the generator makes replaced by a unique canary."""
    generator = SampleGenerator(SampleSpec(out=out, history=300))
    canaries: dict[str, str] = {}

    def canary(name: str) -> str:
        # shaped like the generator's own (letters, digits, a symbol) so every password rule still passes
        value = f"cnry{name.replace('_', '').replace('.', '')[:12]}{uuid.uuid4().hex[:16]}!Aa1"
        canaries[name] = value
        return value

    for name, value in list(vars(generator.secrets).items()):
        if isinstance(value, str):
            setattr(generator.secrets, name, canary(name))
        elif isinstance(value, dict):
            setattr(generator.secrets, name, {key: canary(f"{name}.{key}") for key in value})
    return generator.generate(), canaries


# --- scenarios ----------------------------------------------------------------------------------------------
def cli(ctx: CanaryContext, name: str, *args: str | Path) -> None:
    proc = subprocess.run([*helpers.ENGINE, *(str(a) for a in args)], capture_output=True,
                          env=helpers.engine_env(ctx.log_dir), timeout=300, stdin=subprocess.DEVNULL)
    assert b"Traceback" not in proc.stderr, proc.stderr[-2000:]
    ctx.captured[f"{name} stdout"] = proc.stdout
    ctx.captured[f"{name} stderr"] = proc.stderr
    assert proc.returncode == 0, (name, proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])


def scenario_plan(ctx: CanaryContext) -> None:
    template = ctx.work / "answer-template.json"
    cli(ctx, "plan", "plan", "--answer-file", ctx.sample / "answers.json", "--json", "--emit-answer-template",
        template)
    assert template.is_file()
    ctx.scan_dirs.append(template)
    cli(ctx, "plan (text)", "plan", "--answer-file", ctx.sample / "answers.json")


def scenario_run(ctx: CanaryContext) -> None:
    cli(ctx, "run --what-if", "run", "--answer-file", ctx.sample / "answers.json", "--what-if", "--json", "--verbose")
    cli(ctx, "run", "run", "--answer-file", ctx.sample / "answers.json", "--json", "--verbose")
    cli(ctx, "run again", "run", "--answer-file", ctx.sample / "answers.json", "--verbose")
    ctx.scan_dirs.append(ctx.sample / "target")


def scenario_serve(ctx: CanaryContext) -> None:
    """plan and run over the protocol, one with the secrets inline; /proc read while the engine serves."""
    secrets = json.loads((ctx.sample / "secrets.json").read_text())
    answers = str(ctx.sample / "answers.json")
    requests = [
        {"method": "upgrade.plan", "params": {"answerFile": answers}},
        {"method": "upgrade.plan", "params": {"answerFile": answers, "settings": secrets}},
        {"method": "upgrade.run", "params": {"answerFile": answers, "whatIf": True}},
        {"method": "upgrade.run", "params": {"answerFile": answers, "settings": {
            "target": {"passphrase": ctx.canaries["target_passphrase"][:-1] + "?"}}}},  # a wrong passphrase
        {"method": "upgrade.run", "params": {"answerFile": answers}},
    ]
    answers_by_id = serve_session(ctx, "serve", requests)
    assert answers_by_id[4]["error"]["data"]["errorId"] == "PassphraseInvalid"
    assert answers_by_id[5]["result"]["status"] == "Succeeded"


def directory_answers(ctx: CanaryContext) -> Path:
    """answers.json plus the corp DC of the test bed; its real Administrator password is a canary too
    (the scenarios after ``run``: the Groups module of ``run`` must not touch the shared DC's groups)."""
    path = ctx.work / "answers-directory.json"
    if not path.is_file():
        env = ctx.corp
        password = Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()
        ctx.canaries["directories.corp.example.com.credential.password"] = password
        data = json.loads((ctx.sample / "answers.json").read_text())
        data["secretsFile"] = str((ctx.sample / data.get("secretsFile", "secrets.json")).resolve())
        for key in ("programFiles", "programData"):
            data["source"][key] = str((ctx.sample / data["source"][key]).resolve())
        data["source"]["database"]["path"] = str((ctx.sample / data["source"]["database"]["path"]).resolve())
        data["target"]["database"]["path"] = str((ctx.sample / data["target"]["database"]["path"]).resolve())
        data["directories"] = {env["LDAP_DOMAIN"]: {"url": env["LDAP_URL"], "caFile": env["LDAP_CA_FILE"],
                                                    "credential": {"userName": env["LDAP_BIND_DN"],
                                                                   "password": password}}}
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)
    return path


def scenario_group(ctx: CanaryContext) -> None:
    """group.upgrade (whatIf, then for real) on an OU of the test's own on the corp DC, over the CLI
    and over the protocol with the directory's credential inline (read from /proc while serving)."""
    import ldap3

    env = ctx.corp
    password = Path(env["LDAP_PASSWORD_FILE"]).read_text().strip()
    answers = directory_answers(ctx)
    tls = ldap3.Tls(ca_certs_file=env["LDAP_CA_FILE"])
    conn = ldap3.Connection(ldap3.Server(env["LDAP_ADDRESS"], port=636, use_ssl=True, tls=tls), env["LDAP_BIND_DN"],
                            password, auto_bind=True)
    ou = f"OU=rel-canary-{uuid.uuid4().hex[:8]},{env['LDAP_BASE_DN']}"
    try:
        assert conn.add(ou, ["top", "organizationalUnit"]), conn.result
        from groupid_upgrade.model.installation import GroupType
        from groupid_upgrade.source.group_definition import GroupDefinition, encode

        for i in range(3):
            defn = GroupDefinition(GroupType.SMART_GROUP, ["user"], f'(department Equals "C{i}")',
                                   f"OU=Staff,{env['LDAP_BASE_DN']}", version="10.0")
            assert conn.add(f"CN=CN-{i},{ou}", ["top", "group"], {"sAMAccountName": f"cn{uuid.uuid4().hex[:10]}",
                                                                   **encode(defn)}), conn.result
        cli(ctx, "group --what-if", "group", "--answer-file", answers, "--search-container", ou, "--what-if", "--json")
        cli(ctx, "group", "group", "--answer-file", answers, "--search-container", ou, "--json", "--verbose")
        inline = {"directories": {env["LDAP_DOMAIN"]: {"credential": {"userName": env["LDAP_BIND_DN"],
                                                                          "password": password}}}}
        all_results(serve_session(ctx, "serve group", [
            {"method": "group.upgrade", "params": {"answerFile": str(answers), "settings": inline,
                                                   "searchContainer": [ou]}}]))
    finally:
        conn.search(ou, "(objectClass=*)", ldap3.SUBTREE, attributes=[])
        for dn in sorted((e["dn"] for e in conn.response if e.get("type") == "searchResEntry"), key=len,
                         reverse=True):
            conn.delete(dn)
        conn.unbind()


def scenario_backup_verify_restore(ctx: CanaryContext) -> None:
    """backup (every part the sample has, the group attributes of the corp DC included; a folder and a
    zip), verify each, restore into a root of its own; the sets and the restored files are scanned."""
    answers = directory_answers(ctx)
    sets = ctx.work / "sets"
    cli(ctx, "backup", "backup", "--answer-file", answers, "--destination", sets / "set", "--json", "--verbose")
    cli(ctx, "backup --zip", "backup", "--answer-file", answers, "--destination", sets / "zipped", "--zip")
    cli(ctx, "verify", "verify", sets / "set", "--answer-file", answers, "--json")
    cli(ctx, "verify zip", "verify", sets / "zipped.zip")
    root = ctx.work / "restored"
    root.mkdir()
    cli(ctx, "restore --what-if", "restore", sets / "set", "--answer-file", answers, "--include", "Database",
        "--include", "Reports", "--include", "SynchronizeJobs", "--to", root, "--what-if", "--json")
    cli(ctx, "restore", "restore", sets / "zipped.zip", "--answer-file", answers, "--include", "Database",
        "--include", "Reports", "--include", "SynchronizeJobs", "--to", root, "--json")
    all_results(serve_session(ctx, "serve verify", [{"method": "backup.verify", "params": {
        "path": str(sets / "set"), "answerFile": str(answers)}}]))
    assert any(root.rglob("*.db")) and (sets / "set" / "GroupAttributes").is_dir()
    ctx.scan_dirs += [sets, root]


def serve_session(ctx: CanaryContext, name: str, requests: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Requests over one ``serve``, each answered before the next; /proc of the engine read while it holds the
    secrets; stdout, stderr and /proc kept for the scan. Returns the answers by id."""
    stderr_file = (ctx.work / f"{name.replace(' ', '-')}.stderr").open("w+b")  # a full pipe could block the engine
    process = subprocess.Popen([*helpers.ENGINE, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=stderr_file, env=helpers.engine_env(ctx.log_dir))
    assert process.stdin and process.stdout
    out = bytearray()
    try:
        for i, request in enumerate(requests, start=1):
            process.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, **request}).encode() + b"\n")
            process.stdin.flush()
            while True:
                line = process.stdout.readline()
                assert line, "serve ended early"
                out += line
                message = json.loads(line)
                if message.get("id") == i:
                    break
        # the engine is alive and has held every secret: its process image (and its children's) must not show one
        images = leaks.process_images(process.pid)
        assert f"/proc/{process.pid}/cmdline" in images, "the serving engine's /proc could not be read"
        ctx.captured.update({f"{name} {where}": data for where, data in images.items()})
        rest, _ = process.communicate(b'{"jsonrpc":"2.0","id":"bye","method":"engine.shutdown"}\n', timeout=120)
        out += rest
    finally:
        if process.poll() is None:
            process.kill()
        stderr_file.seek(0)
        ctx.captured[f"{name} stderr"] = stderr_file.read()
        stderr_file.close()
    ctx.captured[f"{name} stdout"] = bytes(out)
    assert process.returncode == 0
    return {m["id"]: m for m in map(json.loads, bytes(out).splitlines()) if "id" in m}


def all_results(answers: dict[Any, dict[str, Any]]) -> None:
    assert all("result" in answer for answer in answers.values()), answers


CANARY_SCENARIOS: list[tuple[str, Callable[[CanaryContext], None]]] = [
    ("plan", scenario_plan),
    ("run", scenario_run),
    ("serve: plan and run over the protocol", scenario_serve),
    ("group (CLI and protocol, the DC's password inline)", scenario_group),
    ("backup, verify and restore (folder and zip, group attributes included)", scenario_backup_verify_restore),
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory, samba_corp: dict[str, str]) -> CanaryContext:
    work = tmp_path_factory.mktemp("canary")
    sample, canaries = make_canary_sample(work / "sample")
    log_dir = work / "logs"
    log_dir.mkdir()
    return CanaryContext(sample=sample, log_dir=log_dir, work=work, canaries=canaries, corp=samba_corp,
                         scan_dirs=[log_dir])


def test_r19_every_secret_of_the_sample_is_a_canary(ctx: CanaryContext) -> None:
    """The canary covers every secret: the secrets file holds canaries and nothing else that is secret."""
    secrets = json.loads((ctx.sample / "secrets.json").read_text())
    values: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, str):
            values.append(node)

    walk(secrets)
    assert len(values) >= 8 and all(v in ctx.canaries.values() for v in values), "a secret is not a canary"
    assert len(set(ctx.canaries.values())) == len(ctx.canaries) >= 20
    # and the test can see one: the secrets file itself is the user's, and full of them
    assert leaks.find_leaks(ctx.canaries, paths=[ctx.sample / "secrets.json"])


def test_r19_no_canary_in_anything_the_engine_wrote_printed_or_exposed(ctx: CanaryContext) -> None:
    started = time.monotonic()
    for _, scenario in CANARY_SCENARIOS:
        scenario(ctx)
    scanner = leaks.LeakScanner(ctx.canaries)
    found_leaks = scanner.scan(texts=ctx.captured, paths=ctx.scan_dirs)
    found: dict[str, list[str]] = {}
    for leak in found_leaks:
        found.setdefault(leak.where, []).append(f"{leak.secret} ({leak.form})")
    assert scanner.files >= 3 and any((ctx.log_dir).iterdir()), "nothing was scanned: the scenarios did not run"
    example = next(iter(ctx.canaries.values()))
    reliability_figures.record("canary", "scenarios", {
        "scenarios": [name for name, _ in CANARY_SCENARIOS], "canaries": len(ctx.canaries),
        "forms": len(leaks.forms(example)) + len(leaks.prefix_forms(example)), "streams": scanner.streams,
        "files": scanner.files, "bytes": scanner.bytes_read, "leaked": len(found_leaks), "where": found,
        "seconds": round(time.monotonic() - started, 1)})
    assert not found, f"canaries leaked: {found}"


def test_r19_files_holding_key_material_are_0600(ctx: CanaryContext) -> None:
    key_files = [ctx.sample / "secrets.json", *sorted((ctx.sample / "certs").glob("*.pfx"))]
    assert len(key_files) >= 4
    modes = {str(p): stat.S_IMODE(p.stat().st_mode) for p in key_files}
    reliability_figures.record("canary", "key material 0600", {
        "files": len(modes), "not0600": sorted(p for p, m in modes.items() if m != 0o600)})
    assert all(m == 0o600 for m in modes.values()), {p: oct(m) for p, m in modes.items()}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
