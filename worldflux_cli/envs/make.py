"""make_env and env_spec: an env id (or env section) -> a wrapped environment, or the spec a model must fit."""

from __future__ import annotations

from dataclasses import replace

from worldflux_cli.config.env import EnvConfig
from worldflux_cli.config.env_ids import dmc_parts
from worldflux_cli.envs.adapter import Adapter
from worldflux_cli.envs.spec import Env, EnvSpec


def make_env(env: EnvConfig | str, seed: int | None = None, *, render: bool = False) -> Env:
    """Build an environment with worldflux's wrappers.

    Args:
        env: The env section of a run, or its command-line form (``"dmc:cartpole-balance?obs=pixels"``).
        seed: Seed of the environment's randomness (used by the first ``reset`` that gives none).
        render: Make ``render()`` work (gymnasium envs are then made with ``render_mode="rgb_array"``;
            dm_control renders anyway).

    Returns:
        ``TimeLimit(ActionRepeat(RescaleAction(adapter)))`` (no rescaling for discrete actions; no time
        limit for an environment without one): actions in [-1, 1], ``action_repeat`` environment steps per
        action with the rewards summed, episodes truncated after ``episode_length`` agent steps (null: the
        environment's own limit // action_repeat). Its ``spec`` says what it gives and takes.

    Raises:
        ConfigurationError: ``env`` is not a valid env section or id.
        EnvsUnavailable: The libraries are not installed (``pip install worldflux[envs]``) or do not work.
        UnknownEnv: No such dm_control task or gymnasium id (the hint names the closest).
        UnsupportedEnv: The environment's spaces are not ones worldflux wraps.
    """
    from worldflux_cli.envs.wrappers import ActionRepeat, RescaleAction, TimeLimit

    config = EnvConfig.from_ref(env) if isinstance(env, str) else env
    repeat = config.resolved_action_repeat
    base = _adapter(config, seed, config.episode_length * repeat if config.episode_length else None, render)
    native = base.native_episode_steps
    length = config.episode_length or (max(1, native // repeat) if native else None)
    wrapped: Env = RescaleAction(base) if base.spec.action_type == "continuous" else base
    wrapped = ActionRepeat(wrapped, repeat)
    if length is not None:
        wrapped = TimeLimit(wrapped, length)
    wrapped.spec = replace(base.spec, env_id=config.ref(), action_repeat=repeat, episode_length=length)
    return wrapped


def env_spec(env: EnvConfig | str) -> EnvSpec:
    """The spec of an environment (built once, then closed): the shapes a model config must have for it."""
    with make_env(env) as built:
        return built.spec


def _adapter(config: EnvConfig, seed: int | None, physics_limit: int | None, render: bool) -> Adapter:
    if config.suite == "dmc":
        from worldflux_cli.envs.dmc_env import DMCEnv

        domain, task = dmc_parts(config.name)
        return DMCEnv(domain, task, pixels=config.obs == "pixels", image_size=config.image_size, seed=seed,
                      physics_limit=physics_limit)
    from worldflux_cli.envs.gym_env import GymEnv

    return GymEnv(config.name, seed=seed, physics_limit=physics_limit, render=render)
