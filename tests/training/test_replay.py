"""The TD-MPC2 replay buffer: bounded, windows of horizon + 1 steps from one episode, the official layout."""

from __future__ import annotations

import numpy as np

from worldflux_cli.training.replay import Replay


def _fill(replay: Replay, episodes: int, length: int) -> None:
    step = 0
    for ep in range(episodes):
        replay.start_episode(np.full(2, step, np.float32), ep)
        for _ in range(length):
            step += 1
            replay.add(np.full(2, step, np.float32), np.full(1, step, np.float32), float(step), False)


def test_windows_come_from_one_episode_in_the_official_layout():
    replay = Replay(capacity=40, obs_shape=(2,), action_dim=1, horizon=3)
    assert replay.sample(4, np.random.default_rng(0)) is None
    _fill(replay, episodes=10, length=6)  # 70 steps into a ring of 40: the oldest are overwritten
    assert len(replay) == 40 and replay.total == 70
    batch = replay.sample(256, np.random.default_rng(0))
    assert batch["obs"].shape == (4, 256, 2) and batch["action"].shape == (3, 256, 1)
    assert batch["reward"].shape == (3, 256) and batch["terminated"].shape == (3, 256)
    obs = batch["obs"][:, :, 0]
    assert (np.diff(obs, axis=0) == 1).all()  # consecutive steps of one episode (no reset inside a window)
    assert (batch["action"][:, :, 0] == obs[1:]).all() and (batch["reward"] == obs[1:]).all()
    assert obs.min() >= 26  # entry 30 (episode 4, step 2; value 6 x 4 + 2) is the oldest the ring holds


def test_state_round_trip():
    replay = Replay(capacity=40, obs_shape=(2,), action_dim=1, horizon=3)
    _fill(replay, episodes=3, length=6)
    arrays, counters = replay.state()
    again = Replay(capacity=40, obs_shape=(2,), action_dim=1, horizon=3)
    again.load_state(arrays, counters)
    a, b = replay.sample(8, np.random.default_rng(1)), again.sample(8, np.random.default_rng(1))
    assert all((a[k] == b[k]).all() for k in a)
