"""The layering, checked from the source: no import cycle among bpftop's modules, and
probes/ (the BPF thread's) is imported only by the engine, the command line's
pre-flight and the probe registry. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bpftop"
PROBES_IMPORTED_BY = {"bpftop.engine", "bpftop.preflight", "bpftop.registry"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module -> the bpftop modules it imports (not under TYPE_CHECKING: types only)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        type_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                     and ast.unparse(block.test) == "TYPE_CHECKING"
                     for node in ast.walk(block)}  # fmt: skip
        found = set()
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found |= {n for n in names if n.startswith("bpftop")}
        graph[module_name(path)] = found
    modules = set(graph)
    return {m: {n for n in deps if n in modules and n != m} for m, deps in graph.items()}


def test_probes_are_imported_only_by_the_engine_preflight_and_registry() -> None:
    outside = {m: deps for m, deps in imports().items() if not m.startswith("bpftop.probes")}
    users = {m for m, deps in outside.items() if any(d.startswith("bpftop.probes") for d in deps)}
    assert users <= PROBES_IMPORTED_BY, users - PROBES_IMPORTED_BY


def test_no_import_cycle() -> None:
    graph = imports()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError(" -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            if dep != "bpftop":  # the package's __init__ (its version) imports nothing
                visit(dep, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
