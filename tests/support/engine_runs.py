"""Planning and running a written estate the way ``upgrade.plan`` and ``upgrade.run`` do, with
rootDSE facts injected (they come from servers, which these tests do not start)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from groupid_upgrade.answerfile import load_answer_file
from groupid_upgrade.model.settings import MODULES as RUNNABLE_MODULES
from groupid_upgrade.model.settings import AnswerFile
from groupid_upgrade.planning.modules import resolve_modules
from groupid_upgrade.planning.planner import Blueprint, Facts, SourceSnapshot, build_plan
from groupid_upgrade.planning.versions import check_upgrade_path
from groupid_upgrade.source.installation import SourceInstallation
from groupid_upgrade.upgrade.inventory import take_inventory
from groupid_upgrade.upgrade.snapshot import take_snapshot

from .installations import PFX_PASSWORD, WrittenEstate

_PFX: dict[str, str] = {}


def pfx_file() -> str:
    """One valid PFX for every credential answer (R5..R7 check it opens and holds a key)."""
    if not _PFX:
        from groupid_upgrade.sample.certificates import write_pfx

        folder = Path(tempfile.mkdtemp(prefix="generated-pfx-"))
        write_pfx(folder / "app.pfx", "CN=Generated app", PFX_PASSWORD, seed=17)
        _PFX["path"] = str(folder / "app.pfx")
    return _PFX["path"]


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def plan_estate(written: WrittenEstate, answers: dict[str, Any], ldap_roots: dict[str, str], *,
                facts: Facts | None = None, modules: list[str] | None = None,
                edit: Callable[[SourceSnapshot], SourceSnapshot] | None = None) -> tuple[AnswerFile, Blueprint]:
    """The answer file with ``answers``, and its blueprint computed with rootDSE ``ldap_roots`` (or the
    whole ``facts``), for ``modules`` (default: the answer file's), from the source's snapshot as
    ``edit`` changes it (what the format writer cannot write: managed groups' scripts, say)."""
    overrides: dict[str, Any] = {"answers": answers, **({"modules": modules} if modules is not None else {})}
    settings_ = load_answer_file(written.answer_file, inline=None, overrides=overrides)
    source_version, target_version = check_upgrade_path(settings_.source.version, settings_.target.version)
    resolved = resolve_modules(settings_.modules, available=RUNNABLE_MODULES)
    with SourceInstallation(settings_.source) as source:
        sync = source.synchronize()
        inventory = take_inventory(source, sync)
        snapshot = take_snapshot(source, sync)
    if edit is not None:
        snapshot = edit(snapshot)
    blueprint = build_plan(snapshot, settings_, facts or Facts(ldap_roots=dict(ldap_roots)), resolved,
                           source_version, target_version, inventory)
    return settings_, blueprint


def absolute_settings(data: dict[str, Any], root: Path) -> dict[str, Any]:
    """The inline settings of a run: paths made absolute (inline settings have no folder of their own)."""
    out = {**data, "source": dict(data["source"]), "target": dict(data["target"])}
    for side in ("source", "target"):
        section = out[side]
        section["database"] = {**section["database"], "path": str(root / section["database"]["path"])}
        for key in ("programFiles", "programData"):
            if key in section:
                section[key] = str(root / section[key])
    return out
