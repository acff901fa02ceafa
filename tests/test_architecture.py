"""The engine's import structure (issue 15, point 6): no import cycle among its modules, and each
module imports only modules of its own layer or of a lower one.

Layers, top to bottom:

- ``entry``: what a person or a client talks to: the CLI, the JSON-RPC server and its framing, the
  console reporter, ``__main__``, and tools that reach every method (``schemas``).
- ``methods``: a protocol method (a ``MethodSpec`` in ``api.METHOD_TABLE``) or a CLI command's
  handler (``status``, ``doctor``): params in, plan, executors called, result out.
- ``executors``: carry out one kind of work with side effects (backup create/restore/verify and
  their parts, the groups and history pipelines, the target writer, the facts the planner needs).
- ``foundation``: what the executors build on: model, planning (pure), storage (one connection of
  each kind), safety, source (reading 9/10), and the low-level modules (errors, reporting, run log,
  faults, crypto, ...), pure conversions included.

Every import counts: at module level, inside a function (a lazy import still couples the two
modules) and under ``TYPE_CHECKING`` (a type from a higher layer is the same coupling; a lower
layer that needs one declares a Protocol). ``api.METHOD_TABLE`` names the method modules as
strings (loaded with importlib, so ``engine.hello`` imports none of them): the one way a lower
module reaches a higher one, by design, and not an import.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENGINE = REPO / "engine" / "groupid_upgrade"
PACKAGE = "groupid_upgrade"

ENTRY, METHODS, EXECUTORS, FOUNDATION = "entry", "methods", "executors", "foundation"
RANK = {FOUNDATION: 0, EXECUTORS: 1, METHODS: 2, ENTRY: 3}

# Every module of engine/groupid_upgrade, by its name under the package ("" is the package itself).
# A package's __init__ holds nothing (the top one: the version): foundation, importable by all.
LAYERS: dict[str, str] = {
    "": FOUNDATION,
    "__main__": ENTRY,
    "cli": ENTRY,
    "console": ENTRY,
    "tables": ENTRY,  # the CLI's text tables
    "schemas": ENTRY,  # renders docs/schemas from every method's models
    "protocol": FOUNDATION,
    "protocol.server": ENTRY,
    "protocol.framing": ENTRY,
    "protocol.json_codec": ENTRY,
    # methods
    "upgrade": FOUNDATION,
    "upgrade.plan_method": METHODS,
    "upgrade.run_method": METHODS,
    "upgrade.status": METHODS,
    "groups": FOUNDATION,
    "groups.method": METHODS,
    "backup": FOUNDATION,
    "backup.methods": METHODS,
    "doctor": METHODS,
    # executors
    "backup.create": EXECUTORS,
    "backup.restore": EXECUTORS,
    "backup.verify": EXECUTORS,
    "backup.database": EXECUTORS,
    "backup.ldif_part": EXECUTORS,
    "backup.search_part": EXECUTORS,
    "groups.pipeline": EXECUTORS,
    "history": FOUNDATION,
    "history.pipeline": EXECUTORS,
    "target": FOUNDATION,
    "target.writer": EXECUTORS,
    "target.kept": EXECUTORS,  # the target serve keeps open between group requests
    "target.schema": EXECUTORS,  # the tables the target writer writes
    "upgrade.facts": EXECUTORS,  # directory and token look-ups the planner's rules depend on
    "upgrade.inventory": EXECUTORS,
    "upgrade.snapshot": EXECUTORS,
    "upgrade.blueprint": EXECUTORS,  # the Plan and its units for an answer file (reads the source, gathers facts)
    "operations": EXECUTORS,
    "operations.base": EXECUTORS,  # Operation, Prepared, FileCopy, RunContext
    "operations.catalog": EXECUTORS,  # planner units -> typed operations
    "operations.units": EXECUTORS,
    "operations.history": EXECUTORS,
    "operations.groups": EXECUTORS,
    "operations.module_run": EXECUTORS,
    "operations.results": EXECUTORS,
    "operations.executor": EXECUTORS,  # the one executor
    "target.ledger": EXECUTORS,  # the only reader and writer of the ledger and run rows
    "target.lock": EXECUTORS,  # the run lock
    "groups.stores": EXECUTORS,  # the target's AD stores, R13's prerequisite
    "sql_catalog": EXECUTORS,  # every statement the engine can send, over the real schemas (tests parse it)
    "sample": FOUNDATION,
    "sample.generator": EXECUTORS,
    "sample.certificates": EXECUTORS,
    # foundation
    "api": FOUNDATION,  # MethodSpec and the method table (names only)
    "answerfile": FOUNDATION,
    "crypto": FOUNDATION,
    "errors": FOUNDATION,
    "faults": FOUNDATION,
    "logs": FOUNDATION,
    "reporting": FOUNDATION,
    "run_log": FOUNDATION,
    "suggest": FOUNDATION,
    "settings_params": FOUNDATION,  # the parameters every method takes, and loading them into an AnswerFile
    "settings_cache": FOUNDATION,  # serve's loaded answer files, used again while their files do not change
    "backup.files": FOUNDATION,  # hashed copies of files and trees
    "backup.manifest": FOUNDATION,  # the set's manifest: its model, read and written
    "groups.conversion": FOUNDATION,
    "groups.selection": FOUNDATION,
    "history.batch_pipeline": FOUNDATION,  # the generic read/index/commit pipeline
    "history.conversion": FOUNDATION,
    "model": FOUNDATION,
    "model.base": FOUNDATION,
    "model.cli_output": FOUNDATION,
    "model.events": FOUNDATION,
    "model.installation": FOUNDATION,
    "model.plan": FOUNDATION,
    "model.settings": FOUNDATION,
    "planning": FOUNDATION,
    "planning.forests": FOUNDATION,
    "planning.modules": FOUNDATION,
    "planning.placement": FOUNDATION,
    "planning.planner": FOUNDATION,
    "planning.versions": FOUNDATION,
    "safety": FOUNDATION,
    "safety.numbers": FOUNDATION,
    "safety.paths": FOUNDATION,
    "safety.reading": FOUNDATION,
    "safety.redact": FOUNDATION,
    "safety.resources": FOUNDATION,
    "safety.strict_json": FOUNDATION,
    "safety.writing": FOUNDATION,
    "source": FOUNDATION,
    "source.credentials": FOUNDATION,
    "source.dtmconfig": FOUNDATION,
    "source.group_definition": FOUNDATION,
    "source.installation": FOUNDATION,
    "source.layout": FOUNDATION,
    "source.schema": FOUNDATION,
    "storage": FOUNDATION,
    "storage.connections": FOUNDATION,  # the one factory of search and directory clients
    "storage.directory": FOUNDATION,
    "storage.directory_pool": FOUNDATION,
    "storage.ldap_wire": FOUNDATION,  # the read and modify of a group, encoded without pyasn1
    "storage.ldif_io": FOUNDATION,
    "storage.search": FOUNDATION,
    "storage.sql": FOUNDATION,
}


@dataclass(frozen=True)
class Module:
    name: str  # under the package: "storage.sql"; "" for the package itself
    path: Path
    is_package: bool


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    path: Path
    line: int

    def where(self) -> str:
        shown = self.path.relative_to(REPO) if self.path.is_relative_to(REPO) else self.path
        return f"{shown}:{self.line}"


def _shown(name: str, package: str) -> str:
    return name or package


def find_modules(root: Path) -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package)
    return modules


def _absolute(module: Module, node: ast.ImportFrom, package: str) -> str:
    """The absolute dotted name ``from ... import`` reads from (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = [package, *module.name.split(".")] if module.name else [package]
    if not module.is_package:
        base = base[:-1]  # a module's "." is the package it is in
    if node.level - 1 >= len(base):
        raise ValueError(f"{module.path}:{node.lineno}: a relative import goes above the package {package}")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _under_package(absolute: str, package: str) -> str | None:
    """``groupid_upgrade.storage.sql`` -> ``storage.sql``; None for a name outside the package."""
    if absolute == package:
        return ""
    if absolute.startswith(package + "."):
        return absolute[len(package) + 1:]
    return None


def _nearest_module(name: str, modules: dict[str, Module]) -> str:
    """The module a dotted name is, or lies in (``storage.sql.Database`` -> ``storage.sql``)."""
    while name not in modules and name:
        name = name.rpartition(".")[0]
    return name


def import_edges(root: Path, package: str) -> tuple[dict[str, Module], list[Edge]]:
    """Every import of a module of the package by another, one edge per imported name's module."""
    modules = find_modules(root)
    edges: list[Edge] = []
    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, node, package)
                # ``from . import database``: a submodule; ``from .sql import Database``: the module
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            seen: set[str] = set()
            for target in targets:
                inside = _under_package(target, package)
                if inside is None:
                    continue
                imported = _nearest_module(inside, modules)
                if imported != module.name and imported not in seen:
                    seen.add(imported)
                    edges.append(Edge(module.name, imported, module.path, node.lineno))
    return modules, edges


