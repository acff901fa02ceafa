"""Backup benchmark (issue 7): the engine's folder parts vs `cp -a` followed by `sha256sum`.

    python bench/backup.py [--files N] [--megabytes M] [--quick] [--runs R]

Writes a folder tree of N files totalling M MB (default 20,000 files / 2,048 MB; --quick: 2,000 /
100 MB) into the Reports folder of a generated sample, then measures in the same run, best of R
(noise only ever adds time):
  (a) engine: `backup.create` with `include=[Reports]`, end to end (opening the source, the streamed
      copy with SHA-256 computed while copying, timestamps, the manifest written last after the set is
      flushed to disk);
  (b) baseline: `cp -a` of the same folder, then `sha256sum` of every copied file.
Both read the source from the page cache (it was just written and read once before the runs).
Prints MB/s of each and `engine/baseline: X` (target: at most 1.2). A second line,
`engine/baseline+sync`, compares with the baseline followed by `sync`, since the engine makes its set
durable before it writes the manifest and the plain baseline does not.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from groupid_upgrade.answerfile import load_answer_file  # noqa: E402
from groupid_upgrade.backup.create import create_backup  # noqa: E402
from groupid_upgrade.reporting import Reporter  # noqa: E402
from groupid_upgrade.sample.generator import SampleSpec, generate_sample  # noqa: E402


def make_tree(root: Path, files: int, total_bytes: int, seed: int = 7) -> int:
    """``files`` files of varied sizes (mean total/files) in nested folders; returns bytes written."""
    rng = random.Random(seed)
    block = rng.randbytes(4 * 1024 * 1024)
    raw = [rng.expovariate(1.0) for _ in range(files)]
    scale = total_bytes / sum(raw)
    written = 0
    for i, r in enumerate(raw):
        size = max(8, int(r * scale))
        folder = root / f"d{i % 40:02d}" / f"e{(i // 40) % 25:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        offset = rng.randrange(len(block))
        with open(folder / f"report {i:06d}.bin", "wb") as fh:
            fh.write(i.to_bytes(8, "little"))  # unique content per file
            left = size - 8
            while left > 0:
                chunk = block[offset:offset + left]
                fh.write(chunk)
                left -= len(chunk)
                offset = 0
        written += size
    return written


def read_all(root: Path) -> None:
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def time_engine(answer_file: Path, out: Path) -> float:
    answers = load_answer_file(answer_file)
    started = time.perf_counter()
    create_backup(answers, out, Reporter(), include=["Reports"])
    return time.perf_counter() - started


def time_baseline(src: Path, out: Path, *, sync: bool) -> float:
    started = time.perf_counter()
    subprocess.run(["cp", "-a", str(src), str(out)], check=True)
    subprocess.run(f"find {_q(out)} -type f -print0 | xargs -0 -r sha256sum > /dev/null", shell=True, check=True)
    if sync:
        subprocess.run(["sync"], check=True)
    return time.perf_counter() - started


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--megabytes", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 files / 100 MB (CI)")
    args = parser.parse_args()
    files, megabytes = (2_000, 100) if args.quick else (args.files, args.megabytes)
    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    try:
        sample = generate_sample(SampleSpec(out=work / "sample", history=100))
        answer_file = sample / "answers.json"
        reports = next((sample / "source" / "ProgramData").glob("Imanami/*/Reports"))
        t0 = time.perf_counter()
        written = make_tree(reports / "bench", files, megabytes * 1024 * 1024)
        subprocess.run(["sync"], check=True)
        read_all(reports)
        total_files = sum(len(n) for _d, _s, n in os.walk(reports))
        print(f"tree: {total_files} files, {written / 1e6:.0f} MB written in {time.perf_counter() - t0:.1f} s")
        engine, baseline, baseline_sync = [], [], []
        for run in range(args.runs):
            engine.append(time_engine(answer_file, work / f"set-{run}"))
            shutil.rmtree(work / f"set-{run}")
            baseline.append(time_baseline(reports, work / f"cp-{run}", sync=False))
            shutil.rmtree(work / f"cp-{run}")
            baseline_sync.append(time_baseline(reports, work / f"cps-{run}", sync=True))
            shutil.rmtree(work / f"cps-{run}")
            subprocess.run(["sync"], check=True)
        mb = written / 1e6
        e, b, bs = min(engine), min(baseline), min(baseline_sync)
        print(f"engine: {e:.2f} s = {mb / e:.0f} MB/s (runs: {', '.join(f'{x:.2f}' for x in engine)})")
        print(f"baseline (cp -a + sha256sum): {b:.2f} s = {mb / b:.0f} MB/s")
        print(f"baseline + sync: {bs:.2f} s = {mb / bs:.0f} MB/s")
        print(f"engine/baseline: {e / b:.2f}")
        print(f"engine/baseline+sync: {e / bs:.2f}")
        print(f"target met (engine/baseline <= 1.2): {'yes' if e / b <= 1.2 else 'no'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
