"""`worldflux info`: what a preset or config builds, without building it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import MAX_BATCH, MAX_SEQ, Format, FormatOpt


@guarded
def info(
    target: Annotated[str, typer.Argument(help="A preset id (dreamer:size50m, tdmpc2:5m), a config file, '-' or "
                                               "hf://ORG/NAME or hf://ORG/NAME@REV.", show_default=False)],
    batch: Annotated[int | None, typer.Option("--batch", min=1, max=MAX_BATCH,
                                              help="Batch size for the training-memory estimate.",
                                              show_default="16, or a run file's batch_size")] = None,
    seq: Annotated[int | None, typer.Option("--seq", min=1, max=MAX_SEQ, help="Sequence length (DreamerV3, default "
                                            "64) or horizon (TD-MPC2, default the config's) for the estimate.")] = None,
    format: FormatOpt = Format.text,
) -> None:
    """Key dimensions, parameters per component, and memory of a model, without allocating it.

    Parameter counts come from worldflux's torch-free counter, which tests hold equal to the
    built PyTorch model. Training memory is fp32 weights + gradients + Adam moments (exact
    from the counts) plus an estimate of the activations kept for the backward pass.

    For a run file (`worldflux new --env` writes one) it also gives the replay buffer's size
    (replay_size steps x the bytes of one stored step: images as uint8, vectors as float32) and the
    total `worldflux train` checks against the free memory before it starts; the estimate then uses
    the run's batch size.

    Examples:

      worldflux info dreamer:size50m

      worldflux info my-config.json --batch 32 --format json

      worldflux info run.json
    """
    from worldflux_cli.loading import load_config
    from worldflux_cli.memory_estimate import model_info, run_memory

    loaded = load_config(target, consequence="nothing to describe")
    run = loaded.run
    if batch is None:
        batch = run.resolved_training()["batch_size"] if run is not None else 16
    data = model_info(loaded.config, batch=batch, seq=seq)
    data["source"] = loaded.label
    if run is not None:
        data["run"] = run_memory(run)
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
        return
    _render(data)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB" if n < 2**30 else f"{n / 2**30:,.2f} GiB"


def _render(data: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from worldflux_cli.params import human_count

    console = Console()
    shape = "x".join(map(str, data["obs_shape"]))
    console.print(f"[bold]{escape(data['source'])}[/]: {data['family_title']} '{escape(data['model_name'])}'"
                  + (f" (preset {data['preset']})" if data["preset"] else "")
                  + f", obs {shape}, {data['action_dim']} {data['action_type']} actions", soft_wrap=True)
    dims = Table(title="key dimensions", show_header=False)
    for key, value in data["dims"].items():
        dims.add_row(key, str(value))
    console.print(dims)
    params = Table(title="parameters")
    for col in ("component", "parameters", "share"):
        params.add_column(col, justify="right" if col != "component" else "left")
    total = data["params"]["trainable"]
    for name, n in data["params"]["components"].items():
        params.add_row(name, f"{n:,}", f"{n / total:.1%}" if total else "-")
    params.add_row("[bold]trainable[/]", f"[bold]{total:,}[/]", human_count(total))
    for name, n in data["params"]["frozen"].items():
        params.add_row(f"{name} (EMA copy, frozen)", f"{n:,}", "")
    console.print(params)
    mem = data["memory"]
    table = Table(title="memory", show_header=False)
    table.add_row("weights fp32", _mib(mem["weights_fp32_bytes"]))
    table.add_row("weights bf16", _mib(mem["weights_bf16_bytes"]))
    table.add_row("training state (fp32 weights + grads + Adam)", _mib(mem["training_state_bytes"]))
    table.add_row(f"activations per sample (estimate, {mem['per_sample_unit']})",
                  _mib(mem["activations_per_sample_bytes"]))
    table.add_row(f"training total at batch {mem['batch']} (estimate)", _mib(mem["training_total_bytes"]))
    if "run" in data:
        run, replay = data["run"], data["run"]["replay"]
        envs = f", {replay['num_envs']} envs" if replay["num_envs"] > 1 else ""
        table.add_row(f"replay buffer ({replay['capacity_steps']:,} steps x {replay['bytes_per_step']:,} bytes, "
                      f"obs {replay['obs_dtype']}{envs})", _mib(replay["bytes"]))
        table.add_row(f"run total: replay + training at batch {run['batch_size']} (estimate)",
                      _mib(run["total_bytes"]))
    console.print(table)
