"""TD-MPC2 model tests: shapes, gradients, math, learning, determinism, MPPI, EMA targets."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from worldflux_cli.config import TDMPC2Config
from worldflux_cli.models import build_model
from worldflux_cli.models.math import symexp, symlog
from worldflux_cli.models.tdmpc2 import QEnsemble, SimNorm, two_hot, two_hot_inv

pytestmark = pytest.mark.usefixtures("kernel_mode")  # (no TD-MPC2 kernel yet: the tests hold in both modes)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread is as fast, and immune to other processes holding the CPUs
    (with two OpenMP threads on a busy 2-core machine a step can take 30x longer)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(**overrides) -> TDMPC2Config:
    return TDMPC2Config.from_size("tiny", **overrides)


def small(**overrides) -> TDMPC2Config:
    """A very small config for the slower checks (few samples, short horizon)."""
    values = dict(latent_dim=16, hidden_dim=16, encoder_dim=16, num_bins=11, horizon=2, num_samples=32,
                  num_elites=8, num_pi_trajs=4, iterations=2, task_dim=4, cnn_channels=4)
    values.update(overrides)
    return TDMPC2Config(**values)


def model_of(config: TDMPC2Config, seed: int = 0, dtype: str | None = None):
    torch.manual_seed(seed)
    return build_model(config, dtype=dtype)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("obs_shape", [(39,), (3, 16, 24)])
@pytest.mark.parametrize("num_tasks", [1, 3])
def test_output_shapes(obs_shape, num_tasks):
    cfg = small(obs_shape=obs_shape, action_dim=5, num_tasks=num_tasks, num_q_networks=3, use_decoder=True)
    model = model_of(cfg)
    b, h = 7, cfg.horizon
    batch = model.random_batch(b, generator=gen())
    assert batch["obs"].shape == (h + 1, b, *obs_shape)
    assert batch["action"].shape == (h, b, 5) and batch["reward"].shape == (h, b)
    assert ("task" in batch) == (num_tasks > 1)
    emb = model.embed_task(batch.get("task"))
    z = model.encode(batch["obs"][0], emb)
    assert z.shape == (b, cfg.latent_dim)
    assert model.encode(batch["obs"], emb).shape == (h + 1, b, cfg.latent_dim)  # time-major stacks too
    action = batch["action"][0]
    assert model.next(z, action, emb).shape == (b, cfg.latent_dim)
    assert model.reward(z, action, emb).shape == (b, cfg.num_bins)
    assert model.q_value(z, action, emb, "all").shape == (3, b, cfg.num_bins)
    assert model.q_value(z, action, emb, "min").shape == (b,)
    assert model.q_value(z, action, emb, "avg", target=True).shape == (b,)
    pi_action, info = model.policy(z, emb)
    assert pi_action.shape == (b, 5) and info["entropy"].shape == (b,)
    assert pi_action.abs().max() <= 1
    assert model.decoder(z).shape == (b, math.prod(obs_shape))
    loss, metrics = model.loss(batch)
    assert loss.shape == () and torch.isfinite(loss)
    assert {"consistency_loss", "reward_loss", "value_loss", "pi_loss", "decoder_loss", "loss"} <= set(metrics)
    actions = model.plan(batch["obs"][0], task=batch.get("task"), generator=gen())
    assert actions.shape == (b, 5)


def test_public_submodules_and_components():
    model = model_of(small(num_tasks=2, use_decoder=True))
    for name in ("encoder", "dynamics", "reward_head", "pi", "qs", "target_qs", "task_emb", "decoder"):
        assert isinstance(getattr(model, name), torch.nn.Module)
    assert set(model.component_params()) == {"encoder", "dynamics", "reward", "policy", "q_ensemble",
                                             "task_embedding", "decoder"}
    assert sum(model.component_params().values()) == sum(p.numel() for p in model.trainable_parameters())
    plain = model_of(small())
    assert not hasattr(plain, "task_emb") and not hasattr(plain, "decoder")
    assert set(plain.component_params()) == {"encoder", "dynamics", "reward", "policy", "q_ensemble"}


def test_multitask_needs_task():
    model = model_of(small(num_tasks=3))
    batch = model.random_batch(4, generator=gen())
    del batch["task"]
    with pytest.raises(ValueError, match="num_tasks"):
        model.loss(batch)


# ---------------------------------------------------------------------------- gradients
def _train(model, batch, steps: int, lr: float = 1e-3):
    opt = torch.optim.Adam(model.trainable_parameters(), lr=lr)
    for _ in range(steps):
        loss, metrics = model.loss(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        model.update_targets()
    return metrics


@pytest.mark.parametrize("obs_shape", [(39,), (3, 16, 16)])
def test_gradients_reach_every_trainable_parameter(obs_shape):
    cfg = small(obs_shape=obs_shape, num_tasks=3, use_decoder=True)
    model = model_of(cfg)
    batch = model.random_batch(16, generator=gen())
    batch["task"] = torch.arange(16) % 3  # every task embedding row is used
    _train(model, batch, 2)  # the zero-initialised reward/Q output layers block gradients at step 0
    loss, _ = model.loss(batch)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert dead == []
    assert all(p.grad is None for p in model.target_qs.parameters())


def test_policy_loss_reaches_only_the_policy():
    """Raising the entropy coefficient changes the gradient of the policy and of the task embedding (not
    detached in the policy loss, as official) and nothing else's."""
    model = model_of(small(num_tasks=2))
    batch = model.random_batch(16, generator=gen())
    _train(model, batch, 2)

    def grads(entropy_coef):
        model.config = dataclasses.replace(model.config, entropy_coef=entropy_coef)
        model.zero_grad(set_to_none=True)
        torch.manual_seed(5)
        model.loss(batch)[0].backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    low, high = grads(1e-4), grads(10.0)
    assert low.keys() == high.keys()
    for name in low:
        same = torch.equal(low[name], high[name])
        assert same != (name.startswith("pi.") or name == "task_emb.weight"), name


