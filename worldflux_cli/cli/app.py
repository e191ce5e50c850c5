"""The `worldflux` command: every subcommand wired in one place.

Command modules import only light modules at top level; torch, huggingface_hub and
safetensors are imported inside the commands that need them.
"""

from __future__ import annotations

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


app.command(rich_help_panel="Configs")(new)
app.command(rich_help_panel="Configs")(validate)
app.command(rich_help_panel="Configs")(diff)
app.command(rich_help_panel="Model zoo")(presets)
app.command(rich_help_panel="Configs")(schema)
app.command(rich_help_panel="Hub")(save)
app.command(rich_help_panel="Hub")(push)
app.command(rich_help_panel="Hub")(pull)
app.command(rich_help_panel="Model zoo")(bench)
app.command(rich_help_panel="Model zoo")(info)
app.command("import", rich_help_panel="Hub")(import_)
app.command(rich_help_panel="Hub")(export)
app.command(rich_help_panel="Training")(train)
app.command("eval", rich_help_panel="Training")(eval_)


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
