"""`worldflux validate`: check config files, every problem at once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import ValidateFormat


@guarded
def validate(
    files: Annotated[list[str], typer.Argument(help="Config files to check; '-' reads standard input; hf://ORG/NAME "
                                                    "or hf://ORG/NAME@REV reads config.json from the Hub.",
                                               show_default=False)],
    format: Annotated[ValidateFormat, typer.Option("--format", "-f", help="text (the offending line under each "
                                                   "problem), json (a stable contract) or github (workflow "
                                                   "annotations).", case_sensitive=False)] = ValidateFormat.text,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check config files: JSON Schema plus the rules a schema cannot say.

    Reports every problem at once, each with a stable code (WF101...), its JSON path,
    line:column, and a hint. Exit code 0: all valid; 1: any invalid; 2: a file could not
    be read.

    Examples:

      worldflux validate config.json

      worldflux validate runs/*.json --format json

      cat config.json | worldflux validate -

      worldflux validate config.json --format github   # in a GitHub Actions step
    """
    from worldflux_cli.config.problems import Problem
    from worldflux_cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK
    from worldflux_cli.loading import report_of
    from worldflux_cli.sources import SourceError
    from worldflux_cli.validation.report import RENDERERS, use_colour
    from worldflux_cli.validation.validate import FileReport

    reports, unreadable = [], False
    for ref in files:
        try:
            reports.append(report_of(ref, allow_presets=False))
        except SourceError as exc:
            unreadable = True
            reports.append(FileReport(ref, [Problem("WF008", "error", exc.message, exc.hint)]))
    colour = use_colour(sys.stdout)
    text = RENDERERS[format.value](reports, strict=strict, colour=colour)
    if text:
        typer.echo(text, color=colour)  # click strips ANSI codes off a non-terminal unless told
    if unreadable:
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_OK if all(r.valid(strict) for r in reports) else EXIT_INVALID)