# --------------------------------------------------------------------------------- math
def test_simnorm_groups_sum_to_one():
    x = torch.randn(5, 3, 32) * 10
    y = SimNorm(8)(x)
    groups = y.view(5, 3, 4, 8)
    assert torch.allclose(groups.sum(-1), torch.ones(5, 3, 4), atol=1e-6)
    assert (y >= 0).all()
    model = model_of(small(latent_dim=24, simnorm_dim=4))
    z = model.encode(model.random_batch(6, generator=gen())["obs"][0])
    assert torch.allclose(z.view(6, 6, 4).sum(-1), torch.ones(6, 6), atol=1e-5)
    z2 = model.next(z, torch.zeros(6, model.config.action_dim))
    assert torch.allclose(z2.view(6, 6, 4).sum(-1), torch.ones(6, 6), atol=1e-5)


def test_symlog_symexp_hand_values():
    e = math.e
    assert torch.allclose(symlog(torch.tensor([0.0, e - 1, -(e**2 - 1)])), torch.tensor([0.0, 1.0, -2.0]))
    assert torch.allclose(symexp(torch.tensor([0.0, 1.0, -2.0])), torch.tensor([0.0, e - 1, -(e**2 - 1)]))
    x = torch.linspace(-100, 100, 41)
    assert torch.allclose(symexp(symlog(x)), x, rtol=1e-5, atol=1e-5)


def test_two_hot_hand_values_and_round_trip():
    # 5 bins at symlog values -2, -1, 0, 1, 2
    x = symexp(torch.tensor([0.0, 0.5, -1.25, 2.0, 7.0, -3.0]))
    expected = torch.tensor([
        [0, 0, 1, 0, 0],
        [0, 0, 0.5, 0.5, 0],
        [0.25, 0.75, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1],  # clamped to vmax
        [1, 0, 0, 0, 0],  # clamped to vmin
    ])
    enc = two_hot(x, 5, -2.0, 2.0)
    assert torch.allclose(enc, expected, atol=1e-6)
    decoded = two_hot_inv(enc.clamp_min(1e-30).log(), -2.0, 2.0)
    assert torch.allclose(decoded, symexp(torch.tensor([0.0, 0.5, -1.25, 2.0, 2.0, -2.0])), atol=1e-5)
    # the official default: 101 bins on [-10, 10], bin size 0.2; symlog(x) = 0.3 sits between bins 51 and 52
    enc = two_hot(symexp(torch.tensor([0.3])), 101, -10.0, 10.0)[0]
    assert enc.nonzero().flatten().tolist() == [51, 52]
    assert torch.allclose(enc[51:53], torch.tensor([0.5, 0.5]), atol=1e-5)
    values = torch.tensor([-1000.0, -3.0, 0.0, 0.02, 17.0, 20000.0])
    enc = two_hot(values, 101, -10.0, 10.0)
    assert torch.allclose(enc.sum(-1), torch.ones(6))
    assert torch.allclose(two_hot_inv(enc.clamp_min(1e-30).log(), -10.0, 10.0), values, rtol=1e-4, atol=1e-5)


def test_q_ensemble_matches_member_by_member_mlps():
    torch.manual_seed(0)
    ens = QEnsemble(3, 10, 12, 3, 7, dropout=0.0)
    with torch.no_grad():
        for p in ens.parameters():
            p.normal_()
    x = torch.randn(4, 5, 10)
    out = ens(x)
    assert out.shape == (3, 4, 5, 7)
    for e in range(3):
        h = x
        for i in range(3):
            h = F.linear(h, ens.weight[i][e].t(), ens.bias[i][e, 0])
            h = F.mish(F.layer_norm(h, (12,), ens.ln_weight[i][e, 0], ens.ln_bias[i][e, 0]))
        ref = F.linear(h, ens.weight[3][e].t(), ens.bias[3][e, 0])
        assert torch.allclose(out[e], ref, atol=1e-4)
    pair = torch.tensor([2, 0])
    assert torch.allclose(ens(x, members=pair), out[pair], atol=1e-5)
    x.requires_grad_(True)
    ens(x, members=pair, detach=True).sum().backward()
    assert all(p.grad is None for p in ens.parameters()) and x.grad is not None
    ens(x, members=pair).sum().backward()
    assert ens.weight[0].grad[1].abs().sum() == 0 and ens.weight[0].grad[0].abs().sum() > 0  # member 1 unused


