"""The modules of worldflux_cli.models import one another in one direction: no import cycle (imports inside
functions count), and the kernels import no model module."""

from __future__ import annotations

import ast
from pathlib import Path

import worldflux_cli

PACKAGE = "worldflux_cli.models"
ROOT = Path(worldflux_cli.__file__).resolve().parent / "models"


def _module_names() -> dict[str, Path]:
    names = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        names[".".join((PACKAGE, *parts))] = path
    return names


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The worldflux_cli.models modules that the source of module ``name`` imports, anywhere in its code."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                base = ".".join([*package.split(".")[:len(package.split(".")) - node.level + 1], *filter(None, [base])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _graph() -> dict[str, set[str]]:
    names = _module_names()
    return {name: _imports(path, name, set(names)) for name, path in names.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_graph_sees_the_imports_it_checks():
    """The checker finds module-level and function-level imports (a cycle would not go unseen)."""
    graph = _graph()
    assert f"{PACKAGE}.kernels.rms_norm" in graph[f"{PACKAGE}.layers"]
    assert f"{PACKAGE}.dreamer" in graph[PACKAGE]  # imported inside build_model
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_among_the_model_modules():
    assert _cycle(_graph()) is None


def test_the_kernels_import_no_model_module():
    for name, imported in _graph().items():
        if name.startswith(f"{PACKAGE}.kernels"):
            assert all(m.startswith(f"{PACKAGE}.kernels") for m in imported), (name, imported)
