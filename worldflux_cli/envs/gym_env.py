"""Gymnasium environments behind the Env API: ``gym:ID`` for any registered id.

Box observations of rank 1 are float32 vectors; uint8 images (H, W, C) become (C, H, W). Box actions
with finite bounds are continuous (RescaleAction maps [-1, 1] to them); Discrete actions take an index
(or a one-hot / score vector, whose argmax is taken). The id's own time limit (its
``max_episode_steps``) is the native episode length.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from worldflux_cli.config.names import suggest
from worldflux_cli.envs.adapter import Adapter
from worldflux_cli.envs.errors import EnvError, UnknownEnv, UnsupportedEnv
from worldflux_cli.envs.libraries import import_module
from worldflux_cli.envs.spec import EnvSpec


class GymEnv(Adapter):
    """One gymnasium environment; ``physics_limit`` (environment steps) replaces the id's own time limit;
    ``render`` makes it with ``render_mode="rgb_array"`` (for videos)."""

    def __init__(self, name: str, *, seed: int | None = None, physics_limit: int | None = None,
                 render: bool = False):
        super().__init__(seed)
        gym = import_module("gymnasium", "gym")
        self._gym, self._name = gym, name
        self._env = _make(gym, name, physics_limit, render)
        fps = (self._env.metadata or {}).get("render_fps")
        self.seconds_per_step = 1.0 / fps if isinstance(fps, int | float) and fps > 0 else None
        spec = self._env.spec
        self.native_episode_steps = spec.max_episode_steps if spec is not None else None
        obs_space, act_space = self._env.observation_space, self._env.action_space
        self._image = isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 3 and \
            obs_space.dtype == np.uint8
        if self._image:
            h, w, c = obs_space.shape
            obs_shape, obs_dtype = (c, h, w), "uint8"
        elif isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1:
            obs_shape, obs_dtype = tuple(obs_space.shape), "float32"
        else:
            self._env.close()
            raise UnsupportedEnv(f"gym:{name} has observations {obs_space}; worldflux takes vectors (Box of rank 1) "
                                 "and uint8 images (Box of rank 3)", "choose an environment with such observations")
        if isinstance(act_space, gym.spaces.Discrete):
            self._start = int(act_space.start)
            action = {"action_dim": int(act_space.n), "action_type": "discrete"}
        elif isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1 and \
                np.all(np.isfinite(act_space.low)) and np.all(np.isfinite(act_space.high)):
            action = {"action_dim": int(act_space.shape[0]), "action_type": "continuous",
                      "action_low": tuple(float(x) for x in act_space.low),
                      "action_high": tuple(float(x) for x in act_space.high)}
        else:
            self._env.close()
            raise UnsupportedEnv(f"gym:{name} has actions {act_space}; worldflux takes Discrete actions and Box "
                                 "actions of rank 1 with finite bounds", "choose an environment with such actions")
        self.spec = EnvSpec(env_id=f"gym:{name}", obs_shape=obs_shape, obs_dtype=obs_dtype,
                            episode_length=self.native_episode_steps, **action)

    @property
    def unwrapped(self) -> Any:
        """The gymnasium environment (with its own TimeLimit)."""
        return self._env

    def _observe(self, obs: Any) -> np.ndarray:
        if self._image:
            return np.ascontiguousarray(np.asarray(obs, dtype=np.uint8).transpose(2, 0, 1))
        return np.asarray(obs, dtype=np.float32)

    def _reset(self, seed: int | None) -> np.ndarray:
        obs, _info = self._env.reset(seed=seed)
        if seed is not None:
            self._env.action_space.seed(seed)
        return self._observe(obs)

    def _step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.spec.action_type == "discrete":
            a = np.asarray(action)
            action = self._start + (int(a.argmax()) if a.size > 1 else int(a.reshape(-1)[0]))
        else:
            action = np.asarray(action, dtype=self._env.action_space.dtype)
        obs, reward, terminated, truncated, info = self._env.step(action)
        return self._observe(obs), float(reward), bool(terminated), bool(truncated), dict(info)

    def render(self, size: int = 256) -> np.ndarray:
        """The environment's own rgb_array frame (its size; ``size`` is not used)."""
        try:
            frame = self._env.render()
        except self._gym.error.DependencyNotInstalled as exc:
            raise UnsupportedEnv(f"gym:{self._name} cannot render frames: {exc}",
                                 "install what the message names (e.g. pip install \"gymnasium[classic_control]\")"
                                 ) from None
        except Exception as exc:
            raise EnvError(f"gym:{self._name} could not render a frame: {type(exc).__name__}: {exc}",
                           "record a dmc:* environment, or one that renders rgb_array frames") from None
        if frame is None or np.asarray(frame).ndim != 3:
            raise UnsupportedEnv(f"gym:{self._name} renders no rgb_array frames (render_mode='rgb_array')",
                                 "record an environment that does")
        return np.ascontiguousarray(np.asarray(frame, dtype=np.uint8)[..., :3])

    def close(self) -> None:
        self._env.close()


def _make(gym: Any, name: str, physics_limit: int | None, render: bool = False) -> Any:
    kwargs: dict[str, Any] = {"max_episode_steps": physics_limit} if physics_limit is not None else {}
    if render:
        kwargs["render_mode"] = "rgb_array"
    try:
        return gym.make(name, **kwargs)
    except (gym.error.UnregisteredEnv, gym.error.DeprecatedEnv) as exc:
        close = suggest(name, list(gym.registry))
        listing = "list the ids with `python -c \"import gymnasium; print(list(gymnasium.registry))\"`"
        raise UnknownEnv(f"gymnasium has no environment {name!r}: {exc}", f"use gym:{close}" if close else listing
                         ) from None
    except gym.error.DependencyNotInstalled as exc:
        raise UnsupportedEnv(f"gym:{name} needs packages that are not installed: {exc}",
                             "install what the message names (e.g. pip install \"gymnasium[box2d]\")") from None
    except Exception as exc:
        raise EnvError(f"gym:{name} could not be made: {type(exc).__name__}: {exc}", "check the id and its options"
                       ) from None