# ---------------------------------------------------------------------- learning / seeds
def test_tiny_preset_world_model_loss_falls_by_half():
    model = model_of(tiny())
    batch = model.random_batch(32, generator=gen())
    first = model.loss(batch)[1]["world_model_loss"]
    last = _train(model, batch, 150, lr=3e-3)["world_model_loss"]
    assert last < 0.5 * first, (float(first), float(last))


def test_seeded_runs_are_identical():
    def run():
        model = model_of(small(num_tasks=2, obs_shape=(3, 16, 16)), seed=3)  # image: random shifts too
        batch = model.random_batch(8, generator=gen(1))
        torch.manual_seed(7)
        metrics = _train(model, batch, 3)
        actions = model.plan(batch["obs"][0], task=batch["task"], generator=gen(2))
        return metrics, actions, [p.detach().clone() for p in model.parameters()]

    (m1, a1, p1), (m2, a2, p2) = run(), run()
    assert all(torch.equal(m1[k], m2[k]) for k in m1)
    assert torch.equal(a1, a2)
    assert all(torch.equal(x, y) for x, y in zip(p1, p2, strict=True))
    b1 = model_of(tiny()).random_batch(4, generator=gen(9))
    b2 = model_of(tiny(), seed=1).random_batch(4, generator=gen(9))
    assert all(torch.equal(b1[k], b2[k]) for k in b1)


def test_bfloat16_and_meta():
    model = model_of(small(num_tasks=2, use_decoder=True), dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    batch = model.random_batch(8, generator=gen())
    assert batch["obs"].dtype == torch.bfloat16
    loss, _ = model.loss(batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.plan(batch["obs"][0], task=batch["task"], generator=gen()).dtype == torch.bfloat16
    meta = build_model(small(obs_shape=(3, 32, 32), num_tasks=2), device="meta")
    assert all(p.device.type == "meta" for p in meta.parameters())


# --------------------------------------------------------------------------------- MPPI
def test_plan_actions_in_bounds_and_warm_start():
    cfg = small(action_dim=3, num_tasks=2)
    model = model_of(cfg)
    with torch.no_grad():  # large outputs so that unclamped samples would leave [-1, 1]
        for p in model.pi.parameters():
            p.mul_(50)
    obs = model.random_batch(5, generator=gen())["obs"][0]
    actions = model.plan(obs, task=torch.tensor([0, 1, 0, 1, 1]), generator=gen())
    assert actions.shape == (5, 3) and actions.abs().max() <= 1
    assert model.plan_mean.shape == (5, cfg.horizon, 3)
    again = model.plan(obs, task=1, t0=False, eval_mode=True, prev_mean=torch.ones(5, cfg.horizon, 3))
    assert again.shape == (5, 3) and again.abs().max() <= 1
    assert model.training  # plan() restores the mode it found


def test_mppi_improves_on_random_actions_for_a_quadratic_objective(monkeypatch):
    cfg = small(action_dim=4, horizon=3, num_samples=256, num_elites=32, num_pi_trajs=8, iterations=8,
                temperature=0.5, min_std=0.05)
    model = model_of(cfg)
    target = torch.tensor([0.6, -0.3, 0.0, -0.8])

    def quadratic(z, actions, emb=None, generator=None, **_):
        return -((actions - target) ** 2).sum((0, -1))  # (B, N): maximised by a_t = target for all t

    monkeypatch.setattr(model, "estimate_value", quadratic)
    obs = model.random_batch(6, generator=gen())["obs"][0]
    planned = model.plan(obs, eval_mode=True, generator=gen(3))
    random_actions = torch.rand(6, 4, generator=gen(4)) * 2 - 1
    planned_error = (planned - target).norm(dim=-1).mean()
    random_error = (random_actions - target).norm(dim=-1).mean()
    assert planned_error < 0.15 * random_error, (float(planned_error), float(random_error))
    assert planned_error < 0.15


# ------------------------------------------------------------------------- EMA targets
def test_target_qs_are_frozen_and_move_by_ema():
    model = model_of(small())
    assert all(not p.requires_grad for p in model.target_qs.parameters())
    assert model.frozen_params() == {"target_qs": model.component_params()["q_ensemble"]}
    assert not any(p is t for p in model.trainable_parameters() for t in model.target_qs.parameters())
    for online, target in zip(model.qs.parameters(), model.target_qs.parameters(), strict=True):
        assert torch.equal(online, target)  # the target starts as a copy
    model.train()
    assert not model.target_qs.training  # no dropout in the targets
    batch = model.random_batch(8, generator=gen())
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-2)
    model.loss(batch)[0].backward()
    opt.step()
    before = [t.detach().clone() for t in model.target_qs.parameters()]
    model.update_targets()
    tau = model.config.tau
    moved = False
    for old, online, new in zip(before, model.qs.parameters(), model.target_qs.parameters(), strict=True):
        assert torch.allclose(new, old + tau * (online - old), atol=1e-7)
        moved |= not torch.equal(new, old)
    assert moved
