"""The replay buffer: one bounded ring of steps per environment, sampled as windows of consecutive steps.

Written by hand rather than with torchrl (the official TD-MPC2 code's buffer): torchrl is not a dependency of
worldflux, and what the loop needs is about a hundred lines of numpy. What an entry holds is the family's
layout (``layout.py``: TD-MPC2 stores ``obs`` with the ``action``, ``reward`` and ``terminated`` that led to
it, zeros at an episode's first step); every entry also records the episode it belongs to.

Each of the ``num_envs`` environments writes its own ring of ``ceil(capacity / num_envs)`` entries (the
oldest overwritten first), so a window is always consecutive steps of one environment. Memory is bounded:
``capacity`` entries in all, observations of images as uint8. ``sample`` draws windows uniformly over every
ring's valid starts from the caller's numpy Generator: with ``one_episode`` (TD-MPC2) a window lies inside one
episode (rejection sampling, no scan of the rings); without it (DreamerV3's sequences) windows may cross
episode starts, which the layout marks. Windows are time-major: (length, batch, ...); a sample also carries
where it was read (``_env`` (batch,), ``_index`` (length, batch)), so that an agent can write fields back there
(``write``: DreamerV3 keeps the newest posterior states of the sampled steps, as the official replay does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldflux_cli.training.layout import Field, per_env_capacity

#: Rounds of rejection sampling before ``sample`` gives up (each draws 2 x batch_size starts).
MAX_ROUNDS = 64


class Replay:
    """Rings of entries, one per environment; ``add`` one entry, ``sample`` windows of ``length`` steps."""

    def __init__(self, layout: tuple[Field, ...], capacity: int, num_envs: int = 1):
        self.layout, self.num_envs = tuple(layout), int(num_envs)
        self.capacity = per_env_capacity(capacity, num_envs)  # entries per environment
        shape = (self.num_envs, self.capacity)
        self.data = {f.name: np.zeros((*shape, *f.shape), np.dtype(f.dtype)) for f in self.layout}
        self.episode = np.full(shape, -1, np.int64)
        self.total = np.zeros(self.num_envs, np.int64)  # entries ever added; entry t at t % capacity

    def __len__(self) -> int:
        return int(np.minimum(self.total, self.capacity).sum())

    def add(self, env: int, episode: int, **values: Any) -> None:
        """One entry of environment ``env``, in episode ``episode``; fields not given are zeros."""
        i = int(self.total[env] % self.capacity)
        for name, array in self.data.items():
            array[env, i] = values.get(name, 0)
        self.episode[env, i] = episode
        self.total[env] += 1

    def _starts(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Per environment, the first and one-past-last start of a stored window of ``length`` entries."""
        low = np.maximum(0, self.total - self.capacity)
        return low, np.maximum(low, self.total - (length - 1))

    def sample(self, batch_size: int, length: int, rng: np.random.Generator, one_episode: bool = True
               ) -> dict[str, np.ndarray] | None:
        """``batch_size`` windows of ``length`` steps, each field (length, batch_size, ...); None while too
        few are stored (none yet, or with ``one_episode`` almost none inside one episode)."""
        low, high = self._starts(length)
        sizes = high - low
        if sizes.sum() <= 0:
            return None
        ends = np.cumsum(sizes)
        found_env, found_start, count = [], [], 0
        for _ in range(MAX_ROUNDS):
            u = rng.integers(0, int(ends[-1]), size=2 * batch_size if one_episode else batch_size)
            env = np.searchsorted(ends, u, side="right")
            start = low[env] + u - (ends[env] - sizes[env])
            if one_episode:
                keep = (self.episode[env, start % self.capacity]
                        == self.episode[env, (start + length - 1) % self.capacity])
                env, start = env[keep], start[keep]
            found_env.append(env)
            found_start.append(start)
            count += env.size
            if count >= batch_size:
                break
        else:
            return None
        env = np.concatenate(found_env)[:batch_size]
        idx = ((np.concatenate(found_start)[:batch_size, None] + np.arange(length)) % self.capacity).T  # (L, B)
        out = {name: array[env[None, :], idx] for name, array in self.data.items()}
        out["_env"], out["_index"] = env, idx
        return out

    def latest(self, env: int) -> int:
        """The ring position of environment ``env``'s newest entry."""
        return int((self.total[env] - 1) % self.capacity)

    def write(self, name: str, env: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
        """Overwrite field ``name`` at the ring positions ``index`` of environments ``env`` (the two broadcast
        together, e.g. (B, 1) and (B, T)) with ``values`` (their shape + the field's)."""
        self.data[name][env, index] = values

    # --------------------------------------------------------------------------------- checkpoints
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, counters): what a checkpoint stores (the filled part of the rings)."""
        n = int(min(self.total.max(initial=0), self.capacity))
        arrays = {name: array[:, :n] for name, array in self.data.items()}
        arrays["episode"] = self.episode[:, :n]
        return ({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                {"total": [int(t) for t in self.total], "capacity": self.capacity, "num_envs": self.num_envs})

    def load_state(self, arrays: dict[str, np.ndarray], counters: dict[str, Any]) -> None:
        """Restore what ``state`` returned (same layout, capacity and number of environments)."""
        if int(counters["capacity"]) != self.capacity or int(counters["num_envs"]) != self.num_envs:
            raise ValueError(f"the checkpoint's replay buffer holds {counters['num_envs']} x {counters['capacity']} "
                             f"steps, this run's is {self.num_envs} x {self.capacity}")
        n = arrays["episode"].shape[1]
        for name, array in self.data.items():
            array[:, :n] = arrays[name]
        self.episode[:, :n] = arrays["episode"]
        self.total[:] = counters["total"]
