"""A small TD-MPC2 run on gym:Pendulum-v1 (50-step episodes) that trains in seconds on one CPU thread."""

from __future__ import annotations

import json
from pathlib import Path

ENV = "gym:Pendulum-v1?episode_length=50"


def cli_invoker():
    """``cli(*args)``: the worldflux app through Typer's CliRunner (exceptions raised), for module fixtures,
    which cannot use the function-scoped ``cli`` fixture."""
    from typer.testing import CliRunner

    from worldflux_cli.cli.app import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)
TRAINING = {"total_steps": 120, "prefill_steps": 50, "batch_size": 16, "replay_size": 1000, "eval_interval": 120,
            "eval_episodes": 1, "log_interval": 20, "checkpoint_interval": 0, "seed": 0}


def write_run(cli, path: Path, env: str = ENV, **training) -> Path:
    """A run file: tdmpc2:tiny fitted to ``env`` (Pendulum; horizon 3, a small MPPI), with TRAINING and
    ``training``."""
    r = cli("new", "--model", "tdmpc2", "--size", "tiny", "--env", env, "--set", "horizon=3",
            "--set", "num_samples=64", "--set", "num_elites=8", "--set", "num_pi_trajs=4", "--set", "iterations=2",
            "--set", "device=cpu", "-o", str(path), "--force")
    assert r.exit_code == 0, r.output
    run = json.loads(path.read_text())
    run["training"].update({**TRAINING, **training})
    path.write_text(json.dumps(run, indent=1))
    return path


def train_small(cli, folder: Path, run: Path, *args: str) -> Path:
    """Train ``run`` into ``folder`` through the CLI (``args`` added); asserts it succeeded."""
    import torch

    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and deterministic on a shared machine
    r = cli("train", str(run), "--output", str(folder), *args)
    assert r.exit_code == 0, r.output
    return folder
