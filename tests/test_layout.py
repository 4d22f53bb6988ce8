"""The package's layout: no import cycles between fabricsim's modules.

Every import counts, at module level or inside a function (a lazy import hides a cycle, it does
not remove it), except those under ``if TYPE_CHECKING:`` (annotations only, never executed).
``fabricsim/__init__.py``, the facade that gathers the public API, is left out: nothing inside
the package may import it (checked too)."""

from __future__ import annotations

import ast
from pathlib import Path

import fabricsim

ROOT = Path(fabricsim.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}
NATIVE = {"fabricsim._core"}


def is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def imports_of(name: str, path: Path) -> set[str]:
    """The fabricsim modules ``name`` imports (a name imported from a package resolves to its
    submodule when there is one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fabricsim"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.startswith("fabricsim"):
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    found.add(sub if sub in MODULES or sub in NATIVE else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found - NATIVE - {name}


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items() if name != "fabricsim"}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of the graph (empty if it has none), by depth-first search."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(v: str) -> list[str]:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return [*stack[stack.index(w) :], w]
            if w not in state and (cycle := dfs(w)):
                return cycle
        stack.pop()
        state[v] = 2
        return []

    for v in sorted(graph):
        if v not in state and (cycle := dfs(v)):
            return cycle
    return []


def test_the_graph_sees_the_package():
    assert "fabricsim.fabric" in GRAPH and "fabricsim.collectives.api" in GRAPH
    assert "fabricsim.run_contract" in GRAPH["fabricsim.result"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_the_package_facade():
    offenders = sorted(name for name, deps in GRAPH.items() if "fabricsim" in deps)
    assert offenders == [], f"import the module you need, not the fabricsim facade: {offenders}"


def test_there_are_no_import_cycles():
    cycle = find_cycle(GRAPH)
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def under(package: str, modules: set[str]) -> set[str]:
    return {m for m in modules if m == package or m.startswith(package + ".")}


def test_the_engine_seam_does_not_know_the_workloads():
    """run_contract and run_options run any Workload: neither imports a workload kind."""
    for seam in ("fabricsim.run_contract", "fabricsim.run_options"):
        for kinds in ("fabricsim.collectives", "fabricsim.memory", "fabricsim.traffic"):
            assert not under(kinds, GRAPH[seam]), (seam, under(kinds, GRAPH[seam]))


def test_the_subpackages_are_layers():
    """traffic/ below memory/ and collectives/, analysis/ and cli/ on top (docs/architecture/python.md)."""
    above = {
        "fabricsim.traffic": (
            "fabricsim.memory",
            "fabricsim.collectives",
            "fabricsim.analysis",
            "fabricsim.cli",
        ),
        "fabricsim.memory": ("fabricsim.collectives", "fabricsim.analysis", "fabricsim.cli"),
        "fabricsim.collectives": ("fabricsim.memory", "fabricsim.analysis", "fabricsim.cli"),
    }
    for package, forbidden in above.items():
        for module in under(package, set(GRAPH)):
            deps = GRAPH[module]
            if module == "fabricsim.traffic":  # the facade reaches memory loads lazily (module __getattr__)
                deps = deps - under("fabricsim.memory", deps)
            bad = {d for f in forbidden for d in under(f, deps)}
            assert not bad, f"{module} imports {sorted(bad)}, a layer above it"
    users = {
        m for m, deps in GRAPH.items() if under("fabricsim.analysis", deps) or under("fabricsim.cli", deps)
    }
    assert users <= under("fabricsim.analysis", set(GRAPH)) | under("fabricsim.cli", set(GRAPH)) | {
        "fabricsim.__main__"
    }, users


def test_counters_are_declared_once_in_the_engine_and_reach_python_with_their_docs():
    from fabricsim import _core
    from fabricsim.memory import STACK_TOTALS
    from fabricsim.result import LINK_COLUMNS_DOC, LINK_DTYPE

    link = _core.link_counter_columns()
    assert [name for name, _ in link] == list(LINK_DTYPE.names[-len(link) :])
    assert all(doc and name in LINK_COLUMNS_DOC for name, doc in link)
    fab = fabricsim.Fabric(
        topology=fabricsim.topology.point_to_point(), link=fabricsim.LinkSpec.preset("pcie6_x16")
    )
    res = fab.run(fabricsim.traffic.stream(0, 1, count=4, bytes=4096))
    assert res.links["acks"].sum() > 0 and res.links["naks"].sum() == 0

    mem = fabricsim.run_memory(
        fabricsim.HbmSpec.preset("hbm3"), fabricsim.traffic.memory("random", 500, bytes=64)
    )
    assert list(mem.counters) == [name for name, _ in STACK_TOTALS] and all(doc for _, doc in STACK_TOTALS)
    assert mem.counters["reads"] == mem.reads and mem.counters["row_hits"] == mem.row_hits