def _strongly_connected(nodes: list[str], graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan: the groups of modules that all reach one another (each group of 2+ holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            groups.append(sorted(group))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return groups


def _shortest_cycle(start: str, graph: dict[str, set[str]], group: set[str]) -> list[str]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph.get(node, ())):
            if nxt not in group:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return [start]


def cycle_problems(modules: dict[str, Module], edges: list[Edge], package: str) -> list[str]:
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
    problems = []
    for group in _strongly_connected(list(modules), graph):
        if len(group) < 2:
            continue
        members = set(group)
        cycle = " -> ".join(_shown(m, package) for m in _shortest_cycle(group[0], graph, members))
        inside = sorted((e for e in edges if e.importer in members and e.imported in members),
                        key=lambda e: (e.importer, e.line))
        lines = "\n".join(f"    {e.where()}: {_shown(e.importer, package)} imports {_shown(e.imported, package)}"
                          for e in inside)
        problems.append(f"import cycle among {', '.join(_shown(m, package) for m in group)} ({cycle});"
                        f" its imports (break one edge of each loop):\n{lines}")
    return problems


def layer_problems(modules: dict[str, Module], edges: list[Edge], layers: dict[str, str],
                   package: str) -> list[str]:
    problems = [f"{_shown(name, package)} ({modules[name].path}) has no layer: add it to LAYERS"
                for name in sorted(set(modules) - set(layers))]
    problems += [f"LAYERS names {_shown(name, package)}, which is not a module any more: remove it"
                 for name in sorted(set(layers) - set(modules))]
    for edge in sorted(edges, key=lambda e: (str(e.path), e.line)):
        low, high = layers.get(edge.importer), layers.get(edge.imported)
        if low is None or high is None or RANK[high] <= RANK[low]:
            continue
        problems.append(f"{edge.where()}: {_shown(edge.importer, package)} ({low}) imports "
                        f"{_shown(edge.imported, package)} ({high}): a layer imports only its own or lower ones")
    return problems


def _report(problems: list[str]) -> str:
    return "\n".join(problems)


# --- the engine ---------------------------------------------------------------------------------------
def test_every_module_has_a_layer_and_imports_only_downwards() -> None:
    modules, edges = import_edges(ENGINE, PACKAGE)
    assert len(modules) > 50 and len(edges) > 200  # the walk found the engine, not an empty folder
    problems = layer_problems(modules, edges, LAYERS, PACKAGE)
    assert not problems, _report(problems)


def test_no_import_cycle_in_the_engine() -> None:
    modules, edges = import_edges(ENGINE, PACKAGE)
    problems = cycle_problems(modules, edges, PACKAGE)
    assert not problems, _report(problems)


# --- the checks themselves, on synthetic trees -------------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


SYNTHETIC_LAYERS = {"": FOUNDATION, "low": FOUNDATION, "sub": FOUNDATION, "sub.worker": EXECUTORS,
                    "high": METHODS, "top": ENTRY}


def _clean_tree(root: Path) -> Path:
    return _tree(root, {
        "__init__.py": "",
        "low.py": "VALUE = 1\n",
        "sub/__init__.py": "",
        "sub/worker.py": "from .. import low\nfrom ..low import VALUE\n",
        "high.py": "import pkg.sub.worker\nfrom .sub import worker\n",
        "top.py": "def main():\n    from pkg.high import something\n",
    })


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    root = _clean_tree(tmp_path)
    modules, edges = import_edges(root, "pkg")
    assert {(e.importer, e.imported) for e in edges} == {("sub.worker", "low"), ("high", "sub.worker"),
                                                        ("top", "high")}
    assert cycle_problems(modules, edges, "pkg") == []
    assert layer_problems(modules, edges, SYNTHETIC_LAYERS, "pkg") == []


def test_a_cycle_through_a_lazy_relative_import_fails(tmp_path: Path) -> None:
    root = _clean_tree(tmp_path)
    # low -> sub.worker at module level; sub.worker -> low already; and a longer loop through a function
    (root / "low.py").write_text("VALUE = 1\n\n\ndef later():\n    from .sub.worker import run\n", encoding="utf-8")
    modules, edges = import_edges(root, "pkg")
    problems = cycle_problems(modules, edges, "pkg")
    assert len(problems) == 1, problems
    assert "import cycle among low, sub.worker" in problems[0]
    assert f"{root / 'low.py'}:5: low imports sub.worker" in problems[0]
    assert f"{root / 'sub' / 'worker.py'}:1: sub.worker imports low" in problems[0]


def test_a_cycle_of_three_under_type_checking_fails(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "__init__.py": "",
        "a.py": "import pkg.b\n",
        "b.py": "from pkg import c\n",
        "c.py": "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from .a import A\n",
    })
    modules, edges = import_edges(root, "pkg")
    problems = cycle_problems(modules, edges, "pkg")
    assert len(problems) == 1 and "(a -> b -> c -> a)" in problems[0], problems
    assert f"{root / 'c.py'}:3: c imports a" in problems[0]


