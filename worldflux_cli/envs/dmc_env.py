"""The DeepMind Control Suite (dm_control) behind the Env API: ``dmc:DOMAIN-TASK``.

State observations are the task's observation dict flattened in its own order into one float32
vector (walker: orientations 14 + height 1 + velocity 9 = 24). Pixel observations are rendered
offscreen, (3, size, size) uint8, from camera 0 (2 for quadruped, as DreamerV3 and TD-MPC2 do).
An episode that reaches the suite's time limit is truncated (its discount stays 1); one whose discount
is 0 terminated.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from worldflux_cli.config.names import suggest
from worldflux_cli.envs.adapter import Adapter
from worldflux_cli.envs.errors import INSTALL_HINT, EnvError, EnvsUnavailable, UnknownEnv
from worldflux_cli.envs.libraries import PINNED, import_module
from worldflux_cli.envs.spec import EnvSpec


class DMCEnv(Adapter):
    """One dm_control suite task; actions in the task's own bounds (RescaleAction maps [-1, 1] to them)."""

    def __init__(self, domain: str, task: str, *, pixels: bool = False, image_size: int = 64,
                 seed: int | None = None, physics_limit: int | None = None):
        super().__init__(seed)
        suite = import_module("dm_control.suite", "dmc")
        name = f"{domain}-{task}"
        if (domain, task) not in suite.ALL_TASKS:
            close = suggest(name, [f"{d}-{t}" for d, t in suite.ALL_TASKS])
            raise UnknownEnv(f"dm_control has no task dmc:{name}" + (f"; did you mean 'dmc:{close}'?" if close else ""),
                             f"use dmc:{close}" if close else "dmc ids are DOMAIN-TASK, e.g. dmc:cartpole-balance, "
                             "dmc:walker-walk (dm_control.suite.ALL_TASKS lists them)")
        self._env = _load(suite, domain, task, seed, None)
        limit = getattr(self._env, "_step_limit", None)  # the suite's time limit in control steps (1000 for most)
        self.native_episode_steps = int(round(limit)) if limit is not None and np.isfinite(limit) else None
        if physics_limit is not None and self.native_episode_steps is not None and \
                physics_limit > self.native_episode_steps:  # a longer episode than the suite's: lift its limit
            self._env = _load(suite, domain, task, seed, float("inf"))
        self._pixels, self._size = pixels, image_size
        self._camera = 2 if domain == "quadruped" else 0
        self._timestep: Any = None
        self.seconds_per_step = float(self._env.control_timestep())
        action = self._env.action_spec()
        state_size = sum(int(np.prod(s.shape)) for s in self._env.observation_spec().values())
        self.spec = EnvSpec(env_id=f"dmc:{name}", obs_shape=(3, image_size, image_size) if pixels else (state_size,),
                            obs_dtype="uint8" if pixels else "float32", action_dim=int(np.prod(action.shape)),
                            action_type="continuous", action_low=tuple(float(x) for x in action.minimum),
                            action_high=tuple(float(x) for x in action.maximum),
                            episode_length=self.native_episode_steps)

    @property
    def unwrapped(self) -> Any:
        """The dm_control environment."""
        return self._env

    def observe(self) -> np.ndarray:
        """The observation of the current state: the state vector, or the camera's image (C, H, W)."""
        if not self._pixels:
            return np.concatenate([np.asarray(v, dtype=np.float32).ravel()
                                   for v in self._timestep.observation.values()])
        return np.ascontiguousarray(self._render(self._size).transpose(2, 0, 1), dtype=np.uint8)

    def render(self, size: int = 256) -> np.ndarray:
        """An RGB frame (size, size, 3) uint8 from the observation camera."""
        return self._render(size)

    def _render(self, size: int) -> np.ndarray:
        try:
            return self._env.physics.render(height=size, width=size, camera_id=self._camera)
        except Exception as exc:
            backend = os.environ.get("MUJOCO_GL", "unset")
            raise EnvError(f"rendering pixels failed (MUJOCO_GL={backend}): {type(exc).__name__}: {exc}",
                           "set MUJOCO_GL=egl (needs libEGL, e.g. apt-get install libegl1) or MUJOCO_GL=osmesa "
                           "(apt-get install libosmesa6) before starting") from None

    def _reset(self, seed: int | None) -> np.ndarray:
        if seed is not None:
            self._env.task.random.seed(seed)
        self._timestep = self._env.reset()
        return self.observe()

    def _step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        _, reward, terminated, truncated, info = self._step_quiet(action)
        return self.observe(), reward, terminated, truncated, info

    def _step_quiet(self, action: Any) -> tuple[None, float, bool, bool, dict[str, Any]]:
        self._timestep = timestep = self._env.step(np.asarray(action, dtype=np.float64))
        last = timestep.last()
        terminated = bool(last and timestep.discount == 0.0)
        info = {"discount": float(timestep.discount) if timestep.discount is not None else 1.0}
        return None, float(timestep.reward or 0.0), terminated, bool(last and not terminated), info

    def close(self) -> None:
        close = getattr(self._env, "close", None)
        if close is not None:
            close()


def _load(suite: Any, domain: str, task: str, seed: int | None, time_limit: float | None) -> Any:
    kwargs: dict[str, Any] = {"random": seed}
    if time_limit is not None:
        kwargs["time_limit"] = time_limit
    try:
        return suite.load(domain, task, task_kwargs=kwargs)
    except Exception as exc:  # e.g. dm_control and mujoco versions that do not work together
        raise EnvsUnavailable(f"dmc:{domain}-{task} could not be built: {type(exc).__name__}: {exc}",
                              f"{INSTALL_HINT} (it pins {PINNED}, which work together)") from None
