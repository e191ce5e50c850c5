"""The kernels import no model module: the model code calls the kernels, never the other way round.

(No import cycle anywhere in the package, the models included, is tests/test_structure.py's job.)
"""

from __future__ import annotations

from tests.test_structure import find_cycle, import_graph

PACKAGE = "worldflux_cli.models"


def test_the_graph_sees_the_model_imports():
    """Module-level and function-level imports are both seen (a cycle or a wrong import would not go unseen)."""
    graph = import_graph()
    assert f"{PACKAGE}.kernels.rms_norm" in graph[f"{PACKAGE}.layers"]
    assert f"{PACKAGE}.dreamer" in graph[PACKAGE]  # imported inside build_model
    models = {name: {m for m in edges if m.startswith(PACKAGE)} for name, edges in graph.items()
              if name.startswith(PACKAGE)}
    assert find_cycle(models) is None


def test_the_kernels_import_no_model_module():
    for name, imported in import_graph().items():
        if name.startswith(f"{PACKAGE}.kernels"):
            inside = {m for m in imported if m.startswith(PACKAGE)}
            assert all(m.startswith(f"{PACKAGE}.kernels") for m in inside), (name, inside)
