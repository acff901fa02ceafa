"""Packaging (issue 18): one version (``groupid_upgrade.__version__``) read by pyproject, matched by the PowerShell
manifest and CHANGELOG.md; an MIT LICENSE; the wheel built offline and ``groupid-upgrade --version`` run from a
clean virtual environment."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import tomllib

import groupid_upgrade

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "powershell" / "GroupIDUpgrade.psd1"


def test_the_version_is_written_once() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "groupid_upgrade.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", groupid_upgrade.__version__)


def test_the_module_manifest_matches_the_engine_version_and_has_release_notes() -> None:
    text = MANIFEST.read_text(encoding="utf-8-sig")
    [module_version] = re.findall(r"^\s*ModuleVersion\s*=\s*'([^']+)'", text, re.M)
    assert module_version == groupid_upgrade.__version__, (
        f"{MANIFEST.name} ModuleVersion {module_version} != groupid_upgrade.__version__ {groupid_upgrade.__version__}")
    psdata = text[text.index("PSData"):]
    assert re.search(r"ReleaseNotes\s*=\s*'[^']+'", psdata)


def test_changelog_and_license() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## {re.escape(groupid_upgrade.__version__)}\b", changelog, re.M)
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in license_text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]


def test_the_wheel_builds_and_runs_from_a_clean_venv(tmp_path: Path) -> None:
    """Built from a copy of the sources (the checkout stays clean), offline: pip takes the build backend
    and the dependencies from the machine's wheelhouse, as scripts/test does."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "engine", src / "engine",
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = dist.glob("*.whl")
    assert wheel.name == f"groupid_upgrade-{groupid_upgrade.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"groupid_upgrade-{groupid_upgrade.__version__}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in metadata and any(n.endswith("licenses/LICENSE") for n in names)
    assert "groupid_upgrade/py.typed" in names and not any("tests/" in n for n in names)
    env_dir = tmp_path / "clean"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True,
                               text=True, timeout=900)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    version = subprocess.run([str(env_dir / "bin" / "groupid-upgrade"), "--version"], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"groupid-upgrade, version {groupid_upgrade.__version__}"
    where = subprocess.run([str(python), "-c", "import groupid_upgrade; print(groupid_upgrade.__file__)"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(env_dir))  # the wheel's copy, not the checkout's
