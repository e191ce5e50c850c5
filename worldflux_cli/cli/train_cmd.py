"""`worldflux train` and `worldflux eval`: TD-MPC2 on state observations (torch and the envs imported inside)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import MAX_SEED, MAX_STEPS, Format, FormatOpt
from worldflux_cli.errors import EXIT_FAILED, InvalidInput, WorldfluxError


def _note(text: str) -> None:
    print(f"worldflux: note: {text}", file=sys.stderr)


def _progress_printer():
    if sys.stderr.isatty():
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        return lambda line: console.print(line, markup=False)
    return lambda line: print(line, file=sys.stderr, flush=True)


def _load_run(run_file: str):
    from worldflux_cli.loading import load_config

    loaded = load_config(run_file, consequence="nothing was trained")
    run = loaded.run
    if run is None:
        raise WorldfluxError(f"{loaded.label} is a model config, not a run file",
                             "write a run file with `worldflux new --model tdmpc2 --size 5m --env ENV -o run.json`",
                             exit_code=EXIT_FAILED)
    if run.model.family != "tdmpc2":
        raise WorldfluxError(f"training {run.model.family_title} is not supported yet: `worldflux train` trains "
                             "TD-MPC2 only", "use a run whose model is a TD-MPC2 config (model_type tdmpc2)",
                             exit_code=EXIT_FAILED)
    t = run.resolved_training()
    unsupported = []
    if run.env.obs != "state" or len(run.model.obs_shape) != 1:
        unsupported.append("pixel observations (state observations only)")
    if t["num_envs"] != 1:
        unsupported.append(f"num_envs {t['num_envs']} (one environment only)")
    if t["precision"] != "float32":
        unsupported.append(f"precision {t['precision']} (float32 only)")
    if run.model.num_tasks > 1:
        unsupported.append("multitask models")
    if unsupported:
        raise WorldfluxError(f"{loaded.label}: not supported yet by `worldflux train`: {'; '.join(unsupported)}",
                             "change the run file", exit_code=EXIT_FAILED)
    return loaded.label, run


@guarded
def train(
    run: Annotated[str, typer.Argument(help="Run file (model, env, training), as "
                                            "`worldflux new --env` writes it.", show_default=False)],
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run from the checkpoint in its "
                                         "output folder.")] = False,
    steps: Annotated[int | None, typer.Option("--steps", min=1, max=MAX_STEPS * 1000,
                                              help="Agent steps to train to (overrides training.total_steps).",
                                              show_default="the run's total_steps")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The run's folder (overrides "
                                                "training.output_dir).", show_default="training.output_dir")] = None,
    save_replay: Annotated[bool, typer.Option("--save-replay/--no-save-replay", help="Keep the replay buffer "
                                              "in the checkpoint (needed for an exact resume).")] = True,
    format: FormatOpt = Format.text,
) -> None:
    """Train a TD-MPC2 run on one environment with state observations.

    The run's folder becomes a model folder that `worldflux push` takes as is: config.json,
    model.safetensors and README.md (a model card with the environment, the steps and the last
    evaluation), plus run.json, metrics.jsonl (one JSON line per log_interval: step, fps, episode and
    evaluation returns, losses) and checkpoints/ (safetensors only: weights, optimizer state, counters,
    RNG states, the replay buffer). Ctrl-C writes a checkpoint and exits with code 130; --resume goes on
    from it, with the same weights at the end as a run never interrupted (one CPU device, same seed).

    Not supported yet: DreamerV3, pixel observations, several environments, mixed precision, videos.

    Exit code 0: trained; 1: the run file is invalid; 2: could not run (unreadable file, unsupported run,
    folder not empty, no checkpoint to resume); 130: interrupted (checkpoint written).

    Examples:

      worldflux train run.json --output runs/walker

      worldflux train run.json --output runs/walker --resume --steps 200000
    """
    label, run_config = _load_run(run)
    folder = output if output is not None else Path(run_config.training.output_dir)
    from worldflux_cli.training.loop import check_output
    from worldflux_cli.training.loop import train as train_loop

    check_output(folder, resume)
    folder.mkdir(parents=True, exist_ok=True)
    result = train_loop(run_config, folder, resume=resume, total_steps=steps, save_replay=save_replay,
                        log=None if format is Format.json else _progress_printer())
    for note in result.notes:
        _note(note)
    data = {"output": str(folder), "steps": result.step, "episodes": result.episodes,
            "last_return": result.last_return, "last_eval": result.last_eval, "resumed_from": result.resumed_from}
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
        return
    evaluated = "not evaluated" if result.last_eval is None else f"last evaluation {result.last_eval:.2f}"
    typer.echo(f"trained {label} to step {result.step:,} ({result.episodes:,} episodes, {evaluated}); "
               f"model folder: {folder}/")


@guarded
def eval_(
    dir: Annotated[Path, typer.Argument(help="Model folder (from `worldflux train`, `save`, "
                                           "`pull` or `import`).", show_default=False)],
    env: Annotated[str, typer.Option("--env", help="Environment id: dmc:DOMAIN-TASK or gym:ID, with options "
                                     "(gym:Pendulum-v1?episode_length=100).", show_default=False)],
    episodes: Annotated[int, typer.Option("--episodes", "-n", min=1, max=100_000, help="Episodes to run.")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of the episodes (episode i "
                                      "resets with seed + i) and of the planner's noise.")] = 0,
    device: Annotated[str | None, typer.Option("--device", "-d", help="cpu, cuda, cuda:N or auto.",
                                               show_default="the config's device")] = None,
    format: FormatOpt = Format.text,
) -> None:
    """Evaluate a TD-MPC2 model folder: returns of N episodes planned with MPPI in eval mode.

    Prints the mean, the standard deviation and every episode's return; the same --seed gives the same
    returns on the same device. Works on any TD-MPC2 model folder, an imported official checkpoint too.

    Exit code 0: evaluated; 1: the folder is refused or its model does not fit the environment; 2: could
    not run (no such folder, unknown environment, a DreamerV3 model).

    Examples:

      worldflux eval runs/walker --env dmc:walker-walk --episodes 10 --seed 0

      worldflux eval dog-run-5 --env dmc:dog-run --format json
    """
    from worldflux_cli.hub.errors import HubError

    folder = dir
    if not folder.is_dir():
        raise HubError(f"no such model folder: {folder}" if not folder.exists() else f"{folder} is not a folder",
                       "name a folder written by `worldflux train`, `save`, `pull` or `import`")
    import numpy as np

    from worldflux_cli.envs import make_env
    from worldflux_cli.envs.fit import fit_problems
    from worldflux_cli.hub.pretrained import load_pretrained
    from worldflux_cli.training.loop import run_episodes

    model, config = load_pretrained(folder, device=device)
    if config.family != "tdmpc2":
        raise WorldfluxError(f"evaluating {config.family_title} is not supported yet: `worldflux eval` plans "
                             "with TD-MPC2 models only", "name a TD-MPC2 model folder", exit_code=EXIT_FAILED)
    with make_env(env) as environment:
        problems = fit_problems(config, environment.spec)
        if problems:
            raise InvalidInput(f"the model in {folder} does not fit {environment.spec.env_id}: "
                               + "; ".join(p.message for p in problems), problems[0].hint)
        returns = run_episodes(model, environment, episodes, seed)
        env_id = environment.spec.env_id
    data = {"dir": str(folder), "env": env_id, "episodes": episodes, "seed": seed,
            "mean": float(np.mean(returns)), "std": float(np.std(returns)), "returns": returns}
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"{env_id}: mean return {data['mean']:.2f} ± {data['std']:.2f} over {episodes} episode(s) "
               f"(seed {seed})")
    typer.echo("returns: " + ", ".join(f"{r:.2f}" for r in returns))
