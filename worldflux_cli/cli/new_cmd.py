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
                                                   "(repeatable); with --env, --set training.batch_size=32 "
                                                   "sets a training field.")] = None,
    env: Annotated[str | None, typer.Option("--env", "-e", help="Write a run file for this environment instead "
                                            "of a model config: dmc:DOMAIN-TASK or gym:ID, with options such as "
                                            "?obs=pixels&action_repeat=2&episode_length=500&image_size=64. The "
                                            "model's obs_shape, action_dim and action_type come from the "
                                            "environment (built once: needs `pip install worldflux[envs]`).",
                                            show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here (atomically); "
                                                "standard output when absent.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file (or a symbolic link "
                                        "there: the link itself, not what it points to).")] = False,
) -> None:
    """Write a config file from a size preset (or, with --env, a run file), validated before it is written.

    The file carries "$schema" so editors autocomplete and check it. When overrides change
    a dimension the preset fixes, the config is renamed (e.g. size50m-custom) and the tool
    says so: a preset's name promises its dimensions.

    With --env the file is a run file: the env section (with its action repeat and episode
    length), the model config shaped for that environment, and the training section with
    its defaults (null values mean the model's own).

    Examples:

      worldflux new --model dreamer --size size50m -o dreamer50m.json

      worldflux new --model tdmpc2 --size 5m --obs-shape 24 --action-dim 4

      worldflux new -m dreamer -s tiny --set gru_blocks=2 -o tiny.json

      worldflux new -m tdmpc2 -s 5m --env dmc:walker-walk -o run.json

      worldflux new -m dreamer -s size12m --env 'dmc:cartpole-balance?obs=pixels' --set training.batch_size=32
    """
    from worldflux_cli.new_config import new_config
    from worldflux_cli.validation.report import render_text
    from worldflux_cli.validation.validate import validate_bytes, with_param_count

    if output is not None:
        from worldflux_cli.fileio import check_output

        check_output(output, force)
    if env is not None and (obs_shape, action_dim, action_type) != (None, None, None):
        raise WorldfluxError("--obs-shape, --action-dim and --action-type come from --env; give one or the other",
                             "drop them: the environment decides the model's shapes")
    try:
        if env is not None:
            from worldflux_cli.new_config import new_run

            made = new_run(model, size, env, sets=set_ or [])
        else:
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
        what = f"this run ({made.model.family} in {env})" if env is not None else "the overrides"
        raise InvalidInput(f"{what} make{'s' if env is not None else ''} an invalid config; nothing was written",
                           "fix the values above" if env is None else "follow the hints above: --set the fields "
                           "they name (training.* for the training section), or choose another preset or other env "
                           "options", details=render_text([report]).splitlines())
    summary = f"{made.family} {made.values['model_name']}" if env is None else \
        f"run: {made.model.family} {made.model.values['model_name']} in {made.env['id']}, obs " \
        f"{made.model.values['obs_shape']}, {made.model.values['action_dim']} {made.model.values['action_type']} " \
        f"action(s), {made.env['episode_length']} steps per episode"
    if report.params:
        summary += f": {report.params:,} trainable parameters"
    if output is None:
        sys.stdout.write(text)
        print(summary, file=sys.stderr)
        return
    from worldflux_cli.fileio import write_atomic

    write_atomic(output, text)
    print(f"wrote {output} ({summary})", file=sys.stderr)
