"""The source-tree snapshot (tests/support/trees.py) sees every way a tree can be written (R4), follows
no link, opens no FIFO; ``contents`` says two copies hold the same files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import trees


def make_tree(root: Path) -> Path:
    (root / "Jobs" / "deep").mkdir(parents=True)
    (root / "Jobs" / "a.dtmconfig").write_text("<job id='a'/>")
    (root / "Jobs" / "deep" / "b.dtmconfig").write_text("<job id='b'/>")
    (root / "GroupID10.db").write_bytes(bytes(range(256)) * 40)
    (root / "empty").mkdir()
    (root / "link").symlink_to("Jobs/a.dtmconfig")
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [root]:
        os.utime(path, ns=(OLD, OLD), follow_symlinks=False)  # installed long ago, as a source is
    return root


OLD = 1_600_000_000 * 10**9


def touch(path: Path) -> None:
    os.utime(path, ns=(OLD, OLD + 1), follow_symlinks=False)


def create_and_remove(root: Path) -> None:
    (root / "empty" / "tmp").write_text("x")
    (root / "empty" / "tmp").unlink()


def retarget(root: Path) -> None:
    (root / "link").unlink()
    (root / "link").symlink_to("Jobs/deep/b.dtmconfig")


# one way to write the tree each: every one must change the snapshot
WRITES: dict[str, Callable[[Path], object]] = {
    "content, same size": lambda r: (r / "Jobs" / "a.dtmconfig").write_text("<job id='A'/>"),
    "the same bytes written again": lambda r: (r / "GroupID10.db").write_bytes((r / "GroupID10.db").read_bytes()),
    "mtime only, by a nanosecond": lambda r: touch(r / "Jobs" / "deep" / "b.dtmconfig"),
    "chmod": lambda r: (r / "Jobs" / "a.dtmconfig").chmod(0o600),
    "file created": lambda r: (r / "empty" / "new").write_text(""),
    "file created and removed again": create_and_remove,
    "file removed": lambda r: (r / "Jobs" / "deep" / "b.dtmconfig").unlink(),
    "renamed": lambda r: (r / "Jobs" / "a.dtmconfig").rename(r / "Jobs" / "c.dtmconfig"),
    "folder created": lambda r: (r / "Jobs" / "new").mkdir(),
    "hard link made to a file": lambda r: os.link(r / "GroupID10.db", r.parent / "hardlink.db"),
    "link retargeted": retarget,
    "truncated": lambda r: os.truncate(r / "GroupID10.db", 100),
    "root chmod": lambda r: r.chmod(0o700),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_r4_every_write_changes_the_snapshot(tmp_path: Path, write: str) -> None:
    root = make_tree(tmp_path / "source")
    before = trees.snapshot(root)
    assert trees.snapshot(root) == before  # reading does not change it
    WRITES[write](root)
    assert trees.changes(before, trees.snapshot(root)), write
    with pytest.raises(AssertionError, match="changed"):
        trees.assert_unchanged(root, before, "the source")


def test_r4_unchanged_block_passes_when_only_read_and_fails_naming_the_entry(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "source")
    with trees.unchanged(root, "the source"):
        (root / "GroupID10.db").read_bytes()
        list(root.rglob("*"))
    with pytest.raises(AssertionError, match=r"Jobs/a\.dtmconfig: mode -rw-r--r-- -> -rw-------"), \
            trees.unchanged(root, "the source"):
        (root / "Jobs" / "a.dtmconfig").chmod(0o600)


def test_r4_links_are_recorded_not_followed_and_fifos_not_opened(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"x" * 1000)
    root = make_tree(tmp_path / "source")
    (root / "to-outside").symlink_to(outside)
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    os.mkfifo(root / "pipe")
    snap = trees.snapshot(root)  # returns: the FIFO is never opened
    assert snap["to-outside"].kind == "link" and snap["to-outside"].link_target == str(outside)
    assert "to-outside/big.bin" not in snap and snap["dangling"].kind == "link" and snap["pipe"].kind == "other"
    (outside / "big.bin").write_bytes(b"y" * 1000)  # outside the tree: not the tree's business
    assert trees.snapshot(root) == snap


def test_contents_of_a_copy_equal_the_original_and_differ_on_content(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a")
    copy = Path(shutil.copytree(root, tmp_path / "b", symlinks=True, copy_function=shutil.copy))
    assert trees.contents(copy) == trees.contents(root)
    assert trees.snapshot(copy) != trees.snapshot(root)  # other mtimes: a copy is not the same tree
    (copy / "Jobs" / "a.dtmconfig").write_text("<job id='x'/>")
    assert trees.contents(copy) != trees.contents(root)
    assert trees.files(root) == ["GroupID10.db", "Jobs/a.dtmconfig", "Jobs/deep/b.dtmconfig"]
    assert trees.snapshot(tmp_path / "missing") == {} and trees.contents(tmp_path / "missing") == {}


names = st.text(st.sampled_from("abcXYZ._- é"), min_size=1, max_size=8).filter(lambda n: n not in (".", ".."))


@given(layout=st.dictionaries(st.lists(names, min_size=1, max_size=3).map(tuple), st.binary(max_size=64),
                              min_size=1, max_size=8), pick=st.integers(min_value=0))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_r4_a_generated_tree_sees_one_changed_byte(tmp_path_factory: pytest.TempPathFactory,
                                                   layout: dict[tuple[str, ...], bytes], pick: int) -> None:
    root = tmp_path_factory.mktemp("gen")
    written = []
    for parts, data in layout.items():
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            continue  # one generated name is a folder of another: skip it
    files = [p for p in written if p.is_file()]
    if not files:
        return
    before = trees.snapshot(root)
    victim = files[pick % len(files)]
    data = victim.read_bytes()
    st_before = os.stat(victim)
    victim.write_bytes(bytes([data[0] ^ 1]) + data[1:] if data else b"\0")
    os.utime(victim, ns=(st_before.st_atime_ns, st_before.st_mtime_ns))  # even with its mtime put back
    assert [line.split(":")[0] for line in trees.changes(before, trees.snapshot(root))] == [
        victim.relative_to(root).as_posix()]
