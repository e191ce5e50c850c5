"""`worldflux schema`: print or rewrite the JSON Schemas generated from the config classes."""

from __future__ import annotations

from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.errors import EXIT_INVALID, WorldfluxError


@guarded
def schema(
    family: Annotated[str | None, typer.Argument(help="dreamer, tdmpc2 or base; all when absent.",
                                                 show_default=False)] = None,
    write: Annotated[bool, typer.Option("--write", help="Rewrite the schema files in schemas/.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when schemas/ differs from the classes.")] = False,
) -> None:
    """Print the JSON Schema (Draft 2020-12) of a config family, or rewrite schemas/.

    The schemas are generated from the config classes, the single source of field names,
    types, ranges, defaults and descriptions.

    Examples:

      worldflux schema dreamer > dreamer.schema.json

      worldflux schema --check
    """
    import json

    from worldflux_cli.config.registry import FAMILIES, canonical_family
    from worldflux_cli.config.schema import build_schema, committed_schema_path, render_schema
    from worldflux_cli.fileio import write_atomic

    try:
        names = [canonical_family(family)] if family else list(FAMILIES)
    except ValueError as exc:  # unknown family: a usage error
        raise WorldfluxError(exc.message, "families: " + ", ".join(FAMILIES)) from None
    if not (write or check):
        if family:
            typer.echo(render_schema(FAMILIES[names[0]]), nl=False)
        else:
            typer.echo(json.dumps({n: build_schema(FAMILIES[n]) for n in names}, indent=2))
        return
    stale = []
    for name in names:
        path = committed_schema_path(name)
        text = render_schema(FAMILIES[name])
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(str(path))
        if write:
            if not path.parent.is_dir():
                raise WorldfluxError(f"{path.parent} does not exist", "run from a source checkout of worldflux")
            write_atomic(path, text)
            typer.echo(f"wrote {path}")
    if check and stale and not write:
        typer.echo("out of date: " + ", ".join(stale) + " (run `worldflux schema --write`)", err=True)
        raise typer.Exit(EXIT_INVALID)
    if not stale:
        typer.echo("schemas are up to date")
