"""The layering, checked from the source: each package imports only its own layer and
the ones below it (LAYERS, bottom first), probes/ (the BPF thread's) is imported only by
engine/ and the catalog of panes, and no import cycle exists among bpftop's modules.
Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bpftop"
# Bottom first. A package may import its own layer and those listed before it.
LAYERS = ("core", "host", "loader", "probes", "engine", "model", "panes", "catalog",
          "outputs", "screens", "cli")  # fmt: skip


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


def layer(module: str) -> int | None:
    """A module's place in LAYERS; None for the package's own (bpftop, bpftop.__main__)."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_is_in_a_layer() -> None:
    loose = {m for m in imports() if layer(m) is None} - {"bpftop", "bpftop.__main__"}
    assert not loose, f"modules outside the layers: {sorted(loose)}"


def test_no_arrow_runs_up_the_layers() -> None:
    def below(module: str, dep: str) -> bool:
        low, high = layer(dep), layer(module)
        return low is None or high is None or low <= high

    up = [f"{m} -> {d}" for m, deps in imports().items() for d in deps if not below(m, d)]
    assert not up, "\n".join(sorted(up))


def test_probes_are_imported_only_by_the_engine_and_the_catalog() -> None:
    users = {m for m, deps in imports().items()
             if layer(m) != LAYERS.index("probes") and any(layer(d) == LAYERS.index("probes")
                                                          for d in deps)}  # fmt: skip
    assert {u.split(".")[1] for u in users} <= {"engine", "catalog"}, users


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
