"""Break one rule of planning/ at a time, in a temporary copy of the engine, and show that an
invariant of the generated installations fails for each (issue 17, "Done when").

    .venv/bin/python tests/mutation/break_rules.py [RULE ...]

Each break is a one-line change of the kind the issue lists (a flipped condition, a dropped
normalisation, a swapped check). The copy is imported first through PYTHONPATH; the repository is
not touched. Exit status 0 when every break was caught.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLANNING = Path("groupid_upgrade/planning")

# rule -> (file under planning/, text as it is, text broken, what the break does)
BREAKS: dict[str, tuple[str, str, str, str]] = {
    "R3": ("planner.py", "if not store.enabled or store.type == StoreType.GOOGLE_WORKSPACE:",
           "if store.type == StoreType.GOOGLE_WORKSPACE:", "disabled stores are upgraded like enabled ones"),
    "R8": ("placement.py", "self.by_domain.setdefault(normalize_domain(store.domain) or store.domain, store)",
           "self.by_domain.setdefault(store.domain, store)", "store domains are compared as written (case, dot)"),
    "R9": ("placement.py", "for ancestor in dns_ancestors(domain):", "for ancestor in []:",
           "a child domain of an existing store's forest gets a new store"),
    "R10": ("planner.py", "if placement.store_id in self.ad_target_stores:", "if True:",
            "reports bind to the server domain's store whatever its type"),
    "R11": ("planner.py", "dir_stores = sorted({s for j in live if j.destination.is_directory",
            "dir_stores = sorted({s for j in live if True",
            "a schedule's file-destination jobs count as directory destinations"),
    "R12a": ("planner.py", "for store_id in sorted(self.ad_target_stores):",
             "for store_id in sorted(s for s in self.ad_target_stores if s in {st.id for st in self.snap.stores}):",
             "no Entitlement schedules for the stores the upgrade creates"),
}


def run_break(rule: str, examples: int) -> tuple[bool, str]:
    file, old, new, _what = BREAKS[rule]
    with tempfile.TemporaryDirectory(prefix=f"break-{rule}-") as tmp:
        copy = Path(tmp, "engine")
        shutil.copytree(REPO / "engine" / "groupid_upgrade", copy / "groupid_upgrade",
                        ignore=shutil.ignore_patterns("__pycache__"))
        path = copy / PLANNING / file
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            return False, f"the text to break is not in {file} exactly once: {old!r}"
        path.write_text(text.replace(old, new), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(copy), "GROUPID_GENERATED_EXAMPLES": str(examples),
               "GROUPID_GENERATED_RUN": "0", "GROUPID_GENERATED_SHRINK": "0"}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
             str(REPO / "tests" / "test_generated_installations.py"), "-k", "keep_every"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
        imported = re.search(r"engine/groupid_upgrade", proc.stdout) is None or str(copy) in proc.stdout
        failures = [line.lstrip("E |").strip() for line in proc.stdout.splitlines()
                    if re.search(r"\b[A-Za-z]*Error: ", line)]
        caught = proc.returncode != 0
        first = failures[0] if failures else proc.stdout.strip().splitlines()[-1]
        return caught and imported, first[:300]


def main(argv: list[str]) -> int:
    rules = argv or list(BREAKS)
    examples = int(os.environ.get("BREAK_EXAMPLES", "150"))
    all_caught = True
    for rule in rules:
        caught, message = run_break(rule, examples)
        all_caught &= caught
        print(f"{rule:5} {'CAUGHT' if caught else 'MISSED'}  ({BREAKS[rule][3]})\n      {message}", flush=True)
    return 0 if all_caught else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
