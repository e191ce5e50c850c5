"""The package's shape: no import circle, one check per config construction, one exit code per failure."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "worldflux_cli"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in the file (inside functions too).

    ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``. Relative
    imports are resolved. Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import(tmp_path):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    graph = import_graph()
    assert "worldflux_cli.config.base" in graph["worldflux_cli.config.registry"]
    # a function-level import counts: the CLI's commands import their libraries inside the functions
    assert "worldflux_cli.loading" in graph["worldflux_cli.cli.info_cmd"]


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_config_and_its_checks_never_import_the_layers_above():
    graph = import_graph()
    above = ("worldflux_cli.validation", "worldflux_cli.cli", "worldflux_cli.hub", "worldflux_cli.bench",
             "worldflux_cli.models", "worldflux_cli.loading", "worldflux_cli.sources")
    for name, edges in graph.items():
        if name.startswith("worldflux_cli.config"):
            assert not [e for e in edges if e.startswith(above)], (name, edges)


# ---------------------------------------------------------------------------------- one check per construction


@pytest.fixture
def checks(monkeypatch):
    """Count the runs of the one validity check (worldflux_cli.config.check.check_values)."""
    import worldflux_cli.config.check as check

    calls: list[str] = []
    real = check.check_values

    def counting(values, cls):
        calls.append(cls.family)
        return real(values, cls)

    monkeypatch.setattr(check, "check_values", counting)
    return calls


def _each_construction(tmp_path):
    import dataclasses

    from worldflux_cli.config import DreamerV3Config, TDMPC2Config, WorldModelConfig

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model_type": "tdmpc2", "latent_dim": 64}))
    made = TDMPC2Config(latent_dim=64)
    return {
        "constructor": lambda: TDMPC2Config(latent_dim=64),
        "from_dict": lambda: TDMPC2Config.from_dict({"latent_dim": 64}),
        "base from_dict": lambda: WorldModelConfig.from_dict({"model_type": "dreamer"}),
        "from_size": lambda: DreamerV3Config.from_size("size12m", action_dim=6),
        "from_size renamed": lambda: TDMPC2Config.from_size("5m", latent_dim=128),
        "load": lambda: WorldModelConfig.load(path),
        "replace": lambda: dataclasses.replace(made, horizon=5),
    }


@pytest.mark.parametrize("way", ["constructor", "from_dict", "base from_dict", "from_size", "from_size renamed",
                                 "load", "replace"])
def test_a_config_is_checked_once_per_construction(way, checks, tmp_path):
    build = _each_construction(tmp_path)[way]
    checks.clear()
    config = build()
    assert len(checks) == 1, (way, checks)
    assert checks == [config.family]


def test_an_invalid_config_is_refused_by_that_one_check(checks):
    from worldflux_cli.config import ConfigurationError, TDMPC2Config

    with pytest.raises(ConfigurationError) as info:
        TDMPC2Config.from_dict({"latent_dim": 100, "num_elites": 9999})
    assert len(checks) == 1 and {p.code for p in info.value.problems} == {"WF210", "WF211"}
    with pytest.raises(ConfigurationError):
        TDMPC2Config(latent_dim=100)
    assert len(checks) == 2


def test_validate_checks_each_file_once_and_returns_the_config(checks, tmp_path):
    from worldflux_cli.loading import load_config

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"model_type": "dreamer", "model_name": "x", "deter_dim": 256}))
    loaded = load_config(str(path))
    assert checks == ["dreamer"] and loaded.config.deter_dim == 256 and loaded.params > 0
    checks.clear()
    from worldflux_cli.loading import report_of

    report = report_of("dreamer:size12m")
    assert checks == ["dreamer"] and report.config is not None and report.params


def test_the_skip_is_scoped_to_the_checked_construction(checks):
    """After a construction from checked values, the next constructor call checks again (and refuses)."""
    from worldflux_cli.config import ConfigurationError, TDMPC2Config

    TDMPC2Config.from_checked({"latent_dim": 64})
    assert checks == []
    with pytest.raises(ConfigurationError):
        TDMPC2Config(latent_dim=100)


# ---------------------------------------------------------------------------------- one exit code per failure

INVALID = '{"model_type": "tdmpc2", "latent_dim": 100}\n'


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    out = tmp_path / "out"
    return {
        "validate": ["validate", "{ref}"],
        "info": ["info", "{ref}"],
        "diff (first)": ["diff", "{ref}", "tdmpc2:5m"],
        "diff (second)": ["diff", "tdmpc2:5m", "{ref}"],
        "bench": ["bench", "{ref}", "--device", "cpu", "--steps", "1", "--warmup", "0"],
        "save": ["save", "{ref}", "-o", str(out)],
    }


@pytest.mark.parametrize("command", ["validate", "info", "diff (first)", "diff (second)", "bench", "save"])
def test_every_command_gives_the_same_exit_code_for_the_same_failure(command, cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(INVALID)
    base = tmp_path / "base.json"
    base.write_text('{"model_type": "base"}')
    argv = _commands(tmp_path)[command]
    cases = {
        "invalid": (str(bad), 1, "WF210"),
        "missing file": (str(tmp_path / "missing.json"), 2, "no such file"),
        "a folder": (str(tmp_path), 2, "is a folder"),
    }
    if command != "validate":  # validate checks files only; the others also take preset ids
        cases["unknown preset"] = ("tdmpc2:6m", 2, "unknown size preset")
    if command in ("info", "bench", "save"):  # these need a model; diff and validate take base configs too
        cases["builds no model"] = (str(base), 1, "builds no model")
    for case, (ref, code, text) in cases.items():
        r = cli(*[a.replace("{ref}", ref) for a in argv])
        assert r.exit_code == code, (command, case, r.output)
        assert "Traceback" not in r.output and "internal error" not in r.output
        assert text in r.output, (command, case, r.output)
    assert not (tmp_path / "out").exists()  # save wrote nothing


def test_push_gives_the_same_codes(cli, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(INVALID)
    (folder / "model.safetensors").write_bytes(b"")
    r = cli("push", str(folder), "--repo", "alice/x")
    assert r.exit_code == 1 and "WF210" in r.output
    r = cli("push", str(tmp_path / "missing"), "--repo", "alice/x")
    assert r.exit_code == 2 and "no such folder" in r.output


def test_bare_command_shows_help_and_succeeds_and_version(cli):
    from worldflux_cli import __version__

    r = cli()
    assert r.exit_code == 0 and "Usage" in r.output and "validate" in r.output
    r = cli("--version")
    assert r.exit_code == 0 and r.output.strip() == f"worldflux {__version__}"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{__version__}"' in pyproject
