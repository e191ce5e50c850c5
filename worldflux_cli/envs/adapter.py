"""Adapter: the base of the suite adapters (one environment step per ``step``, in the env's own action units)."""

from __future__ import annotations

from typing import Any

from worldflux_cli.envs.spec import Env


class Adapter(Env):
    """One suite's environment behind the Env API; refuses a step after the episode ended until ``reset``.

    Subclasses set ``spec`` and ``native_episode_steps`` (the library's own time limit, in environment
    steps, or None) and implement ``_reset(seed)`` and ``_step(action)``; those that can make an observation
    apart from a step implement ``_step_quiet(action)`` (the step without it) and ``observe()``.
    """

    native_episode_steps: int | None = None

    def __init__(self, seed: int | None):
        self._seed = seed  # used by the first reset that gives none
        self._active = False

    def reset(self, seed: int | None = None) -> Any:
        if seed is None:
            seed, self._seed = self._seed, None
        self._active = True
        return self._reset(seed)

    def step(self, action: Any, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if not self._active:
            raise RuntimeError(f"{self.spec.env_id}: call reset() before step(), and again after an episode ends")
        out = self._step(action) if observe else self._step_quiet(action)
        self._active = not (out[2] or out[3])
        return out

    def _step_quiet(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self._step(action)  # an adapter without a cheaper step observes anyway

    def _reset(self, seed: int | None) -> Any:
        raise NotImplementedError

    def _step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        raise NotImplementedError