def test_an_upward_import_fails_with_its_file_and_line(tmp_path: Path) -> None:
    root = _clean_tree(tmp_path)
    (root / "sub" / "worker.py").write_text(
        "from .. import low\n\n\ndef run():\n    from ..high import handler\n", encoding="utf-8")
    modules, edges = import_edges(root, "pkg")
    problems = layer_problems(modules, edges, SYNTHETIC_LAYERS, "pkg")
    assert problems == [f"{root / 'sub' / 'worker.py'}:5: sub.worker (executors) imports high (methods): "
                        "a layer imports only its own or lower ones"]


def test_a_module_without_a_layer_fails(tmp_path: Path) -> None:
    root = _clean_tree(tmp_path)
    (root / "new.py").write_text("", encoding="utf-8")
    modules, edges = import_edges(root, "pkg")
    problems = layer_problems(modules, edges, {**SYNTHETIC_LAYERS, "gone": FOUNDATION}, "pkg")
    assert problems == [f"new ({root / 'new.py'}) has no layer: add it to LAYERS",
                        "LAYERS names gone, which is not a module any more: remove it"]


def test_a_relative_import_above_the_package_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"__init__.py": "", "a.py": "from ... import x\n"})
    with pytest.raises(ValueError, match="above the package pkg"):
        import_edges(root, "pkg")
