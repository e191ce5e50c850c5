"""TD-MPC2's agent: the planner on a batch of N observations with a warm start per environment, the batch it
builds from replay windows, and the model's grad_hook (the place data-parallel training averages gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worldflux_cli.config import TDMPC2Config
from worldflux_cli.models import build_model
from worldflux_cli.training.tdmpc2_agent import TDMPC2Agent


def _model(**overrides):
    torch.manual_seed(0)
    values = {"obs_shape": (3,), "action_dim": 2, "horizon": 3, "num_samples": 32, "num_elites": 4,
              "num_pi_trajs": 2, "iterations": 1, "device": "cpu", **overrides}
    config = TDMPC2Config.from_size("tiny", **values)
    return build_model(config, device="cpu")


def test_each_env_is_warm_started_from_its_own_plan_and_restarted_at_its_episode_start():
    model = _model()
    agent = TDMPC2Agent(model, None, num_envs=3)
    calls = []
    real = model.plan

    def spy(obs, **kwargs):
        calls.append({k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()})
        return real(obs, **kwargs)

    model.plan = spy
    rng = np.random.default_rng(0)
    obs = np.random.default_rng(1).normal(size=(3, 3)).astype(np.float32)
    assert agent.act(obs, np.ones(3, bool), True, rng).shape == (3, 2) and not calls  # prefill: no planning
    agent.act(obs, np.zeros(3, bool), False, rng)
    assert calls[-1]["t0"] is True  # after random actions nothing warm-starts
    first_means = agent.plan_mean.clone()
    assert first_means.shape == (3, 3, 2) and first_means.abs().sum() > 0
    actions = agent.act(obs, np.array([False, True, False]), False, rng)
    assert actions.shape == (3, 2) and actions.dtype == np.float32 and np.abs(actions).max() <= 1
    prev = calls[-1]["prev_mean"]
    assert calls[-1]["t0"] is False
    assert torch.equal(prev[0], first_means[0]) and torch.equal(prev[2], first_means[2])
    assert torch.equal(prev[1], torch.zeros_like(prev[1]))  # env 1 began an episode: the mean t0 starts from
    state = agent.state()
    again = TDMPC2Agent(model, None, num_envs=3)
    again.load_state(state)
    assert torch.equal(again.plan_mean, agent.plan_mean) and again.has_mean.all()


def test_a_batched_plan_with_zero_rows_equals_plans_from_t0_for_those_rows():
    model = _model()
    obs = torch.randn(2, 3, generator=torch.Generator().manual_seed(2))
    model.plan(obs, t0=True, eval_mode=True, generator=torch.Generator().manual_seed(0))
    warm = model.plan_mean.clone()
    zero_row = torch.stack([warm[0], torch.zeros_like(warm[1])])
    mixed = model.plan(obs, t0=False, eval_mode=True, prev_mean=zero_row, generator=torch.Generator().manual_seed(5))
    mixed_mean = model.plan_mean.clone()
    cold = model.plan(obs, t0=True, eval_mode=True, generator=torch.Generator().manual_seed(5))
    assert torch.equal(mixed[1], cold[1]) and torch.equal(mixed_mean[1], model.plan_mean[1])
    assert not torch.equal(mixed_mean[0], model.plan_mean[0])  # row 0 was warm-started


def _windows(rng, horizon=3, batch=8, episodic=False):
    return {"obs": rng.normal(size=(horizon + 1, batch, 3)).astype(np.float32),
            "action": rng.uniform(-1, 1, (horizon + 1, batch, 2)).astype(np.float32),
            "reward": rng.normal(size=(horizon + 1, batch)).astype(np.float32),
            "terminated": np.zeros((horizon + 1, batch), np.float32)}


def test_update_takes_steps_1_to_h_of_each_window_and_the_grad_hook_sees_every_optimizers_parameters():
    windows = _windows(np.random.default_rng(0))
    plain = TDMPC2Agent(_model(), None, 1)
    torch.manual_seed(1)
    plain_metrics = plain.update(windows)
    hooked = TDMPC2Agent(_model(), None, 1)
    seen = []
    torch.manual_seed(1)
    hooked_metrics = hooked.update(windows, reduce_grads=lambda params: seen.append(len(params)))
    assert plain_metrics == hooked_metrics  # a hook that changes nothing changes nothing
    model = hooked.model
    assert seen == [len(model.world_model_parameters()), len(list(model.pi.parameters()))]
    for a, b in zip(plain.model.parameters(), model.parameters(), strict=True):
        assert torch.equal(a, b)
    doubled = TDMPC2Agent(_model(), None, 1)
    torch.manual_seed(1)

    def double(params):
        for p in params:
            if p.grad is not None:
                p.grad.mul_(2)

    assert doubled.update(windows, reduce_grads=double)["grad_norm"] == \
        pytest.approx(2 * plain_metrics["grad_norm"], rel=1e-5)  # called before the clipping's norm


def test_pixel_windows_reach_the_model_as_uint8():
    model = _model(obs_shape=(3, 64, 64), cnn_channels=4)
    agent = TDMPC2Agent(model, None, 1)
    seen = {}
    real = model.update

    def spy(batch, grad_hook=None):
        seen.update({k: (v.dtype, tuple(v.shape)) for k, v in batch.items()})
        return real(batch, grad_hook=grad_hook)

    model.update = spy
    rng = np.random.default_rng(0)
    windows = _windows(rng, batch=2)
    windows["obs"] = rng.integers(0, 256, (4, 2, 3, 64, 64), dtype=np.uint8)
    agent.update(windows)
    assert seen["obs"] == (torch.uint8, (4, 2, 3, 64, 64)) and seen["action"] == (torch.float32, (3, 2, 2))
    assert "terminated" not in seen  # not episodic
    action = agent.act(windows["obs"][0, :1], np.ones(1, bool), False, rng)
    assert action.shape == (1, 2)
