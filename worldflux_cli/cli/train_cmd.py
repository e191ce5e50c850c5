"""`worldflux train` and `worldflux eval` (torch and the environments are imported inside the commands)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import MAX_NPROC, MAX_SEED, MAX_STEPS, ForceMemoryOpt, Format, FormatOpt
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
    from worldflux_cli.training.agent import AGENTS, agent_class

    loaded = load_config(run_file, consequence="nothing was trained")
    run = loaded.run
    if run is None:
        raise WorldfluxError(f"{loaded.label} is a model config, not a run file",
                             "write a run file with `worldflux new --model tdmpc2 --size 5m --env ENV -o run.json`",
                             exit_code=EXIT_FAILED)
    if run.model.family not in AGENTS:
        raise WorldfluxError(f"training {run.model.family_title} is not supported yet: `worldflux train` trains "
                             + ", ".join(sorted(AGENTS)), "use a run whose model is a DreamerV3 or TD-MPC2 config "
                             "(model_type dreamer or tdmpc2)", exit_code=EXIT_FAILED)
    agent = agent_class(run.model.family)
    unsupported = agent.unsupported(run)
    precision = run.resolved_training()["precision"]
    if precision not in agent.precisions:
        unsupported.append(f"precision {precision} ({run.model.family_title}: {', '.join(agent.precisions)})")
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
    nproc: Annotated[int, typer.Option("--nproc", min=1, max=MAX_NPROC, help="Train data-parallel on N processes "
                                       "(gloo on CPU, nccl on N GPUs): each acts in its own num_envs "
                                       "environments and samples its own batches; gradients are averaged.")] = 1,
    tensorboard: Annotated[bool, typer.Option("--tensorboard/--no-tensorboard", help="Also write TensorBoard "
                                              "event files to OUTPUT/tensorboard/ (when tensorboard is "
                                              "installed).")] = True,
    force_memory: ForceMemoryOpt = False,
    format: FormatOpt = Format.text,
) -> None:
    """Train a TD-MPC2 or DreamerV3 run in real environments, from state vectors or pixels.

    RUN names the model, the environment and the training settings (`worldflux new --model tdmpc2 --size 5m
    --env dmc:cartpole-balance -o run.json` writes one). The loop: prefill_steps random actions, then the
    model acts (TD-MPC2: MPPI planning warm-started per environment; DreamerV3: the posterior filter and the
    actor, its recurrent state carried per environment), train_ratio model updates per agent step from a
    replay buffer of replay_size steps (pixels stored as uint8; DreamerV3 sequences of sequence_length steps
    across episodes, with the official replay context), evaluation episodes every eval_interval steps.
    DreamerV3's official train_ratio (replayed steps per env step) is this one times batch_size x
    sequence_length: official 512 at 16 x 64 is 0.5 here. Steps are
    agent steps (one action, after action repeat). With num_envs N, N environments step in lock-step and
    every step of each counts (a run stops at the first multiple of N at or past its total); with --nproc P
    every process steps its own N.

    Before anything is built, the replay buffer's size plus the model's training memory is checked against
    the free memory (`worldflux info RUN` shows both); an over-budget run is refused with the figures and
    what to lower.

    The run's folder becomes a model folder that `worldflux push` takes as is: config.json,
    model.safetensors and README.md (a model card with the environment, the steps, the evaluations and the
    return curve, return_curve.svg), plus run.json, metrics.jsonl (one JSON line per log_interval: step,
    fps, episode and evaluation returns, losses), tensorboard/ (when tensorboard is installed) and
    checkpoints/ (safetensors only: weights, optimizer state, counters, RNG states, the replay buffer).
    Ctrl-C writes a checkpoint and exits with code 130; --resume goes on from it, with the same weights at
    the end as a run never interrupted (one CPU device, same seed).

    precision bfloat16-mixed (autocast; the official DreamerV3 computes in bfloat16) is DreamerV3's option;
    TD-MPC2 trains in float32. Not supported yet: multitask models, float16.

    Exit code 0: trained; 1: the run file is invalid, or over the memory budget; 2: could not run
    (unreadable file, unsupported run, folder not empty, no checkpoint to resume); 130: interrupted
    (checkpoint written).

    Examples:

      worldflux train run.json --output runs/walker

      worldflux train run.json --output runs/walker --resume --steps 200000

      worldflux train run.json --output runs/walker-ddp --nproc 2
    """
    label, run_config = _load_run(run)
    folder = output if output is not None else Path(run_config.training.output_dir)
    from worldflux_cli.models import resolve_device
    from worldflux_cli.training.loop import check_output
    from worldflux_cli.training.memory import check_run_memory

    check_output(folder, resume)
    device = resolve_device(run_config.resolved_training()["device"])
    check_run_memory(run_config, label, device, nproc, force_memory)
    folder.mkdir(parents=True, exist_ok=True)
    progress = format is not Format.json
    if nproc > 1:
        from worldflux_cli.training.distributed import launch

        out = launch(run_config, folder, nproc, resume=resume, steps=steps, save_replay=save_replay,
                     tensorboard=tensorboard, progress=progress)[0]
        step, episodes, last_return, last_eval = out["step"], out["episodes"], out["last_return"], out["last_eval"]
        resumed_from, notes = out["resumed_from"], out["notes"]
    else:
        from worldflux_cli.training.loop import train as train_loop

        result = train_loop(run_config, folder, resume=resume, total_steps=steps, save_replay=save_replay,
                            log=_progress_printer() if progress else None, tensorboard=tensorboard)
        step, episodes, last_return, last_eval = result.step, result.episodes, result.last_return, result.last_eval
        resumed_from, notes = result.resumed_from, result.notes
    from worldflux_cli.training.logs import tensorboard_writer_available

    if tensorboard and not tensorboard_writer_available():
        notes = [*notes, "tensorboard is not installed: metrics.jsonl only (pip install tensorboard for event files)"]
    for note in notes:
        _note(note)
    data = {"output": str(folder), "steps": step, "episodes": episodes, "last_return": last_return,
            "last_eval": last_eval, "resumed_from": resumed_from, "nproc": nproc}
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
        return
    evaluated = "not evaluated" if last_eval is None else f"last evaluation {last_eval:.2f}"
    typer.echo(f"trained {label} to step {step:,} ({episodes:,} episodes, {evaluated}); model folder: {folder}/")


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
    video: Annotated[Path | None, typer.Option("--video", help="Record the episodes, one after the other, to "
                                               "this .mp4 or .gif file (written whole or not at all).",
                                               show_default=False)] = None,
    video_size: Annotated[int, typer.Option("--video-size", min=16, max=2048, help="Side of the video's frames "
                                            "in pixels (dmc; gym envs render at their own size).")] = 256,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --video file (or a symbolic link "
                                        "there: the link itself).")] = False,
    format: FormatOpt = Format.text,
) -> None:
    """Evaluate a model folder: returns of N episodes (TD-MPC2: MPPI in eval mode; DreamerV3: the actor).

    Prints the mean, the standard deviation and every episode's return; the same --seed gives the same
    returns on the same device. Works on any TD-MPC2 or DreamerV3 model folder, an imported official
    checkpoint too. DreamerV3 samples its actions, as the official agent does in evaluation.
    --video records every episode into one file, at the environment's own speed (dmc: the control timestep
    times the action repeat); recording does not change the returns.

    Exit code 0: evaluated; 1: the folder is refused or its model does not fit the environment; 2: could
    not run (no such folder, unknown environment, a video library missing, an environment that cannot
    render).

    Examples:

      worldflux eval runs/walker --env dmc:walker-walk --episodes 10 --seed 0

      worldflux eval runs/walker --env dmc:walker-walk --episodes 2 --video walker.mp4

      worldflux eval dog-run-5 --env dmc:dog-run --format json
    """
    from worldflux_cli.hub.errors import HubError

    folder = dir
    if not folder.is_dir():
        raise HubError(f"no such model folder: {folder}" if not folder.exists() else f"{folder} is not a folder",
                       "name a folder written by `worldflux train`, `save`, `pull` or `import`")
    if video is not None:
        from worldflux_cli.fileio import check_output
        from worldflux_cli.training.video import check_video_path

        check_output(video, force)
        check_video_path(video)
    from contextlib import nullcontext

    import numpy as np

    from worldflux_cli.envs import make_env
    from worldflux_cli.envs.fit import fit_problems
    from worldflux_cli.hub.pretrained import load_pretrained
    from worldflux_cli.training.agent import agent_class
    from worldflux_cli.training.evaluate import run_episodes
    from worldflux_cli.training.video import VideoWriter

    model, config = load_pretrained(folder, device=device)
    agent = agent_class(config.family)
    if agent is None:
        raise WorldfluxError(f"evaluating {config.family_title} is not supported: `worldflux eval` runs DreamerV3 "
                             "and TD-MPC2 models", "name a DreamerV3 or TD-MPC2 model folder", exit_code=EXIT_FAILED)
    with make_env(env, render=video is not None) as environment:
        problems = fit_problems(config, environment.spec)
        if problems:
            raise InvalidInput(f"the model in {folder} does not fit {environment.spec.env_id}: "
                               + "; ".join(p.message for p in problems), problems[0].hint)
        fps = min(60.0, 1.0 / environment.seconds_per_step) if environment.seconds_per_step else 30.0
        with VideoWriter(video, fps) if video is not None else nullcontext() as frames:
            returns = run_episodes(agent.evaluator(model), environment, episodes, seed,
                                   next(model.parameters()).device, frames=frames, frame_size=video_size)
        env_id = environment.spec.env_id
    data = {"dir": str(folder), "env": env_id, "episodes": episodes, "seed": seed,
            "mean": float(np.mean(returns)), "std": float(np.std(returns)), "returns": returns}
    if video is not None:
        data["video"] = {"path": str(video), "frames": frames.frames, "fps": round(fps, 3)}
    if format is Format.json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"{env_id}: mean return {data['mean']:.2f} ± {data['std']:.2f} over {episodes} episode(s) "
               f"(seed {seed})")
    typer.echo("returns: " + ", ".join(f"{r:.2f}" for r in returns))
    if video is not None:
        typer.echo(f"video: {video} ({frames.frames:,} frames at {fps:.3g} fps)")
