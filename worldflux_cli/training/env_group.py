"""N environments stepped in lock-step in this process, each with its own episodes (``num_envs``).

A plain list, not a gymnasium vector env: every environment is reset with its own seed and stepped in a fixed
order, so a run is deterministic, and a resumed run rebuilds each environment's state by replaying the
actions of its episode in progress (a vector env's subprocesses and autoreset would hide both). On a small
CPU the model's planning, batched over the N observations, is where the time goes, not the simulators.

Episodes are numbered over all environments in the order they start (environment i starts episode i; the
next episode to start anywhere gets the next number); episode ``e`` is reset with seed ``seed_base + e``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldflux_cli.training.evaluate import env_seed


class EnvGroup:
    """``num_envs`` environments built from one env section; per environment its episode, return, actions."""

    def __init__(self, env_config: Any, num_envs: int, seed_base: int):
        from worldflux_cli.envs import make_env

        self.envs = [make_env(env_config) for _ in range(num_envs)]
        self.seed_base = seed_base
        self.episode = [-1] * num_envs  # the episode each environment is in
        self.returns = [0.0] * num_envs  # its return so far
        self.actions: list[list[np.ndarray]] = [[] for _ in range(num_envs)]  # its episode's actions so far

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, i: int, episode: int) -> np.ndarray:
        """Start ``episode`` in environment ``i``; its first observation."""
        self.episode[i], self.returns[i], self.actions[i] = episode, 0.0, []
        return self.envs[i].reset(seed=env_seed(self.seed_base, episode))

    def step(self, i: int, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        obs, reward, terminated, truncated, _ = self.envs[i].step(action)
        self.actions[i].append(action)
        self.returns[i] += float(reward)
        return obs, float(reward), bool(terminated), bool(truncated)

    def restore(self, i: int, episode: int, actions: np.ndarray, episode_return: float) -> np.ndarray:
        """Environment ``i`` back in ``episode`` after ``actions`` (the environments are deterministic for a
        seed: replaying them reaches the same state); its current observation."""
        obs = self.reset(i, episode)
        for action in actions:
            obs = self.envs[i].step(action)[0]
        self.actions[i], self.returns[i] = list(actions), episode_return
        return obs

    def close(self) -> None:
        for env in self.envs:
            env.close()
