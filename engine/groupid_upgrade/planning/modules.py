"""R2: which modules a run takes, in order, and their dependencies."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import EngineError
from ..model.settings import MODULES
from ..suggest import did_you_mean

EVERYTHING = "Everything"

# module -> modules it needs (done earlier, or in the same run)
DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "Configuration": (),
    "Synchronize": ("Configuration",),
    "Schedules": ("Configuration", "Synchronize"),
    "Reports": ("Configuration",),
    "History": ("Configuration",),
    "Groups": ("Configuration", "History"),
}


def resolve_modules(requested: Iterable[str], *, done_earlier: Iterable[str] = (),
                    available: Iterable[str] = MODULES) -> list[str]:
    """The modules of a run in execution order; unknown names and missing dependencies refused."""
    names = [str(m).strip() for m in requested]
    available = list(available)
    by_lower = {m.lower(): m for m in MODULES}
    if any(n.lower() == EVERYTHING.lower() for n in names):
        if len(names) > 1:
            raise EngineError(
                "ModuleUnknown",
                f"{EVERYTHING} cannot be combined with other modules ({', '.join(n for n in names if n.lower() != 'everything')}).",
                target="modules",
                recommended_action=f"Give either {EVERYTHING} or a list of modules.",
            )
        return list(available)
    if not names:
        raise EngineError("ModuleUnknown", "No module was selected.", target="modules",
                          recommended_action=f"Give {EVERYTHING} or some of: {', '.join(MODULES)}.")
    chosen: set[str] = set()
    for name in names:
        canonical = by_lower.get(name.lower())
        if canonical is None:
            raise EngineError(
                "ModuleUnknown",
                f"Module {name!r} is unknown; the modules are {EVERYTHING} or {', '.join(MODULES)}."
                f"{did_you_mean(name, (EVERYTHING, *MODULES))}",
                target=f"modules: {name}",
                recommended_action="Correct the module name.",
            )
        if canonical not in available:
            raise EngineError(
                "ModuleUnknown",
                f"Module {canonical} is not available in this version of GroupIDUpgrade.",
                target=f"modules: {canonical}",
                recommended_action=f"Select among {', '.join(available)}.",
            )
        chosen.add(canonical)
    done = set(done_earlier)
    for module in chosen:
        for need in DEPENDENCIES[module]:
            if need not in chosen and need not in done:
                raise EngineError(
                    "ModuleDependencyMissing",
                    f"Module {module} needs {need}, which is neither selected nor upgraded earlier.",
                    target=f"modules: {module}",
                    recommended_action=f"Add {need} to the modules, or run it first.",
                )
    return [m for m in MODULES if m in chosen]
