"""Spec derivation on real environments: what each env gives and takes, as its library says."""

from __future__ import annotations

import numpy as np
import pytest

from worldflux_cli.config.env import EnvConfig
from worldflux_cli.envs import UnknownEnv, UnsupportedEnv, env_spec, make_env


def _dmc(domain: str, task: str):
    from dm_control import suite

    return suite.load(domain, task)


@pytest.mark.parametrize("domain, task", [("cartpole", "balance"), ("walker", "walk")])
def test_dmc_state_spec_is_the_flattened_observation_and_the_action_spec(domain, task):
    raw = _dmc(domain, task)
    spec = env_spec(f"dmc:{domain}-{task}")
    size = sum(int(np.prod(s.shape)) for s in raw.observation_spec().values())
    assert spec.obs_shape == (size,) and spec.obs_dtype == "float32"
    assert spec.action_dim == raw.action_spec().shape[0] and spec.action_type == "continuous"
    assert spec.action_low == tuple(raw.action_spec().minimum) and spec.action_high == tuple(raw.action_spec().maximum)
    # the suite's 1000 control steps, 2 per action: 500 agent steps per episode
    assert spec.action_repeat == 2 and spec.episode_length == round(raw._step_limit) // 2 == 500
    with make_env(f"dmc:{domain}-{task}", seed=0) as env:
        obs = env.reset()
        assert obs.shape == spec.obs_shape and obs.dtype == np.float32
        flat = np.concatenate([np.asarray(v, np.float32).ravel() for v in raw.reset().observation.values()])
        assert flat.shape == obs.shape


def test_walker_and_cartpole_are_what_the_papers_use():
    assert env_spec("dmc:walker-walk").model_fields() == {"obs_shape": [24], "action_dim": 6,
                                                           "action_type": "continuous"}
    assert env_spec("dmc:cartpole-balance").model_fields()["obs_shape"] == [5]


def test_dmc_pixels_are_uint8_chw_rendered_headless():
    spec = env_spec("dmc:cartpole-balance?obs=pixels")
    assert spec.obs_shape == (3, 64, 64) and spec.obs_dtype == "uint8"
    with make_env("dmc:cartpole-balance?obs=pixels&image_size=32", seed=1) as env:
        first = env.reset()
        assert first.shape == (3, 32, 32) and first.dtype == np.uint8 and first.flags["C_CONTIGUOUS"]
        assert first.std() > 0  # an image, not a blank buffer
        for _ in range(5):
            obs, *_ = env.step(np.ones(1))
        assert not np.array_equal(obs, first)  # the cart moved
    with make_env("dmc:cartpole-balance?obs=pixels&image_size=32", seed=1) as env:
        assert np.array_equal(env.reset(), first)  # the same seed, the same picture


def test_gym_pendulum_and_a_discrete_env():
    import gymnasium

    raw = gymnasium.make("Pendulum-v1")
    spec = env_spec("gym:Pendulum-v1")
    assert spec.obs_shape == raw.observation_space.shape and spec.action_dim == raw.action_space.shape[0]
    assert spec.action_low == tuple(raw.action_space.low) == (-2.0,) and spec.action_high == (2.0,)
    assert spec.action_repeat == 1 and spec.episode_length == raw.spec.max_episode_steps == 200
    cart = env_spec("gym:CartPole-v1")
    assert (cart.action_type, cart.action_dim, cart.action_low) == ("discrete", 2, None)


def test_unknown_and_unsupported_envs_say_what_to_use():
    with pytest.raises(UnknownEnv) as info:
        env_spec("dmc:walker-wlak")
    assert info.value.exit_code == 2 and info.value.hint == "use dmc:walker-walk"
    with pytest.raises(UnknownEnv) as info:
        env_spec("gym:Pendulum-v0")
    assert "Pendulum-v1" in info.value.hint
    with pytest.raises(UnsupportedEnv):  # Blackjack's observations are a tuple
        env_spec("gym:Blackjack-v1")


def test_an_env_config_and_its_string_build_the_same_env():
    config = EnvConfig(id="dmc:walker-walk", action_repeat=4, episode_length=100)
    assert env_spec(config) == env_spec(config.ref())
    assert env_spec(config).episode_length == 100 and env_spec(config).action_repeat == 4
