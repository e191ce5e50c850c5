"""The wrappers' effect on real environments: action repeat sums rewards, the time limit truncates at its step,
rescaling maps [-1, 1] to the environment's bounds at both ends."""

from __future__ import annotations

import numpy as np
import pytest

from worldflux_cli.envs import EnvSpec, make_env
from worldflux_cli.envs.adapter import Adapter
from worldflux_cli.envs.wrappers import ActionRepeat, RescaleAction, TimeLimit


def test_action_repeat_sums_the_rewards_of_the_repeated_steps():
    actions = np.linspace(-1, 1, 12).reshape(12, 1)
    with make_env("dmc:cartpole-balance?action_repeat=1", seed=3) as single, \
            make_env("dmc:cartpole-balance?action_repeat=3", seed=3) as triple:
        assert np.array_equal(single.reset(), triple.reset())
        for action in actions[:4]:
            rewards = []
            for _ in range(3):
                obs_single, reward, *_ = single.step(action)
                rewards.append(reward)
            obs_triple, reward_triple, *_ = triple.step(action)
            assert np.allclose(obs_single, obs_triple)
            assert reward_triple == pytest.approx(sum(rewards)) and reward_triple > max(rewards)


@pytest.mark.parametrize("ref, steps", [("dmc:cartpole-balance?episode_length=7", 7),
                                        ("gym:Pendulum-v1?episode_length=5", 5),
                                        ("gym:Pendulum-v1?action_repeat=3&episode_length=4", 4)])
def test_the_time_limit_truncates_at_its_step_and_not_before(ref, steps):
    with make_env(ref, seed=0) as env:
        env.reset()
        action = np.zeros(env.spec.action_dim)
        ends = [env.step(action)[2:4] for _ in range(steps)]
        assert ends == [(False, False)] * (steps - 1) + [(False, True)]
        with pytest.raises(RuntimeError, match="reset"):  # the episode is over
            env.step(action)
        env.reset()
        assert env.step(action)[3] is False  # a new episode


def test_the_default_episode_is_the_suites_1000_steps_at_action_repeat_2():
    with make_env("dmc:cartpole-balance", seed=0) as env:
        env.reset()
        truncated_at = next(t for t in range(1, 600) if env.step(np.zeros(1))[3])
        assert truncated_at == env.spec.episode_length == 500
        assert env.unwrapped.physics.data.time == pytest.approx(1000 * env.unwrapped.control_timestep())


def test_an_episode_longer_than_the_suites_own_limit_runs_to_its_own_length():
    with make_env("dmc:cartpole-balance?action_repeat=2&episode_length=510", seed=0) as env:
        env.reset()
        ends = [env.step(np.zeros(1))[3] for _ in range(510)]
        assert not any(ends[:-1]) and ends[-1]


def test_rescaling_maps_minus_one_and_one_to_the_bounds_exactly():
    with make_env("gym:Pendulum-v1", seed=0) as env:
        env.reset()
        pendulum = env.unwrapped.unwrapped
        for action, torque in ((-1.0, -2.0), (1.0, 2.0), (0.0, 0.0), (0.5, 1.0), (7.0, 2.0), (-7.0, -2.0)):
            env.step([action])
            assert pendulum.last_u == torque, (action, pendulum.last_u)


class _Recorder(Adapter):
    """A fake adapter with asymmetric bounds that records the actions it receives (an env of 3 steps)."""

    def __init__(self):
        super().__init__(seed=None)
        self.spec = EnvSpec("fake:record", (1,), "float32", 3, "continuous", (0.0, -3.0, -1e-3), (10.0, 5.0, 7.5),
                            episode_length=3)
        self.received = []

    def _reset(self, seed):
        return np.zeros(1, np.float32)

    def _step(self, action):
        self.received.append(np.asarray(action, dtype=np.float64))
        return np.zeros(1, np.float32), 1.0, False, len(self.received) >= 3, {}


def test_rescaling_at_both_ends_of_asymmetric_bounds():
    fake = _Recorder()
    env = RescaleAction(fake)
    env.reset()
    env.step([-1, -1, -1])
    env.step([1, 1, 1])
    env.step([0, 0, 0])
    assert fake.received[0].tolist() == [0.0, -3.0, -1e-3]
    assert fake.received[1].tolist() == [10.0, 5.0, 7.5]
    assert np.allclose(fake.received[2], [5.0, 1.0, (7.5 - 1e-3) / 2])
    with pytest.raises(ValueError, match="takes 3"):
        env.step([0, 0])


def test_repeat_stops_at_the_end_of_the_episode_and_the_limit_counts_agent_steps():
    fake = _Recorder()
    env = TimeLimit(ActionRepeat(fake, 2), 10)
    env.reset()
    assert env.step(np.zeros(3))[1:4] == (2.0, False, False)
    assert env.step(np.zeros(3))[1:4] == (1.0, False, True)  # the third env step ended it: the fourth never ran
    assert len(fake.received) == 3 and env.elapsed == 2
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3))


def test_seeds_make_episodes_repeatable():
    for ref in ("dmc:walker-walk", "gym:Pendulum-v1"):
        with make_env(ref) as env:
            a, b, c = env.reset(seed=5), env.reset(seed=5), env.reset(seed=6)
            assert np.array_equal(a, b) and not np.array_equal(a, c), ref


def test_discrete_actions_take_an_index_or_a_one_hot_vector():
    with make_env("gym:CartPole-v1", seed=0) as by_index, make_env("gym:CartPole-v1", seed=0) as by_vector:
        by_index.reset()
        by_vector.reset()
        for index in (0, 1, 1, 0):
            one_hot = np.eye(2)[index]
            assert np.array_equal(by_index.step(index)[0], by_vector.step(one_hot)[0])


def test_pixels_are_rendered_once_per_agent_step_whatever_the_action_repeat(monkeypatch):
    from worldflux_cli.envs.dmc_env import DMCEnv

    sizes = []
    real = DMCEnv._render

    def counting(self, size):
        sizes.append(size)
        return real(self, size)

    monkeypatch.setattr(DMCEnv, "_render", counting)
    with make_env("dmc:cartpole-balance?obs=pixels&action_repeat=4", seed=0) as env, \
            make_env("dmc:cartpole-balance?obs=pixels&action_repeat=1", seed=0) as single:
        env.reset()
        single.reset()
        sizes.clear()
        for _ in range(3):
            obs = env.step(np.zeros(1))[0]
        assert len(sizes) == 3 and obs.shape == (3, 64, 64)  # not 12: the repeated steps are not observed
        for _ in range(12):
            expected = single.step(np.zeros(1))[0]
        assert np.array_equal(obs, expected)  # the same frame as observing every step
        frame = env.render(48)
        assert frame.shape == (48, 48, 3) and frame.dtype == np.uint8
        assert env.seconds_per_step == pytest.approx(4 * env.unwrapped.control_timestep())


class _Quiet(_Recorder):
    """The fake adapter with a step that makes no observation (as dm_control's, for pixels)."""

    observed = 0

    def _step_quiet(self, action):
        return (None, *self._step(action)[1:])

    def observe(self):
        self.observed += 1
        return np.full(1, len(self.received), np.float32)


def test_a_repeat_that_ends_the_episode_early_still_observes():
    fake = _Quiet()
    env = ActionRepeat(fake, 5)
    env.reset()
    obs, reward, _, truncated, _ = env.step(np.zeros(3))  # the third environment step ends the episode
    assert truncated and reward == 3.0 and obs.tolist() == [3.0] and fake.observed == 1
