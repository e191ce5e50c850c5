"""`worldflux schema`: print or rewrite the JSON Schemas generated from the config classes."""

from __future__ import annotations

from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.errors import EXIT_INVALID, WorldfluxError


@guarded
def schema(
    family: Annotated[str | None, typer.Argument(help="dreamer, tdmpc2 or base (a model config), run (a run file), "
                                                 "training or env (a run file's sections); all when absent.",
                                                 show_default=False)] = None,
    write: Annotated[bool, typer.Option("--write", help="Rewrite the schema files in schemas/.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when schemas/ differs from the classes.")] = False,
) -> None:
    """Print the JSON Schema (Draft 2020-12) of a config family or a run file, or rewrite schemas/.

    The schemas are generated from the config classes, the single source of field names,
    types, ranges, defaults and descriptions. The run file's schema embeds those of its
    sections (env, model, training).

    Examples:

      worldflux schema dreamer > dreamer.schema.json

      worldflux schema run

      worldflux schema --check
    """
    import json

    from worldflux_cli.config.documents import SCHEMAS, render_document_schema
    from worldflux_cli.config.registry import canonical_family, suggest
    from worldflux_cli.config.schema import committed_schema_path
    from worldflux_cli.fileio import write_atomic

    try:
        names = [family if family in SCHEMAS else canonical_family(family)] if family else list(SCHEMAS)
    except ValueError:  # unknown name: a usage error
        close = suggest(family, list(SCHEMAS))
        raise WorldfluxError(f"no schema named {family!r}" + (f"; did you mean {close!r}?" if close else ""),
                             "names: " + ", ".join(SCHEMAS)) from None
    if not (write or check):
        if family:
            typer.echo(render_document_schema(names[0]), nl=False)
        else:
            typer.echo(json.dumps({n: SCHEMAS[n]() for n in names}, indent=2))
        return
    stale = []
    for name in names:
        path = committed_schema_path(name)
        text = render_document_schema(name)
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
