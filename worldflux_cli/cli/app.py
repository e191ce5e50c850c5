"""The `worldflux` command: every subcommand wired in one place.

Command modules import only light modules at top level; torch, huggingface_hub and
safetensors are imported inside the commands that need them.
"""

from __future__ import annotations

import inspect
import sys
from typing import Annotated

import typer

from worldflux_cli.cli.bench_cmd import bench
from worldflux_cli.cli.diff_cmd import diff
from worldflux_cli.cli.errors import debug_enabled, print_error
from worldflux_cli.cli.hub_cmd import pull, push, save
from worldflux_cli.cli.info_cmd import info
from worldflux_cli.cli.interop_cmd import export, import_
from worldflux_cli.cli.new_cmd import new
from worldflux_cli.cli.presets_cmd import presets
from worldflux_cli.cli.schema_cmd import schema
from worldflux_cli.cli.train_cmd import eval_, train
from worldflux_cli.cli.validate_cmd import validate
from worldflux_cli.errors import EXIT_FAILED, EXIT_INTERNAL

app = typer.Typer(
    name="worldflux",
    help="Configs, checks, honest presets and benchmarks for latent world models (DreamerV3, TD-MPC2).\n\n"
    "Start with `worldflux presets`, then `worldflux new --model dreamer --size tiny -o cfg.json` and "
    "`worldflux validate cfg.json`.",
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



def _version(value: bool) -> None:
    if value:
        from worldflux_cli import __version__

        typer.echo(f"worldflux {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", "-V", help="Print the version and exit.",
                                          callback=_version, is_eager=True)] = False,
) -> None:
    if ctx.invoked_subcommand is None:  # bare `worldflux`: the help, and success
        typer.echo(ctx.get_help())
        raise typer.Exit()


def _reflowed(fn) -> str:
    """A command's docstring with each paragraph on one line, so the help wraps to the terminal's width
    (Typer keeps a docstring's line breaks: lines wider than the terminal would break twice). Lines of a
    list ("- ...") and indented lines (examples) keep their own line."""
    paragraphs = []
    for block in inspect.cleandoc(fn.__doc__ or "").split("\n\n"):
        lines = block.splitlines()
        keep = any(line.startswith(("- ", "  ")) for line in lines)
        paragraphs.append(block if keep else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


for name, panel, fn in (
    ("new", "Configs", new), ("validate", "Configs", validate), ("diff", "Configs", diff),
    ("presets", "Model zoo", presets), ("schema", "Configs", schema), ("save", "Hub", save),
    ("push", "Hub", push), ("pull", "Hub", pull), ("bench", "Model zoo", bench), ("info", "Model zoo", info),
    ("import", "Hub", import_), ("export", "Hub", export), ("train", "Training", train), ("eval", "Training", eval_),
):
    app.command(name, rich_help_panel=panel, help=_reflowed(fn))(fn)


def main() -> None:
    """Console-script entry point."""
    if sys.stdout is None:  # started with standard output closed (`worldflux ... >&-`): nowhere to answer
        print_error("standard output is closed", "run the command with its output open (or redirected to a file)")
        sys.exit(EXIT_FAILED)
    for stream in (sys.stdout, sys.stderr):  # a character that cannot be encoded is shown, never a crash
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        app()
    except Exception as exc:  # a bug that escaped a command's own handling
        if debug_enabled():
            raise
        print_error(f"internal error: {type(exc).__name__}: {exc}",
                    "rerun with WORLDFLUX_DEBUG=1 for the traceback, and please report it")
        sys.exit(EXIT_INTERNAL)
