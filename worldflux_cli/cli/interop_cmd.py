"""`worldflux import` and `worldflux export`: official TD-MPC2 checkpoints in and out (torch imported inside)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import Format, FormatOpt
from worldflux_cli.errors import EXIT_FAILED, WorldfluxError


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        dims = tuple(int(x) for x in text.replace("x", ",").split(",") if x.strip())
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise WorldfluxError(f"--obs-shape {text!r} is not a shape", "write it as 39 or 3,64,64",
                             exit_code=EXIT_FAILED)
    return dims


@guarded
def import_(
    checkpoint: Annotated[Path, typer.Argument(help="Official TD-MPC2 checkpoint (.pt, {'model': state_dict}).",
                                               show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder to write (created; must be empty "
                                         "unless --force).", show_default=False)],
    obs_shape: Annotated[str | None, typer.Option("--obs-shape", help="Observation shape, e.g. 39 or 3,64,64 "
                                                  "(vectors: read from the weights; pixels: 3,64,64).")] = None,
    action_dim: Annotated[int | None, typer.Option("--action-dim", min=1, help="Action dimensions (checked "
                                                   "against the weights).")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Task name, kept as the config's model_name "
                                             "(e.g. dog-run, mt80).")] = None,
    episode_length: Annotated[int | None, typer.Option("--episode-length", min=1, help="Steps per episode: "
                                                       "sets the official derived discount.")] = None,
    discount: Annotated[float | None, typer.Option("--discount", min=0.0, max=1.0,
                                                   help="Discount (overrides the derived one).")] = None,
    simnorm_dim: Annotated[int, typer.Option("--simnorm-dim", min=1, help="SimNorm group size (not in "
                                             "the file).")] = 8,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Import an official TD-MPC2 checkpoint into a worldflux model folder (config.json, model.safetensors,
    README.md) that load_pretrained, info, bench and push take.

    The file is read with torch.load(weights_only=True): pickled code is refused. The config comes from the
    weights' shapes plus the options (what the file cannot hold). Every key is accounted for: unknown,
    missing or mis-shaped keys are listed and nothing is written. The official agent's running Q scale is
    not in the file: the model starts with q_scale 1.

    Exit code 0: imported; 1: refused (not a TD-MPC2 checkpoint, keys that do not fit, pickled code);
    2: could not read the file or write the folder.

    Examples:

      worldflux import dog-run-5.pt -o dog-run-5 --episode-length 1000 --task dog-run

      worldflux import mt80-317M.pt -o mt80-317m --task mt80
    """
    from worldflux_cli.hub.pretrained import save_pretrained
    from worldflux_cli.interop.tdmpc2 import import_checkpoint

    given = {"obs_shape": _shape(obs_shape), "action_dim": action_dim, "episode_length": episode_length,
             "discount": discount, "simnorm_dim": simnorm_dim, "model_name": task}
    model, config = import_checkpoint(checkpoint, **given)
    files = save_pretrained(model, config, output, force=force)
    params = sum(model.component_params().values())
    data = {"dir": str(output), "files": files, "model_type": "tdmpc2", "params": params,
            "obs_shape": list(config.obs_shape), "action_dim": config.action_dim, "num_tasks": config.num_tasks}
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"imported {checkpoint} to {output}/ (tdmpc2, {params:,} trainable parameters, obs "
               f"{list(config.obs_shape)}, {config.action_dim} actions, {config.num_tasks} task(s))")
    typer.echo(f"next: worldflux info {output / 'config.json'}")


@guarded
def export(
    folder: Annotated[Path, typer.Argument(help="worldflux model folder (config.json, model.safetensors).",
                                           show_default=False)],
    to: Annotated[str, typer.Option("--to", help="Target format: tdmpc2 (the official .pt layout).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.", show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file (or a symbolic link there: "
                                        "the link itself).")] = False,
) -> None:
    """Export a worldflux TD-MPC2 model folder as an official TD-MPC2 checkpoint ({'model': state_dict}).

    The official agent's load() takes the file. Import then export gives the same tensors bit for bit.

    Exit code 0: written; 1: refused (not a TD-MPC2 model, or one the official code cannot hold);
    2: could not read the folder or write the file.

    Examples:

      worldflux export dog-run-5 --to tdmpc2 -o dog-run-5.pt
    """
    from worldflux_cli.hub.pretrained import load_pretrained
    from worldflux_cli.interop.tdmpc2 import export_checkpoint

    if to != "tdmpc2":
        raise WorldfluxError(f"--to {to!r} is not a format worldflux exports", "use --to tdmpc2",
                             exit_code=EXIT_FAILED)
    from worldflux_cli.fileio import check_output

    check_output(output, force)  # a new path or a regular file (with --force); never a device or a link
    model, config = load_pretrained(folder)
    if config.family != "tdmpc2":
        raise WorldfluxError(f"{folder} holds a {config.family} model, not TD-MPC2", "export a TD-MPC2 folder",
                             exit_code=1)
    export_checkpoint(model, output)
    typer.echo(f"exported {folder} to {output} (official TD-MPC2 layout)")
