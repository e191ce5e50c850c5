"""The README's examples run: the tour's commands, and the validate example prints what it shows."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(heading: str, lang: str) -> str:
    section = README[README.index(heading):]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def _shell_lines(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _run_as_printed(lines: list[str], cwd) -> list[tuple[str, int, str]]:
    """Run ``lines`` in one bash process, as a user would type them; (line, exit code, output) each."""
    script = "\n".join(f"{line}\necho \"@@rc $? {i}\"" for i, line in enumerate(lines))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out, results, rest = proc.stdout, [], proc.stdout
    for i, line in enumerate(lines):
        before, marker, rest = rest.partition("@@rc ")
        code, _, rest = rest.partition("\n")
        rc, index = map(int, code.split())
        assert index == i, out
        results.append((line, rc, before))
    return results


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "worldflux").exists(),
                    reason="the README's set-up (bash scripts/test.sh) makes .venv/; not here")
def test_set_up_and_tour_run_exactly_as_printed(tmp_path):
    """The activation line and every tour command, in a shell, from a folder that has the README's .venv."""
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    setup = _shell_lines(_block_after("Both install into `.venv/`", "bash"))
    tour = _shell_lines(_block_after("## A short tour", "bash"))
    assert tour[0].startswith("source .venv/bin/activate") and len(tour) >= 6
    for line, rc, output in _run_as_printed(setup + tour, tmp_path):
        allowed = (0, 1) if line.startswith("worldflux diff") else (0,)  # diff exits 1 when the configs differ
        assert rc in allowed, (line, rc, output)
    assert (tmp_path / "dreamer50m.json").is_file() and (tmp_path / "walker.json").is_file()


def test_tour_commands_run_in_process(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = [line.split("#")[0].strip() for line in _shell_lines(_block_after("## A short tour", "bash"))]
    commands = [shlex.split(line) for line in lines if line.startswith("worldflux ")]
    assert len(commands) >= 5
    for argv in commands:
        result = cli(*argv[1:])
        allowed = (0, 1) if argv[1] == "diff" else (0,)
        assert result.exit_code in allowed, (argv, result.output)


def test_validate_example_output_is_true(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    section = "### Checking configs"
    (tmp_path / "bad.json").write_text(_block_after(section, "json"), encoding="utf-8")
    shown = _block_after(section, "text")
    command, expected = shown.split("\n", 1)
    result = cli(*shlex.split(command.removeprefix("$ "))[1:])
    assert result.exit_code == 1
    assert result.stdout == expected


def test_preset_table_matches_the_counter():
    from worldflux_cli.config.presets import get_preset
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.params import count_params, human_count

    rows = re.findall(r"\| (dreamer|tdmpc2):([\w-]+) \| ([\d.]+[KM]) \|", README)
    assert len(rows) == 21
    for family, name, shown in rows:
        config = FAMILIES[family].from_dict(get_preset(family, name).config_values())
        assert human_count(count_params(config).trainable) == shown, (family, name)


def test_training_recipe_writes_the_run_the_learning_benchmark_ran(cli, tmp_path, monkeypatch):
    """The README's training block: its `new` (with its line continuations) makes a valid run, and that run is
    the kept run file of the learning curve the README quotes, but for the steps and the log interval."""
    import json

    monkeypatch.chdir(tmp_path)
    block = _block_after("### Training: `worldflux train`, `eval`", "bash").replace("\\\n", " ")
    lines = [line.split("#")[0].strip() for line in _shell_lines(block)]
    new = next(shlex.split(line) for line in lines if line.startswith("worldflux new"))
    assert cli(*new[1:]).exit_code == 0
    out = tmp_path / new[new.index("-o") + 1]
    assert cli("info", str(out)).exit_code == 0
    ours = json.loads(out.read_text())
    kept = json.loads((ROOT / "benchmarks/learning/tdmpc2/cartpole-balance/seed0.run.json").read_text())
    for run in (ours, kept):
        run.pop("$schema", None)
        run["training"].pop("total_steps"), run["training"].pop("log_interval")
    assert ours == kept
