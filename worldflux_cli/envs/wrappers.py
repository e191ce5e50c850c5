"""The wrappers every environment gets: action rescaling, action repeat, time limit.

Each wraps an :class:`~worldflux_cli.envs.spec.Env` and is one: ``make_env`` stacks them as
``TimeLimit(ActionRepeat(RescaleAction(adapter)))``, so the agent's action is rescaled once, then repeated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldflux_cli.envs.spec import Env


class Wrapper(Env):
    """An Env around another, passing everything through."""

    def __init__(self, env: Env):
        self.env = env
        self.spec = env.spec

    def reset(self, seed: int | None = None) -> Any:
        return self.env.reset(seed)

    def step(self, action: Any, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.env.step(action, observe)

    def observe(self) -> Any:
        return self.env.observe()

    def render(self, size: int = 256) -> Any:
        return self.env.render(size)

    @property
    def seconds_per_step(self) -> float | None:  # type: ignore[override]
        return self.env.seconds_per_step

    def close(self) -> None:
        self.env.close()

    @property
    def unwrapped(self) -> Any:
        """The library's own environment under every wrapper."""
        return self.env.unwrapped


class RescaleAction(Wrapper):
    """Agent actions in [-1, 1] become the environment's [low, high]: -1 -> low, +1 -> high, exactly.

    Values outside [-1, 1] are clipped first; the mapping is ``low * (1 - t) + high * t`` with
    ``t = (a + 1) / 2``, which gives both bounds exactly.
    """

    def __init__(self, env: Env):
        super().__init__(env)
        self.low = np.asarray(env.spec.action_low, dtype=np.float64)
        self.high = np.asarray(env.spec.action_high, dtype=np.float64)

    def step(self, action: Any, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        a = np.asarray(action, dtype=np.float64)
        if a.size != self.low.size:
            raise ValueError(f"action has {a.size} values; {self.spec.env_id} takes {self.low.size}")
        t = (np.clip(a.reshape(self.low.shape), -1.0, 1.0) + 1.0) / 2.0
        return self.env.step(self.low * (1.0 - t) + self.high * t, observe)


class ActionRepeat(Wrapper):
    """Each agent action is applied ``repeat`` times; the rewards are summed. Stops early when the episode ends.

    Only the last environment step makes an observation (pixels are rendered once per agent step); one that
    ends the episode early is observed then.
    """

    def __init__(self, env: Env, repeat: int):
        super().__init__(env)
        if repeat < 1:
            raise ValueError(f"action repeat must be at least 1, not {repeat}")
        self.repeat = repeat

    def step(self, action: Any, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for k in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action, observe and k == self.repeat - 1)
            total += reward
            if terminated or truncated:
                break
        if obs is None and observe:
            obs = self.env.observe()
        return obs, total, terminated, truncated, info

    @property
    def seconds_per_step(self) -> float | None:  # type: ignore[override]
        inner = self.env.seconds_per_step
        return None if inner is None else inner * self.repeat


class TimeLimit(Wrapper):
    """Truncates the episode after ``limit`` agent steps (unless it terminated at that step); a step past it
    raises until ``reset``."""

    def __init__(self, env: Env, limit: int):
        super().__init__(env)
        if limit < 1:
            raise ValueError(f"time limit must be at least 1 step, not {limit}")
        self.limit = limit
        self.elapsed = 0

    def reset(self, seed: int | None = None) -> Any:
        self.elapsed = 0
        return self.env.reset(seed)

    def step(self, action: Any, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.elapsed >= self.limit:
            raise RuntimeError(f"{self.spec.env_id}: the episode was truncated at its time limit; call reset()")
        obs, reward, terminated, truncated, info = self.env.step(action, observe)
        self.elapsed += 1
        return obs, reward, terminated, truncated or (self.elapsed >= self.limit and not terminated), info
