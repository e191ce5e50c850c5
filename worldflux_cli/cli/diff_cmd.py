"""`worldflux diff`: what really differs between two configs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import Format, FormatOpt
from worldflux_cli.errors import EXIT_INVALID, EXIT_OK


def _load(ref: str) -> tuple[str, dict[str, Any], dict[str, Any] | None, int | None]:
    """(label, the model config's fields, the run's sections or None, trainable params) of a valid reference."""
    from worldflux_cli.loading import load_config

    loaded = load_config(ref, model=False, consequence="cannot compare it")
    run = None
    if loaded.run is not None:
        run = {**loaded.run.to_dict(), "model": loaded.run.model.resolved()}
    return loaded.label, loaded.config.resolved(), run, loaded.params


@guarded
def diff(
    a: Annotated[str, typer.Argument(help="First config: a file (a config or a run file), '-', a preset id "
                                          "(dreamer:size50m) or hf://ORG/NAME or hf://ORG/NAME@REV.",
                                     show_default=False)],
    b: Annotated[str, typer.Argument(help="Second config, same forms.", show_default=False)],
    format: FormatOpt = Format.text,
) -> None:
    """Compare two configs (or two run files) after defaults are filled, field by field.

    Lists changed, added and removed fields by JSON path and the change in trainable
    parameters. DreamerV3 fields left null take their variant's value before the comparison,
    so a change of `variant` lists every value it changes. Two run files are compared section
    by section ($.training.batch_size); a run file and a model config, by the run's model.
    Exit code 0: equal; 1: different, or a side is invalid (its problems are printed); 2: a
    side could not be read.

    Examples:

      worldflux diff my.json dreamer:size50m

      worldflux diff dreamer:size25m dreamer:size50m --format json

      worldflux diff run-a.json run-b.json
    """
    from worldflux_cli.config.problems import jsonpath
    from worldflux_cli.diff import DiffResult, diff_values

    label_a, va, run_a, pa = _load(a)
    label_b, vb, run_b, pb = _load(b)
    if run_a is not None and run_b is not None:  # two runs: every section
        va, vb = run_a, run_b
    elif run_a is not None or run_b is not None:
        run_label = label_a if run_a is not None else label_b
        typer.echo(f"note: comparing the model of run file {run_label} with a model config", err=True)
    result = DiffResult(label_a, label_b, diff_values(va, vb), pa, pb)
    if format is Format.json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    elif result.equal:
        typer.echo(f"{label_a} and {label_b} are equal (after defaults)")
    else:
        typer.echo(f"--- {label_a}\n+++ {label_b}")
        mark = {"changed": "~", "added": "+", "removed": "-"}
        for c in result.changes:
            if c.kind == "changed":
                typer.echo(f"{mark[c.kind]} {jsonpath(c.path)}: {json.dumps(c.a)} -> {json.dumps(c.b)}")
            else:
                typer.echo(f"{mark[c.kind]} {jsonpath(c.path)}: {json.dumps(c.a if c.kind == 'removed' else c.b)}")
        if pa is not None and pb is not None:
            delta = pb - pa
            pct = f" ({delta / pa:+.1%})" if pa else ""
            typer.echo(f"trainable parameters: {pa:,} -> {pb:,}: {delta:+,}{pct}")
        typer.echo(f"{len(result.changes)} difference(s)")
    raise typer.Exit(EXIT_OK if result.equal else EXIT_INVALID)
