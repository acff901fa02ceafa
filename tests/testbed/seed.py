"""What the test bed's directories are seeded with: the sample's LDIF and the adapter tests' own.

The sample (issue #2, fixed seed, ``SAMPLE_GROUPS`` groups per domain) is generated once into the
state directory; each domain's seed file is the adapter tests' fixture LDIF followed by the sample's
LDIF for that domain (their OUs do not overlap).
"""

from __future__ import annotations

import os
from pathlib import Path

from groupid_upgrade.sample.generator import SampleSpec, generate_sample

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
SAMPLE_SEED = 1
SAMPLE_GROUPS = 40
FIXTURE_LDIF = {"corp.example.com": FIXTURES_DIR / "corp.ldif", "fabrikam.example.com": FIXTURES_DIR / "fabrikam.ldif"}


def sample_dir(state_dir: Path) -> Path:
    """The sample the test bed is seeded from (generated on first use)."""
    folder = state_dir / f"sample-seed{SAMPLE_SEED}-groups{SAMPLE_GROUPS}"
    if not (folder / "sample.json").is_file():
        state_dir.mkdir(parents=True, exist_ok=True)
        generate_sample(SampleSpec(out=folder, seed=SAMPLE_SEED, groups=SAMPLE_GROUPS, history=1000))
    return folder


def seed_ldif(state_dir: Path, domain: str) -> Path:
    """The LDIF a DC of ``domain`` is seeded with: fixture entries, then the sample's."""
    target = state_dir / f"seed-{domain}.ldif"
    parts = [FIXTURE_LDIF[domain].read_text(encoding="utf-8").rstrip("\n")]
    sample_lines = (sample_dir(state_dir) / "directory" / f"{domain}.ldif").read_text(encoding="ascii").splitlines()
    parts.append("\n".join(line for line in sample_lines if not line.startswith("version:")).strip("\n"))
    text = "\n\n".join(parts) + "\n"
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        temp = target.with_suffix(".partial")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)
    return target
