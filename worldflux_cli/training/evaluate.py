"""Evaluation episodes: a family's evaluation policy in one environment, deterministic for a seed.

Episode ``i`` is reset with seed ``seed + i`` and torch's RNG is seeded with ``seed`` inside a fork (the
caller's RNG states are left as they were, so evaluating during training does not change training).
``frames``, when given, receives an RGB frame (H, W, 3) uint8 of every state of every episode (the first
observation's too), rendered at ``frame_size`` where the suite takes a size (videos).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from worldflux_cli.training.agent import Policy


def env_seed(base: int, offset: int) -> int:
    """An environment seed: ``base + offset``, wrapped into [0, 2**32) (the range the suites take)."""
    return (int(base) + int(offset)) % 2**32


def run_episodes(policy: Policy, env: Any, episodes: int, seed: int, device: torch.device,
                 frames: Callable[[np.ndarray], None] | None = None, frame_size: int = 256) -> list[float]:
    """The returns of ``episodes`` episodes of ``policy`` in ``env`` (see the module docstring)."""
    returns = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for i in range(episodes):
            obs, total, done = env.reset(seed=env_seed(seed, i)), 0.0, False
            policy.reset()
            if frames is not None:
                frames(env.render(frame_size))
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
                total, done = total + float(reward), terminated or truncated
                if frames is not None:
                    frames(env.render(frame_size))
            returns.append(total)
    return returns
