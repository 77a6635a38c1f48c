"""The shape of the source tree, read with ``ast`` (issue 15): the packages of ``session_audit``
import each other without a cycle, nothing in ``src`` imports the top-level ``flows`` (the thin
Prefect entry points), and no module keeps a mutable registry at module level (settings,
transports and counters are passed, never looked up)."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "session_audit"

#: Import edges between packages that close a cycle today, outside issue 15's scope, with where
#: they are. The cycle test ignores them; test_known_cycle_edges_still_exist fails once one is
#: gone, so that it is struck from this list (it may only shrink).
KNOWN_CYCLE_EDGES: dict[tuple[str, str], str] = {
    ("db", "ingest"): "db/migrations.py backfills with ingest.normalize.canonical_ip",
}

#: Module-level mutable state that is allowed, by module and name: the log context (log context,
#: not settings) and whether our log handler is installed.
ALLOWED_STATE: dict[str, set[str]] = {
    "session_audit.logs": {"_CONTEXT", "_installed", "_saved_level"},
}

MUTATORS = {
    "append",
    "extend",
    "insert",
    "add",
    "update",
    "setdefault",
    "pop",
    "popitem",
    "remove",
    "discard",
    "clear",
    "__setitem__",
    "__delitem__",
}
MUTABLE_FACTORIES = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter"}
STATEFUL_FACTORIES = {"ContextVar", "count"}


def _modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(tree: ast.Module) -> Iterator[str]:
    """Every module an ``import`` names, at any depth (lazy imports are dependencies too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _package(module: str) -> str | None:
    """The package ``session_audit.<package>`` a module name is in (None: a top-level module
    such as ``settings``, or outside)."""
    parts = module.split(".")
    if parts[0] != "session_audit" or len(parts) < 2:
        return None
    return parts[1] if (PACKAGE / parts[1]).is_dir() else None


def _package_edges() -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = {}
    for name, path, tree in _modules():
        here = _package(name)
        for target in _imported(tree):
            there = _package(target)
            if here and there and here != there:
                edges.setdefault((here, there), set()).add(str(path.relative_to(SRC)))
    return edges


def _cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    """One cycle of the graph ``edges`` (as a path), or None."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [*path, nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({("a", "b"), ("b", "c")}) is None
    assert _cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]
    assert _cycle({("x", "y"), ("y", "x"), ("x", "z")}) == ["x", "y", "x"]


def test_no_import_cycle_between_the_packages_of_session_audit() -> None:
    edges = set(_package_edges()) - set(KNOWN_CYCLE_EDGES)
    assert ("orchestration", "scale") in edges  # the graph is really built
    cycle = _cycle(edges)
    assert cycle is None, f"import cycle between packages: {' -> '.join(cycle)}"


def test_known_cycle_edges_still_exist() -> None:
    edges = _package_edges()
    gone = [edge for edge in KNOWN_CYCLE_EDGES if edge not in edges]
    assert not gone, f"no longer imported, strike from KNOWN_CYCLE_EDGES: {gone}"


def test_nothing_in_src_imports_the_flows() -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {target}"
        for _name, path, tree in _modules()
        for target in _imported(tree)
        if target == "flows" or target.startswith("flows.")
    ]
    assert not offenders


def test_every_module_of_session_audit_imports() -> None:
    for name, _path, _tree in _modules():
        if name.endswith("__main__"):
            continue
        importlib.import_module(name)


def _module_state(tree: ast.Module) -> dict[str, str]:
    """Names bound at module level to a mutable container or a stateful object: name -> kind."""
    found: dict[str, str] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        kind = None
        containers = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
        if isinstance(value, containers):
            kind = "container"
        elif isinstance(value, ast.Call):
            func = value.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in MUTABLE_FACTORIES:
                kind = "container"
            elif called in STATEFUL_FACTORIES:
                kind = "stateful"
        if kind:
            found.update({t.id: kind for t in targets if isinstance(t, ast.Name)})
    return found


def _mutated(tree: ast.Module, names: set[str]) -> set[str]:
    """Which of ``names`` the module changes: item assignment or deletion, a mutating method, a
    ``global`` rebinding."""
    hit: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            if isinstance(node.value, ast.Name) and node.value.id in names:
                hit.add(node.value.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in names and node.func.attr in MUTATORS:
                hit.add(owner.id)
        elif isinstance(node, ast.Global):
            hit.update(node.names)
    return hit


def _registries() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, _path, tree in _modules():
        state = _module_state(tree)
        bad = {n for n, kind in state.items() if kind == "stateful"}
        bad |= _mutated(tree, set(state))  # with every name a ``global`` statement rebinds
        bad -= ALLOWED_STATE.get(name, set())
        if bad:
            found[name] = bad
    return found


def test_no_module_level_mutable_registries_in_src() -> None:
    assert _registries() == {}


def test_the_registry_scan_sees_a_registry(tmp_path: Path) -> None:
    tree = ast.parse(
        "from contextvars import ContextVar\n"
        "import itertools\n"
        "_TRANSPORTS: dict[str, object] = {}\n"
        "LIMITS = {'a': 1}\n"
        "_LOCAL = ContextVar('x')\n"
        "_started = itertools.count()\n"
        "def register(url, t):\n"
        "    _TRANSPORTS[url] = t\n"
        "def bump():\n"
        "    global _n\n"
    )
    state = _module_state(tree)
    assert state == {
        "_TRANSPORTS": "container",
        "LIMITS": "container",
        "_LOCAL": "stateful",
        "_started": "stateful",
    }
    assert _mutated(tree, set(state)) == {"_TRANSPORTS", "_n"}  # LIMITS is only read


@pytest.mark.parametrize(
    "gone",
    [
        "session_audit.orchestration.local",
        "session_audit.orchestration.run",
        "session_audit.orchestration.chunk_tasks",
        "session_audit.orchestration.exports",
        "session_audit.orchestration.serve",
        "session_audit.orchestration.server",
        "session_audit.demo",
    ],
)
def test_retired_modules_stay_retired(gone: str) -> None:
    """The ContextVar hand-off, the second flow entry and the confusing pairs of names."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(gone)
