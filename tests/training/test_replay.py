"""The replay buffer: bounded rings per environment, windows of consecutive steps, the official TD-MPC2 layout."""

from __future__ import annotations

import numpy as np

from worldflux_cli.training.layout import Field, dreamer_layout, entry_bytes, replay_info, tdmpc2_layout
from worldflux_cli.training.replay import Replay


def _fill(replay: Replay, episodes: int, length: int, env: int = 0, offset: float = 0.0) -> None:
    step = 0
    for ep in range(episodes):
        replay.add(env, ep, obs=np.full(2, offset + step, np.float32))
        for _ in range(length):
            step += 1
            replay.add(env, ep, obs=np.full(2, offset + step, np.float32), action=np.full(1, step, np.float32),
                       reward=float(step))


def test_windows_come_from_one_episode_in_the_official_layout():
    replay = Replay(tdmpc2_layout((2,), 1), capacity=40)
    assert replay.sample(4, 4, np.random.default_rng(0)) is None
    _fill(replay, episodes=10, length=6)  # 70 steps into a ring of 40: the oldest are overwritten
    assert len(replay) == 40 and replay.total.tolist() == [70]
    batch = replay.sample(256, 4, np.random.default_rng(0))
    assert batch["obs"].shape == (4, 256, 2) and batch["action"].shape == (4, 256, 1)
    assert batch["reward"].shape == (4, 256) and batch["terminated"].shape == (4, 256)
    obs = batch["obs"][:, :, 0]
    assert (np.diff(obs, axis=0) == 1).all()  # consecutive steps of one episode (no reset inside a window)
    assert (batch["action"][1:, :, 0] == obs[1:]).all() and (batch["reward"][1:] == obs[1:]).all()
    assert obs.min() >= 26  # entry 30 (episode 4, step 2; value 6 x 4 + 2) is the oldest the ring holds


def test_each_environment_has_its_own_ring_and_windows_never_mix_them():
    replay = Replay(tdmpc2_layout((2,), 1), capacity=60, num_envs=3)
    assert replay.capacity == 20 and replay.data["obs"].shape == (3, 20, 2)
    for env in range(3):  # interleaving would break windows; rings keep each environment's steps together
        _fill(replay, episodes=2, length=9, env=env, offset=1000.0 * env)
    batch = replay.sample(512, 4, np.random.default_rng(0))
    obs = batch["obs"][:, :, 0]
    assert (np.diff(obs, axis=0) == 1).all()
    owner = obs[0] // 1000
    assert set(owner.tolist()) == {0, 1, 2} and (obs // 1000 == owner).all()
    counts = np.bincount(owner.astype(int), minlength=3)
    assert counts.min() > 512 / 3 * 0.75  # uniform over the rings' windows (each ring holds as many)


def test_sequences_may_cross_episode_starts_without_one_episode():
    replay = Replay(dreamer_layout((2,), 1), capacity=100)
    for ep in range(5):
        for k in range(4):
            replay.add(0, ep, obs=np.full(2, ep * 4 + k, np.float32), is_first=k == 0)
    within = replay.sample(64, 6, np.random.default_rng(0))
    assert within is None  # no 6 steps inside one 4-step episode
    across = replay.sample(64, 6, np.random.default_rng(0), one_episode=False)
    assert across["obs"].shape == (6, 64, 2) and across["is_first"].dtype == bool
    assert (np.diff(across["obs"][:, :, 0], axis=0) == 1).all()
    assert across["is_first"].any(axis=0).all()  # every 6-step sequence crosses an episode start
    assert (across["is_first"] == (across["obs"][:, :, 0] % 4 == 0)).all()


def test_images_are_stored_as_uint8_and_the_size_is_the_layouts():
    layout = tdmpc2_layout((3, 64, 64), 1)
    assert layout[0] == Field("obs", (3, 64, 64), "uint8")
    replay = Replay(layout, capacity=10)
    assert replay.data["obs"].dtype == np.uint8
    assert sum(a.nbytes for a in replay.data.values()) + replay.episode.nbytes == 10 * entry_bytes(layout)
    info = replay_info(type("M", (), {"family": "tdmpc2", "obs_shape": [3, 64, 64], "action_dim": 1})(), 10, 1)
    assert info["bytes"] == 10 * (3 * 64 * 64 + 4 + 4 + 4 + 8) and info["obs_dtype"] == "uint8"


def test_state_round_trip():
    replay = Replay(tdmpc2_layout((2,), 1), capacity=40, num_envs=2)
    _fill(replay, episodes=3, length=6)
    _fill(replay, episodes=1, length=5, env=1, offset=500.0)
    arrays, counters = replay.state()
    again = Replay(tdmpc2_layout((2,), 1), capacity=40, num_envs=2)
    again.load_state(arrays, counters)
    a, b = replay.sample(8, 4, np.random.default_rng(1)), again.sample(8, 4, np.random.default_rng(1))
    assert all((a[k] == b[k]).all() for k in a)
    assert again.total.tolist() == [21, 6]
