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


def _is_dreamerv3(path: Path) -> bool:
    """A folder (an official DreamerV3 run, its ckpt/ or a save folder) or an agent*.pkl file; else TD-MPC2 (.pt)."""
    return path.is_dir() or (path.suffix == ".pkl" and path.name.startswith("agent"))


@guarded
def import_(
    checkpoint: Annotated[Path, typer.Argument(help="Official checkpoint: a TD-MPC2 .pt file ({'model': state_dict}), "
                                               "or a DreamerV3 run folder (its logdir, with ckpt/latest), one of "
                                               "its save folders, or an agent.pkl.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder to write (created; must be empty "
                                         "unless --force).", show_default=False)],
    obs_shape: Annotated[str | None, typer.Option("--obs-shape", help="Observation shape, e.g. 39 or 3,64,64 "
                                                  "(vectors: read from the weights; TD-MPC2 pixels: 3,64,64; "
                                                  "DreamerV3 images: square unless given).")] = None,
    action_dim: Annotated[int | None, typer.Option("--action-dim", min=1, help="Action dimensions (checked "
                                                   "against the weights).")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Task name, kept as the config's model_name "
                                             "(e.g. dog-run, mt80).")] = None,
    episode_length: Annotated[int | None, typer.Option("--episode-length", min=1, help="TD-MPC2: steps per "
                                                       "episode: sets the official derived discount.")] = None,
    discount: Annotated[float | None, typer.Option("--discount", min=0.0, max=1.0,
                                                   help="TD-MPC2: discount (overrides the derived one).")] = None,
    simnorm_dim: Annotated[int, typer.Option("--simnorm-dim", min=1, help="TD-MPC2: SimNorm group size (not in "
                                             "the file).")] = 8,
    stoch: Annotated[int | None, typer.Option("--stoch", min=1, help="DreamerV3: categorical latents (read from "
                                              "config.yaml when the run folder has it; else 32, the official "
                                              "value).")] = None,
    strided: Annotated[bool | None, typer.Option("--strided/--no-strided", help="DreamerV3: the CNN's 'strided' "
                                                 "form (read from config.yaml when the run folder has it; the "
                                                 "weights cannot tell; else not strided).",
                                                 show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Import an official TD-MPC2 or DreamerV3 checkpoint into a worldflux model folder (config.json,
    model.safetensors, README.md) that load_pretrained, info, bench and push take.

    TD-MPC2 (nicklashansen/tdmpc2): a .pt file, read with torch.load(weights_only=True): pickled code is
    refused. DreamerV3 (danijar/dreamerv3): a run folder; its pickles are read by an unpickler that allows
    numeric numpy arrays and plain containers only and refuses anything else by name. The config comes from
    the weights' shapes (and DreamerV3's config.yaml) plus the options (what the files cannot hold). Every
    key is accounted for: unknown, missing or mis-shaped keys are listed and nothing is written. A DreamerV3
    folder also gets official.safetensors: what the checkpoint holds beside the weights (optimizer moments
    and counters, key names), so that export writes the same tensors back. The official TD-MPC2 agent's
    running Q scale is not in its file: the model starts with q_scale 1.

    Exit code 0: imported; 1: refused (not a checkpoint worldflux reads, keys that do not fit, pickled code,
    settings worldflux does not build); 2: could not read the files or write the folder.

    Examples:

      worldflux import dog-run-5.pt -o dog-run-5 --episode-length 1000 --task dog-run

      worldflux import ~/logdir/walker -o walker-dreamerv3 --task walker-walk
    """
    from worldflux_cli.hub.pretrained import save_pretrained

    shape = _shape(obs_shape)
    if _is_dreamerv3(checkpoint):
        from worldflux_cli.interop.dreamerv3 import import_checkpoint as import_dreamer
        from worldflux_cli.interop.dreamerv3 import write_extra

        given = {"obs_shape": shape, "action_dim": action_dim, "model_name": task, "stoch_discrete": stoch,
                 "cnn_strided": strided}
        model, config, extra = import_dreamer(checkpoint, **given)
        files = save_pretrained(model, config, output, force=force)
        files.append(write_extra(output, extra))
        family, tasks = "dreamer", 1
    else:
        from worldflux_cli.interop.tdmpc2 import import_checkpoint

        given = {"obs_shape": shape, "action_dim": action_dim, "episode_length": episode_length,
                 "discount": discount, "simnorm_dim": simnorm_dim, "model_name": task}
        model, config = import_checkpoint(checkpoint, **given)
        files = save_pretrained(model, config, output, force=force)
        family, tasks = "tdmpc2", config.num_tasks
    params = sum(model.component_params().values())
    data = {"dir": str(output), "files": files, "model_type": family, "params": params,
            "obs_shape": list(config.obs_shape), "action_dim": config.action_dim, "num_tasks": tasks}
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
        return
    title = "dreamer" if family == "dreamer" else "tdmpc2"
    typer.echo(f"imported {checkpoint} to {output}/ ({title}, {params:,} trainable parameters, obs "
               f"{list(config.obs_shape)}, {config.action_dim} {config.action_type} actions"
               + (f", {tasks} task(s))" if family == "tdmpc2" else ")"))
    typer.echo(f"next: worldflux info {output / 'config.json'}")


@guarded
def export(
    folder: Annotated[Path, typer.Argument(help="worldflux model folder (config.json, model.safetensors).",
                                           show_default=False)],
    to: Annotated[str, typer.Option("--to", help="Target format: tdmpc2 (the official .pt file) or dreamerv3 (an "
                                    "official run folder).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File (tdmpc2) or folder (dreamerv3) to write.",
                                         show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file or folder (a symbolic link there: "
                                        "the link itself).")] = False,
) -> None:
    """Export a worldflux model folder as an official checkpoint.

    --to tdmpc2: a TD-MPC2 .pt file ({'model': state_dict}) that the official agent's load() takes.
    --to dreamerv3: an official DreamerV3 run folder (config.yaml, ckpt/latest, ckpt/<name>/agent.pkl,
    step.pkl, replay.pkl, done) that the official code loads with --run.from_checkpoint. Import then export
    gives the same tensors bit for bit (DreamerV3: with the folder's official.safetensors; without it the
    optimizer state starts at zeros).

    Exit code 0: written; 1: refused (another family's model, or one the official code computes
    differently); 2: could not read the folder or write the output.

    Examples:

      worldflux export dog-run-5 --to tdmpc2 -o dog-run-5.pt

      worldflux export walker-dreamerv3 --to dreamerv3 -o ~/logdir/walker-back
    """
    from worldflux_cli.hub.pretrained import load_pretrained

    if to not in ("tdmpc2", "dreamerv3"):
        raise WorldfluxError(f"--to {to!r} is not a format worldflux exports", "use --to tdmpc2 or --to dreamerv3",
                             exit_code=EXIT_FAILED)
    from worldflux_cli.fileio import check_output

    family = "tdmpc2" if to == "tdmpc2" else "dreamer"
    if to == "tdmpc2":
        check_output(output, force)  # a new path or a regular file (with --force); never a device or a link
    elif output.is_symlink() or (output.exists() and not output.is_dir()):
        raise WorldfluxError(f"{output} is not a folder", "give a new path for the DreamerV3 run folder",
                             exit_code=EXIT_FAILED)
    model, config = load_pretrained(folder)
    if config.family != family:
        raise WorldfluxError(f"{folder} holds a {config.family_title} model, not "
                             f"{'TD-MPC2' if to == 'tdmpc2' else 'DreamerV3'}",
                             f"export a {'TD-MPC2' if to == 'tdmpc2' else 'DreamerV3'} folder", exit_code=1)
    if to == "tdmpc2":
        from worldflux_cli.interop.tdmpc2 import export_checkpoint

        export_checkpoint(model, output)
        typer.echo(f"exported {folder} to {output} (official TD-MPC2 layout)")
        return
    from worldflux_cli.interop.dreamerv3 import export_checkpoint as export_dreamer
    from worldflux_cli.interop.dreamerv3 import read_extra

    extra = read_extra(folder)
    export_dreamer(model, output, extra, force=force)
    note = "" if extra is not None else " (no official.safetensors: the optimizer state starts at zeros)"
    typer.echo(f"exported {folder} to {output}/ (official DreamerV3 run folder){note}")
