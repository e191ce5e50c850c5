"""The TD-MPC2 replay buffer: one ring of steps, sampled as windows of horizon + 1 steps of one episode.

Written by hand rather than with torchrl (the official code's buffer): torchrl is not a dependency of
worldflux, and what TD-MPC2 needs is about a hundred lines of numpy. Entry ``k`` holds the observation
``obs[k]``, the action and reward that led to it (zeros at an episode's first step), ``terminated[k]`` and
the episode it belongs to. A window starting at ``k`` is ``obs[k..k+H]`` with ``action``, ``reward`` and
``terminated`` of ``k+1..k+H`` (the official layout), all from one episode. Memory is bounded: ``capacity``
(the run's ``replay_size``) steps, the oldest overwritten first. Sampling is uniform over the valid
windows (rejection sampling over the stored steps), drawn from the caller's numpy Generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Rounds of rejection sampling before ``sample`` gives up (each draws 2 x batch_size starts).
MAX_ROUNDS = 64


class Replay:
    """A ring of ``capacity`` steps; ``sample`` gives (H+1, B, ...) windows as the TD-MPC2 update expects."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], action_dim: int, horizon: int):
        self.capacity, self.horizon = int(capacity), int(horizon)
        self.obs = np.zeros((self.capacity, *obs_shape), np.float32)
        self.action = np.zeros((self.capacity, action_dim), np.float32)
        self.reward = np.zeros(self.capacity, np.float32)
        self.terminated = np.zeros(self.capacity, np.float32)
        self.episode = np.full(self.capacity, -1, np.int64)
        self.total = 0  # steps ever added; entry t lives at t % capacity while t >= total - capacity
        self._current = -1

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def start_episode(self, obs: Any, episode: int) -> None:
        """The first observation of a new episode (no action or reward led to it)."""
        self._current = episode
        self._put(obs, 0.0, 0.0, 0.0)

    def add(self, obs: Any, action: Any, reward: float, terminated: bool) -> None:
        """One transition of the current episode: ``action`` gave ``reward`` and led to ``obs``."""
        self._put(obs, action, reward, float(terminated))

    def _put(self, obs: Any, action: Any, reward: float, terminated: float) -> None:
        i = self.total % self.capacity
        self.obs[i], self.action[i], self.reward[i] = obs, action, reward
        self.terminated[i], self.episode[i] = terminated, self._current
        self.total += 1

    def _valid(self, starts: np.ndarray) -> np.ndarray:
        first, last = starts % self.capacity, (starts + self.horizon) % self.capacity
        return self.episode[first] == self.episode[last]

    def can_sample(self) -> bool:
        """Whether at least one window of horizon + 1 steps of one episode is stored (scans the ring)."""
        low, high = max(0, self.total - self.capacity), self.total - self.horizon
        return high > low and bool(self._valid(np.arange(low, high)).any())

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        """``batch_size`` windows drawn uniformly: obs (H+1, B, *obs), action (H, B, A), reward and
        terminated (H, B). None while no window is stored."""
        low, high = max(0, self.total - self.capacity), self.total - self.horizon
        if high <= low:
            return None
        found, count = [], 0
        for _ in range(MAX_ROUNDS):  # rejection sampling: uniform over the valid starts, no scan of the ring
            draw = rng.integers(low, high, size=2 * batch_size)
            found.append(draw[self._valid(draw)])
            count += found[-1].size
            if count >= batch_size:
                break
        else:
            return None  # (almost) no valid window: episodes shorter than horizon + 1 so far
        starts = np.concatenate(found)
        idx = (starts[:batch_size, None] + np.arange(self.horizon + 1)) % self.capacity  # (B, H+1)
        idx = idx.T  # (H+1, B)
        return {"obs": self.obs[idx], "action": self.action[idx[1:]], "reward": self.reward[idx[1:]],
                "terminated": self.terminated[idx[1:]]}

    # --------------------------------------------------------------------------------- checkpoints
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, counters): what a checkpoint stores (only the filled part of the ring)."""
        n = len(self)
        arrays = {"obs": self.obs[:n], "action": self.action[:n], "reward": self.reward[:n],
                  "terminated": self.terminated[:n], "episode": self.episode[:n]}
        return ({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                {"total": self.total, "capacity": self.capacity, "current": self._current})

    def load_state(self, arrays: dict[str, np.ndarray], counters: dict[str, Any]) -> None:
        """Restore what ``state`` returned (same capacity and shapes)."""
        if int(counters["capacity"]) != self.capacity:
            raise ValueError(f"the checkpoint's replay buffer holds {counters['capacity']} steps, "
                             f"this run's replay_size is {self.capacity}")
        n = len(arrays["reward"])
        for name in ("obs", "action", "reward", "terminated", "episode"):
            getattr(self, name)[:n] = arrays[name]
        self.total, self._current = int(counters["total"]), int(counters["current"])
