"""The memory budget of ``worldflux train``, checked before anything is built: replay buffer plus model.

The figures come from ``memory_estimate.run_memory`` (torch-free, also shown by ``worldflux info RUN``): the
replay buffer's bytes (exact) and the model's training memory at the run's batch (weights, gradients, Adam
moments, activations: an estimate). On the CPU both live in RAM; on a GPU the model is checked against the
GPU's free memory and the replay buffer against RAM. Every rank of ``--nproc`` holds its own of both.
"""

from __future__ import annotations

from typing import Any

import torch

from worldflux_cli.memory_estimate import run_memory
from worldflux_cli.models.budget import USABLE_SHARE, check_budget, free_bytes, gib


def check_run_memory(run: Any, label: str, device: torch.device, nproc: int = 1, force: bool = False) -> dict:
    """InvalidInput (exit code 1) naming the figures and what to lower when the run does not fit; the figures."""
    mem = run_memory(run)
    replay, model = mem["replay"], mem["model_training_bytes"]
    ranks = f" on {nproc} processes" if nproc > 1 else ""
    about = (f"replay buffer {gib(replay['bytes'])} = {replay['capacity_steps']:,} steps x "
             f"{replay['bytes_per_step']:,} bytes (obs {replay['obs_dtype']}); model {gib(model)} at batch "
             f"{mem['batch_size']}")
    cpu = torch.device("cpu")
    on_cpu = device.type != "cuda"
    replay_need = replay["bytes"] * nproc + (model * nproc if on_cpu else 0)
    free = free_bytes(cpu)
    hint = "lower training.replay_size"
    if free is not None:
        room = int(free * USABLE_SHARE) - (model * nproc if on_cpu else 0)
        fits = room // (replay["bytes_per_step"] * nproc) if room > 0 else 0
        hint += f" (about {fits:,} fits)" if fits >= 1 else ""
    hint += " or training.batch_size, or use a smaller model"
    check_budget(replay_need, cpu, f"training {label}{ranks} ({about})", hint, force=force, available=free)
    if not on_cpu:
        check_budget(model, device, f"training {label}'s model at batch {mem['batch_size']}",
                     "lower training.batch_size, or use a smaller model", force=force)
    return mem
