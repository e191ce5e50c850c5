"""Real environments behind the run file's env ids: dm_control suite tasks and gymnasium envs.

``make_env("dmc:cartpole-balance")`` returns an :class:`Env` with one small API for every suite:
``reset(seed) -> obs``, ``step(action) -> (obs, reward, terminated, truncated, info)``, ``spec`` and
``close()``. Actions are in [-1, 1] (rescaled to the environment's bounds) or, for discrete envs, an
index; each is repeated ``action_repeat`` times (rewards summed); episodes end after
``episode_length`` agent steps (truncated); observations are float32 vectors or uint8 images (C, H, W),
rendered once per agent step whatever the action repeat. ``render(size)`` gives RGB frames for videos
(``make_env(..., render=True)`` for gymnasium envs) and ``seconds_per_step`` the simulated time of a step.
``env_spec`` gives the spec a model config must fit; ``fit_problems`` checks one against it.

The libraries are an optional extra (``pip install worldflux[envs]``), imported only when an env is
built; without them every entry point raises :class:`EnvsUnavailable` (exit code 2) naming the extra.
This package's own modules import nothing heavy at import time.
"""

from worldflux_cli.envs.errors import EnvError, EnvsUnavailable, UnknownEnv, UnsupportedEnv
from worldflux_cli.envs.make import env_spec, make_env
from worldflux_cli.envs.spec import Env, EnvSpec

__all__ = ["Env", "EnvError", "EnvSpec", "EnvsUnavailable", "UnknownEnv", "UnsupportedEnv", "env_spec", "make_env"]
