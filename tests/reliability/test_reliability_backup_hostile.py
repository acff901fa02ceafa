"""Hostile backup sets and backup outages (issue #9; R16, R17, R18).

Hostile files: a manifest naming a path with ``..``, an absolute path, a file of the set that is a link
out of it, and a zip whose entry escapes the folder it is opened into. ``verify`` and ``restore``
refuse each with ``UnsafePath`` naming the manifest (or the zip) before anything is read or written
outside the set. (Backup not following links out of the tree is tests/test_backup.py's test, counted
in the figures, not repeated.)

Outages of the destination: a read-only file system (a read-only bind mount: the tests run as root, so
file modes would not stop a write) and a file-size limit hit mid-backup (``RLIMIT_FSIZE``; the engine
ignores SIGXFSZ so the write fails with EFBIG). Each ends in a clear error naming the path, no manifest,
and a set that verifies on the next run to a writable destination.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reliability_figures

import helpers
from support import trees

pytest_plugins = ["helpers"]


def cli(*args: str | Path, log_dir: Path, preexec: Any = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*helpers.ENGINE, *(str(a) for a in args)], capture_output=True, text=True,
                          encoding="utf-8", env=helpers.engine_env(log_dir), timeout=helpers.SUBPROCESS_TIMEOUT,
                          stdin=subprocess.DEVNULL, preexec_fn=preexec)


def backup(answer_file: Path, dest: Path, log_dir: Path, *extra: str) -> dict[str, Any]:
    done = cli("backup", "--answer-file", answer_file, "--destination", dest, "--json", *extra, log_dir=log_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


def verified(path: Path, log_dir: Path) -> bool:
    done = cli("verify", path, "--json", log_dir=log_dir)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done.returncode == 0 and json.loads(done.stdout)["ok"]


@contextlib.contextmanager
def figure(suite: str, key: str, what: str) -> Iterator[None]:
    """Record the outcome of the block under ``suite``/``key`` (passed or failed) for the report."""
    try:
        yield
    except BaseException:
        reliability_figures.record(suite, key, {"what": what, "passed": 0, "failed": 1})
        raise
    reliability_figures.record(suite, key, {"what": what, "passed": 1, "failed": 0})


@pytest.fixture(scope="module")
def made_set(tmp_path_factory: pytest.TempPathFactory, sample: helpers.Sample, engine_log_dir: Path) -> Path:
    """One intact set of the shared sample (Reports and SynchronizeJobs); tests tamper with copies."""
    dest = tmp_path_factory.mktemp("hostile-sets") / "set"
    backup(sample.answer_file, dest, engine_log_dir, "--include", "Reports", "--include", "SynchronizeJobs")
    return dest


# --- hostile sets -----------------------------------------------------------------------------------
def tampered(made: Path, work: Path, change: Any) -> Path:
    set_dir = Path(shutil.copytree(made, work / f"set-{uuid.uuid4().hex[:6]}"))
    manifest = json.loads((set_dir / "manifest.json").read_text())
    change(set_dir, manifest)
    (set_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return set_dir


def a_report(manifest: dict[str, Any]) -> dict[str, Any]:
    return next(f for f in manifest["files"] if f["path"].startswith("Reports/") and f["path"].endswith(".pdf"))


def escape_with_dots(set_dir: Path, manifest: dict[str, Any]) -> None:
    # the file is really there, with its true size and hash: only the path check can stop it
    entry = a_report(manifest)
    data = (set_dir / entry["path"]).read_bytes()
    entry["path"] = "Reports/../../../../escaped-dots.pdf"
    (set_dir.parent / "escaped-dots.pdf").write_bytes(data)


def escape_absolute(set_dir: Path, manifest: dict[str, Any]) -> None:
    entry = a_report(manifest)
    outside = set_dir.parent / "absolute-target.pdf"
    outside.write_bytes((set_dir / entry["path"]).read_bytes())
    entry["path"] = str(outside)


def escape_folder_relative(set_dir: Path, manifest: dict[str, Any]) -> None:
    for part in manifest["parts"]:
        for folder in part.get("folders", []):
            if part["name"] == "Reports":
                folder["relative"] = "../../../escaped-reports"


def a_link_in_the_set(set_dir: Path, manifest: dict[str, Any]) -> None:
    # a file of the set replaced by a link to a file outside it whose hash the manifest carries:
    # without the link check, verify would pass and restore would copy the outside file
    entry = a_report(manifest)
    outside = set_dir.parent / "outside-secret.txt"
    outside.write_bytes(b"a file that is not part of any backup set\n")
    (set_dir / entry["path"]).unlink()
    (set_dir / entry["path"]).symlink_to(outside)
    import hashlib

    entry["size"] = outside.stat().st_size
    entry["sha256"] = hashlib.sha256(outside.read_bytes()).hexdigest()


def a_linked_folder_in_the_set(set_dir: Path, manifest: dict[str, Any]) -> None:
    outside = set_dir.parent / "outside-folder"
    reports = set_dir / "Reports"
    shutil.move(str(reports), str(outside))
    reports.symlink_to(outside, target_is_directory=True)


HOSTILE_SETS = {
    "manifest path with ..": escape_with_dots,
    "absolute manifest path": escape_absolute,
    "folder relative with ..": escape_folder_relative,
    "file of the set is a link": a_link_in_the_set,
    "folder of the set is a link": a_linked_folder_in_the_set,
}


@pytest.mark.parametrize("name", list(HOSTILE_SETS))
def test_r18_verify_and_restore_refuse_a_hostile_manifest_before_writing_anything(
        name: str, made_set: Path, sample: helpers.Sample, tmp_path: Path, engine_log_dir: Path) -> None:
    with figure("hostile", f"set: {name}", f"restore and verify refuse a set whose {name}"):
        set_dir = tampered(made_set, tmp_path, HOSTILE_SETS[name])
        root = tmp_path / "restore-root" / "deep" / "er"
        root.mkdir(parents=True)
        before = trees.snapshot(tmp_path)
        done = cli("verify", set_dir, "--json", log_dir=engine_log_dir)
        assert done.returncode == 1 and "Traceback" not in done.stderr, (done.stdout, done.stderr)
        assert json.loads(done.stdout)["error"]["data"]["errorId"] == "UnsafePath", done.stdout
        restored = cli("restore", set_dir, "--answer-file", sample.answer_file, "--include", "Reports", "--to", root,
                       "--force", log_dir=engine_log_dir)
        assert restored.returncode == 1, (restored.returncode, restored.stdout, restored.stderr)
        assert "Traceback" not in restored.stderr
        message = restored.stderr
        assert str(set_dir) in message and ("outside" in message or "absolute" in message), message
        trees.assert_unchanged(tmp_path, before, "the test's folder (set, restore root) while refusing a hostile set")
        assert not any(root.iterdir())


def test_r18_a_zip_whose_entry_escapes_is_refused_and_writes_nothing_outside(
        made_set: Path, sample: helpers.Sample, tmp_path: Path, engine_log_dir: Path) -> None:
    with figure("hostile", "zip entry escaping", "verify and restore refuse a zip whose entry escapes"):
        archive = tmp_path / "sets" / "evil.zip"
        archive.parent.mkdir()
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(made_set.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(made_set).as_posix())
            zf.writestr("../../zip-slipped.txt", b"written outside the set")
            zf.writestr("Reports/../../../zip-slipped-2.txt", b"written outside the set")
        root = tmp_path / "root"
        root.mkdir()
        # a zip is read through a folder made beside it and removed: the folders' mtimes move, nothing else may
        before = trees.contents(tmp_path, mtimes=True)
        for args in (("verify", archive), ("restore", archive, "--answer-file", sample.answer_file, "--include",
                                           "Reports", "--to", root)):
            done = cli(*args, log_dir=engine_log_dir)
            assert done.returncode == 1 and "Traceback" not in done.stderr, (done.stdout, done.stderr)
            assert str(archive) in done.stderr and "outside the set" in done.stderr, done.stderr
        assert trees.contents(tmp_path, mtimes=True) == before, "something was left written while refusing a zip"
        assert not list(tmp_path.rglob("zip-slipped*"))


# --- outages of the destination ------------------------------------------------------------------------------
@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An empty folder the engine cannot write, and the reason the OS gives. Root ignores file modes, so for
    root it is a read-only bind mount (which needs no more than root here); for others a folder of mode 0555."""
    backing, mount = tmp_path / "backing", tmp_path / "read-only"
    backing.mkdir()
    mount.mkdir()
    if os.geteuid() != 0:
        mount.chmod(0o555)
        try:
            yield mount, "Permission denied"
        finally:
            mount.chmod(0o755)
        return
    done = subprocess.run(["mount", "--bind", str(backing), str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"root cannot bind-mount {mount} here ({done.stderr.strip()}): run the tests where root may mount, "
                    "or as a user other than root (then the folder is made read-only by its mode)")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True, text=True)
        assert ro.returncode == 0, ro.stderr
        with pytest.raises(OSError):
            (mount / "probe").write_text("x")
        yield mount, "Read-only file system"
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, check=False)


