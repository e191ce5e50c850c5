"""`worldflux new`: write a config from a size preset."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.errors import InvalidInput, WorldfluxError


@guarded
def new(
    model: Annotated[str, typer.Option("--model", "-m", help="Model family: dreamer (DreamerV3) or tdmpc2 "
                                       "(TD-MPC2); aliases such as dreamerv3 and tdmpc work.")],
    size: Annotated[str, typer.Option("--size", "-s", help="Size preset, e.g. size50m or 5m; "
                                      "see `worldflux presets`.")],
    obs_shape: Annotated[str | None, typer.Option("--obs-shape", help="Observation shape: 3,64,64 for "
                                                  "images (C,H,W), 39 for vectors. Default: the preset's.")] = None,
    action_dim: Annotated[int | None, typer.Option("--action-dim", help="Number of actions / action "
                                                   "dimensions. Default: the preset's.")] = None,
    action_type: Annotated[str | None, typer.Option("--action-type", help="discrete or continuous.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a field, typed by the schema: "
                                                   "--set gru_blocks=16 --set loss_scales.kl=0.5 "
                                                   "(repeatable).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (atomically); "
                                                "standard output when absent.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")] = False,
) -> None:
    """Write a config file from a size preset, validated before it is written.

    The file carries "$schema" so editors autocomplete and check it. When overrides change
    a dimension the preset fixes, the config is renamed (e.g. size50m-custom) and the tool
    says so: a preset's name promises its dimensions.

    Examples:

      worldflux new --model dreamer --size size50m -o dreamer50m.json

      worldflux new --model tdmpc2 --size 5m --obs-shape 24 --action-dim 4

      worldflux new -m dreamer -s tiny --set gru_blocks=2 -o tiny.json
    """
    from worldflux_cli.new_config import new_config
    from worldflux_cli.validation.report import render_text
    from worldflux_cli.validation.validate import validate_bytes, with_param_count

    if output is not None and output.exists() and not force:
        raise WorldfluxError(f"{output} exists; not overwriting it", "pass --force to replace it, or choose another -o")
    if output is not None and not output.parent.is_dir():
        raise WorldfluxError(f"folder {output.parent} does not exist", "create it first, or choose another -o")
    try:
        made = new_config(model, size, obs_shape=obs_shape, action_dim=action_dim, action_type=action_type,
                          sets=set_ or [])
    except ValueError as exc:  # unknown family or preset, bad --set / --obs-shape: bad usage
        message = getattr(exc, "message", str(exc))
        raise WorldfluxError(message, getattr(exc, "hint", "") or "see `worldflux new --help`") from None
    text = made.render()
    report = with_param_count(validate_bytes(text.encode(), str(output or "<new config>")))
    for note in made.notes:
        print(f"note: {note}", file=sys.stderr)
    if not report.valid():
        raise InvalidInput("the overrides make an invalid config; nothing was written", "fix the values above",
                           details=render_text([report]).splitlines())
    summary = f"{made.family} {made.values['model_name']}"
    if report.params:
        summary += f": {report.params:,} trainable parameters"
    if output is None:
        sys.stdout.write(text)
        print(summary, file=sys.stderr)
        return
    from worldflux_cli.fileio import write_atomic

    write_atomic(output, text)
    print(f"wrote {output} ({summary})", file=sys.stderr)
