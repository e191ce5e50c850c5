"""The README's examples run: the tour's commands, and the validate example prints what it shows."""

from __future__ import annotations

import re
import shlex

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block_after(heading: str, lang: str) -> str:
    section = README[README.index(heading):]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def test_tour_commands_run(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = [line.split("#")[0].strip() for line in _block_after("## A short tour", "bash").splitlines()]
    commands = [shlex.split(line) for line in lines if line]
    assert len(commands) >= 5
    for argv in commands:
        assert argv[0] == "worldflux"
        result = cli(*argv[1:])
        allowed = (0, 1) if argv[1] == "diff" else (0,)  # diff exits 1 when the configs differ
        assert result.exit_code in allowed, (argv, result.output)
    assert (tmp_path / "dreamer50m.json").is_file() and (tmp_path / "walker.json").is_file()


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
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.params import count_params, human_count
    from worldflux_cli.presets import get_preset

    rows = re.findall(r"\| (dreamer|tdmpc2):(\w+) \| ([\d.]+M) \|", README)
    assert len(rows) == 9
    for family, name, shown in rows:
        config = FAMILIES[family].from_dict(get_preset(family, name).config_values())
        assert human_count(count_params(config).trainable) == shown, (family, name)