def test_r17_a_read_only_destination_is_a_clear_error_naming_it_then_a_writable_one_succeeds(
        read_only_folder: tuple[Path, str], sample: helpers.Sample, tmp_path: Path, engine_log_dir: Path) -> None:
    read_only, reason = read_only_folder
    with figure("outages", "backup to a read-only destination",
                "read-only backup destination (BackupDestinationInvalid naming it, no manifest, then a set that verifies)"):
        for dest in (read_only, read_only / "new-set"):  # an empty folder there, a new one there
            done = cli("backup", "--answer-file", sample.answer_file, "--destination", dest, log_dir=engine_log_dir)
            assert done.returncode == 1 and "Traceback" not in done.stderr, (done.stdout, done.stderr)
            assert str(read_only) in done.stderr and reason in done.stderr, done.stderr
            assert not (read_only / "manifest.json").exists() and not any(read_only.iterdir())
        good = tmp_path / "writable" / "set"
        result = backup(sample.answer_file, good, engine_log_dir)
        assert result["manifest"]["files"] and verified(good, engine_log_dir)


def limit_file_size(limit: int) -> Any:
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("where", ["database copy", "folder file"])
def test_r17_a_file_size_limit_hit_mid_backup_names_the_file_and_leaves_no_set(
        where: str, sample_copy: helpers.Sample, tmp_path: Path, engine_log_dir: Path) -> None:
    with figure("outages", f"RLIMIT_FSIZE mid-backup ({where})",
                f"file-size limit hit mid-backup in the {where} (EFBIG naming the file, no manifest, then a set "
                "that verifies)"):
        database = sample_copy.database.stat().st_size
        big = sample_copy.program_data / "Reports" / "Quarterly" / "big report.pdf"
        big.parent.mkdir(parents=True, exist_ok=True)
        big.write_bytes(os.urandom(database + 2_000_000))
        limit = database // 4 if where == "database copy" else database + 1_000_000
        dest = tmp_path / "limited"
        done = cli("backup", "--answer-file", sample_copy.answer_file, "--destination", dest, log_dir=engine_log_dir,
                   preexec=limit_file_size(limit))
        assert done.returncode == 1, (done.returncode, done.stdout, done.stderr[-2000:])  # not killed by SIGXFSZ
        assert "Traceback" not in done.stderr
        named = dest / "Database" / sample_copy.database.name if where == "database copy" else \
            dest / "Reports" / "Quarterly" / "big report.pdf"
        assert str(named) in done.stderr, done.stderr
        if where == "folder file":
            assert "File too large" in done.stderr, done.stderr
        assert not (dest / "manifest.json").exists()
        assert not dest.exists() or not verified(dest, engine_log_dir)
        result = backup(sample_copy.answer_file, dest, engine_log_dir)  # the limit lifted: the same destination
        assert any(f["path"].endswith("big report.pdf") for f in result["manifest"]["files"])
        assert verified(dest, engine_log_dir)
