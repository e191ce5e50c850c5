"""The CLI reference page says what `worldflux CMD --help` says, for every command, option and example.

The page is generated at build time by docs/_ext/docs_gen.py. These tests read the Markdown it
generates and compare it, row by row, with two independent sources: the click command behind the
Typer app, and the text `worldflux CMD --help` prints (through the CLI runner, on a wide terminal).
"""

from __future__ import annotations

import re
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from tests.conftest import ROOT
from worldflux_cli.cli.app import app

sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import docs_gen  # noqa: E402

BOX = "│╭╮╰╯─┃┏┓┗┛━"


def _click_commands() -> list[tuple[str, object, object]]:
    """(command path, command, context) for `worldflux` and each subcommand, walked from the Typer app."""
    root = typer.main.get_command(app)
    root_ctx = root.context_class(root, info_name="worldflux", **root.context_settings)
    out = [("worldflux", root, root_ctx)]
    for name in root.list_commands(root_ctx):
        cmd = root.get_command(root_ctx, name)
        out.append((f"worldflux {name}", cmd, cmd.context_class(cmd, info_name=name, parent=root_ctx,
                                                                  **cmd.context_settings)))
    return out


COMMANDS = _click_commands()


def _split_row(row: str) -> list[str]:
    """The cells of a Markdown table row: split on | outside code spans and not escaped."""
    cells, cell, in_code, i = [], "", False, 0
    row = row.strip().removeprefix("|").removesuffix("|")
    while i < len(row):
        ch = row[i]
        if ch == "\\" and not in_code and i + 1 < len(row):
            cell += row[i:i + 2]
            i += 2
            continue
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
        i += 1
    cells.append(cell.strip())
    return cells


def _unescape(md: str) -> str:
    """Markdown text back to the plain text it shows: backslash escapes and &lt; outside code spans."""
    parts = re.split(r"(`[^`]*`)", md)
    return "".join(p if p.startswith("`") else re.sub(r"\\(.)", r"\1", p).replace("&lt;", "<") for p in parts)


def _codes(cell: str) -> list[str]:
    return re.findall(r"`([^`]*)`", cell)


@pytest.fixture(scope="module")
def page() -> dict[str, dict]:
    """The generated page, parsed: command path -> {"prose": [...], "examples": [...], "params": {name: row}}."""
    text = docs_gen.cli_reference()
    sections = re.split(r"^## (worldflux[\w -]*?) \{ #[\w-]+ \}$", text, flags=re.M)
    parsed = {}
    for path, body in zip(sections[1::2], sections[2::2], strict=True):
        prose = [_unescape(p.strip()) for p in body.split("**Usage:**")[0].split("\n\n") if p.strip()]
        examples = re.findall(r"```bash\n(.*?)```", body, re.S)
        params = {}
        for line in body.splitlines():
            if not line.startswith("| `"):
                continue
            names, type_, default, help_ = _split_row(line)
            params[_codes(names)[0]] = {"names": _codes(names), "type": (_codes(type_) or [""])[0],
                                        "default": default, "help": _unescape(help_)}
        parsed[path] = {"prose": prose, "examples": examples[0].splitlines() if examples else [], "params": params,
                        "usage": re.search(r"\*\*Usage:\*\* `([^`]*)`", body).group(1)}
    return parsed


def _help_output(path: str) -> str:
    args = path.split()[1:] + ["--help"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "2000", "NO_COLOR": "1"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _as_shown(text: str, cmd) -> str:
    """Help text as the terminal shows it: the app's Rich markup mode turns ``[...]`` into styles."""
    if getattr(cmd, "rich_markup_mode", None) == "rich":
        from rich.text import Text

        return Text.from_markup(text).plain
    return text


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_command_has_a_section(page):
    assert list(page) == [path for path, _, _ in COMMANDS]


@pytest.mark.parametrize(("path", "cmd", "ctx"), COMMANDS, ids=[p for p, _, _ in COMMANDS])
def test_parameters_match_the_click_command(page, path, cmd, ctx):
    """Every argument and option: its names and help text in the page equal the click command's."""
    params = cmd.get_params(ctx)
    documented = page[path]["params"]
    assert len(documented) == len(params), sorted(documented)
    for param in params:
        names = [*param.opts, *param.secondary_opts]
        row = documented[next((n for n in names if n.startswith("--")), names[0])]
        assert sorted(row["names"]) == sorted(names)
        assert row["help"] == _flat(_as_shown(getattr(param, "help", None) or "", cmd)), param.opts
        assert (row["default"] == "required") == bool(param.required)


@pytest.mark.parametrize(("path", "cmd", "ctx"), COMMANDS, ids=[p for p, _, _ in COMMANDS])
def test_page_matches_help_output(page, path, cmd, ctx):
    """What `--help` prints: each option's row has the page's names, type, help, default; the prose and
    the examples of the page are the help text's."""
    output = _help_output(path)
    rows = [_flat(line.strip().strip(BOX)) for line in output.splitlines() if line.strip().startswith("│")]
    documented = page[path]["params"]
    for first, row in documented.items():
        key = first  # the first long name of an option (as --help shows it first), or the argument's name
        matches = [r for r in rows if r.removeprefix("* ").split(" ")[0] == key]
        assert len(matches) == 1, (key, rows)
        shown = matches[0]
        assert _flat(row["help"]) in shown, (row["help"], shown)
        for name in row["names"]:
            assert name in shown.split(" "), (name, shown)
        if row["type"]:
            assert row["type"].split(" [")[0] in shown, (row["type"], shown)
        if row["default"] == "required":
            assert shown.startswith("* ") and shown.endswith("[required]"), shown
        elif row["default"]:
            assert f"[default: {_codes(row['default'])[0]}]" in shown, (row["default"], shown)
        else:
            assert "[default:" not in shown, shown
    option_rows = [r for r in rows if r.removeprefix("* ").startswith("-")]
    assert len(option_rows) == sum(1 for k in documented if k.startswith("-")), option_rows
    text = _flat("\n".join(line for line in output.splitlines() if not line.strip().startswith(tuple(BOX))))
    for paragraph in page[path]["prose"]:
        assert _flat(paragraph) in text, paragraph
    for example in page[path]["examples"]:
        assert _flat(example) in text, example
    assert _flat(page[path]["usage"]) in text


def test_help_examples_are_all_in_the_page(page):
    """No example of a command's help is left out of the page."""
    for path, cmd, _ in COMMANDS:
        help_text = cmd.help or ""
        if "Examples:" not in help_text:
            continue
        shown = [_as_shown(line.strip(), cmd) for line in help_text.split("Examples:", 1)[1].splitlines()
                 if line.strip()]
        assert shown == page[path]["examples"], path
