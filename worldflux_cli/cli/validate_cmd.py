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
    max_problems: Annotated[int | None, typer.Option("--max-problems", min=0, max=10**9,
                                                     help="Problems shown per file; 0 shows all. The summary "
                                                     "counts all of them.",
                                                     show_default="50 for text and github, all for json")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Also check that each valid config fits this "
                                            "environment (obs_shape, action_dim, action_type): an env id such as "
                                            "dmc:walker-walk, gym:Pendulum-v1 or dmc:cartpole-balance?obs=pixels; "
                                            "'run' checks each run file against its own env. Builds the "
                                            "environment: needs `pip install worldflux[envs]`.",
                                            show_default=False)] = None,
) -> None:
    """Check config files and run files: JSON Schema plus the rules a schema cannot say.

    Reports every problem at once, each with a stable code (WF101...), its JSON path,
    line:column, and a hint. A run file (model, env and training sections) is checked as a
    whole: a problem in a section has its path there, e.g. $.training.batch_size. With
    --env, a config whose shapes do not fit the environment is an error (WF430-WF432) whose
    hint names the environment's values. Exit code 0: all valid; 1: any invalid; 2: a file
    could not be read, or the environment could not be built.

    Examples:

      worldflux validate config.json

      worldflux validate runs/*.json --format json

      cat config.json | worldflux validate -

      worldflux validate config.json --format github   # in a GitHub Actions step

      worldflux validate run.json --env run            # the run's model against its own env

      worldflux validate walker.json --env dmc:walker-walk
    """
    from worldflux_cli.config.problems import Problem
    from worldflux_cli.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK
    from worldflux_cli.loading import report_of
    from worldflux_cli.sources import SourceError
    from worldflux_cli.validation.report import DEFAULT_LIMIT, RENDERERS, use_colour
    from worldflux_cli.validation.validate import FileReport

    fit = None
    if env is not None:  # imports the environment libraries: only when asked
        from worldflux_cli.envs.fit import fit_check

        fit = fit_check(env)
    reports, unreadable = [], False
    for ref in files:
        try:
            reports.append(report_of(ref, allow_presets=False, fit=fit))
        except SourceError as exc:
            unreadable = True
            reports.append(FileReport(ref, [Problem("WF008", "error", exc.message, exc.hint)]))
    colour = use_colour(sys.stdout)
    default = None if format is ValidateFormat.json else DEFAULT_LIMIT
    limit = default if max_problems is None else (max_problems or None)
    text = RENDERERS[format.value](reports, strict=strict, colour=colour, limit=limit)
    if text:
        typer.echo(text, color=colour)  # click strips ANSI codes off a non-terminal unless told
    if unreadable:
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_OK if all(r.valid(strict) for r in reports) else EXIT_INVALID)
