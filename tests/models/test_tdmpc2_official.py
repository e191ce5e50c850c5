"""TD-MPC2 against the official algorithm's rules: update order, discount, iterations, masks, termination, dtype."""

from __future__ import annotations

import pytest
import torch

from worldflux_cli.config import TDMPC2Config
from worldflux_cli.models import build_model
from worldflux_cli.params.tdmpc2 import count


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small(**overrides) -> TDMPC2Config:
    values = dict(latent_dim=16, hidden_dim=16, encoder_dim=16, num_bins=11, horizon=2, num_samples=32,
                  num_elites=8, num_pi_trajs=4, iterations=2, task_dim=4, cnn_channels=4, num_q_networks=3)
    values.update(overrides)
    return TDMPC2Config(**values)


def randomised(config: TDMPC2Config, seed: int = 0):
    """A model with every parameter random (the zero-initialised heads too)."""
    torch.manual_seed(seed)
    model = build_model(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for online, target in zip(model.qs.parameters(), model.target_qs.parameters(), strict=True):
            target.copy_(online + torch.randn_like(online) * 0.05)
    return model


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------- update order
def test_policy_step_sees_the_stepped_q_weights_and_touches_only_the_policy():
    model = randomised(small(num_tasks=2))
    batch = model.random_batch(16, generator=gen())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    seen: dict[str, torch.Tensor] = {}
    grads_at_pi_step: dict[str, torch.Tensor | None] = {}
    original = model.policy_loss

    def spy(z, task=None):
        seen.update({n: p.detach().clone() for n, p in model.qs.named_parameters()})
        return original(z, task)

    model.policy_loss = spy
    model.configure_optimizers()
    step = model._pi_optim.step

    def pi_step(*a, **k):
        grads_at_pi_step.update({n: p.grad for n, p in model.named_parameters()})
        return step(*a, **k)

    model._pi_optim.step = pi_step
    metrics = model.update(batch)
    after = dict(model.named_parameters())
    for name, value in seen.items():  # the policy loss ran on the Qs after the world-model step
        assert torch.equal(value, after[f"qs.{name}"]) and not torch.equal(value, before[f"qs.{name}"]), name
    for name, grad in grads_at_pi_step.items():  # the policy's backward reached pi and the task embedding only
        assert (grad is not None) == (name.startswith("pi.") or name == "task_emb.weight"), name
    assert all(not torch.equal(before[n], p) for n, p in after.items() if n.startswith("pi."))
    assert model.task_emb.weight.grad is not None  # kept until the next world-model step, as official
    assert {"grad_norm", "pi_grad_norm", "pi_loss", "consistency_loss"} <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())


def test_world_model_step_never_reaches_the_policy_and_targets_are_detached():
    model = randomised(small())
    batch = model.random_batch(8, generator=gen())
    world, _, _ = model.world_model_loss(batch)
    world.backward()
    assert all(p.grad is None for p in model.pi.parameters())
    assert all(p.grad is None and not p.requires_grad for p in model.target_qs.parameters())
    assert all(p.grad is not None for p in model.dynamics.parameters())


def test_update_is_one_official_iteration_by_hand():
    """update() equals: world step (clipped alone), then the policy step on the stepped Qs, then EMA."""
    cfg = small(dropout=0.0, grad_clip=0.05)  # a small clip: the two clips must be separate to agree
    a, b = randomised(cfg), randomised(cfg)
    batch = a.random_batch(8, generator=gen(1))
    torch.manual_seed(3)
    a.update(batch)
    b.configure_optimizers()
    torch.manual_seed(3)  # the same noise, drawn in the same order: TD targets in eval mode first
    b.eval()
    obs, action, reward, terminated, task = b._batch_parts(batch)
    with torch.no_grad():
        next_z = b.encode(obs[1:])
        td = reward + b.discount() * (1 - terminated) * b.q_value(next_z, b.policy(next_z)[0], None, "min",
                                                                  target=True)
    b.train()
    rho = cfg.rho ** torch.arange(cfg.horizon + 1, dtype=reward.dtype)
    world, z, _ = b._world_loss(obs, action, reward, terminated, None, next_z, td, rho)
    world.backward()
    torch.nn.utils.clip_grad_norm_(b.world_model_parameters(), cfg.grad_clip)
    b._optim.step()
    b._optim.zero_grad(set_to_none=True)
    pi_loss, _ = b.policy_loss(z)
    pi_loss.backward()
    torch.nn.utils.clip_grad_norm_(list(b.pi.parameters()), cfg.grad_clip)
    b._pi_optim.step()
    b.update_targets()
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


# ---------------------------------------------------------------------------------- discount
@pytest.mark.parametrize(("length", "expected"), [(25, 0.95), (100, 0.95), (200, 0.975), (500, 0.99),
                                                  (1000, 0.995), (2000, 0.995)])
def test_discount_from_episode_length_clipped_as_official(length, expected):
    assert TDMPC2Config(episode_length=length).task_discounts() == pytest.approx((expected,))
    frac = length / 5
    assert TDMPC2Config.discount_for(length) == min(max((frac - 1) / frac, 0.95), 0.995)


def test_explicit_discount_wins_and_unknown_length_gives_099():
    assert TDMPC2Config(episode_length=1000, discount=0.9).task_discounts() == (0.9,)
    assert TDMPC2Config().task_discounts() == (0.99,)
    assert TDMPC2Config().momentum == 0.0  # the official planner has no momentum


def test_multitask_discount_per_task_reaches_the_td_target():
    model = randomised(small(num_tasks=2, task_episode_lengths=(100, 1000)))
    assert model.discount(torch.tensor([0, 1, 1])).tolist() == pytest.approx([0.95, 0.995, 0.995])
    batch = model.random_batch(4, generator=gen())
    batch["task"] = torch.tensor([0, 1, 0, 1])
    model.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        loss_a = model.world_model_loss(batch)[2]["value_loss"]
        model.discounts.fill_(0.5)
        torch.manual_seed(0)
        loss_b = model.world_model_loss(batch)[2]["value_loss"]
    assert not torch.equal(loss_a, loss_b)
    with pytest.raises(ValueError, match="task_episode_lengths"):
        build_model(small(num_tasks=2, task_episode_lengths=(100, 200, 300)))


# -------------------------------------------------------------------------------- planning
@pytest.mark.parametrize(("action_dim", "rounds"), [(19, 2), (20, 4)])
def test_two_more_iterations_from_20_action_dimensions(action_dim, rounds):
    model = randomised(small(action_dim=action_dim))
    calls = []
    original = model.estimate_value

    def counting(*a, **k):
        calls.append(1)
        return original(*a, **k)

    model.estimate_value = counting
    model.plan(model.random_batch(2, generator=gen())["obs"][0], generator=gen())
    assert model.config.planning_iterations == rounds and len(calls) == rounds


def test_action_masks_zero_unused_dimensions_in_policy_and_plan():
    model = randomised(small(num_tasks=2, action_dim=4, task_action_dims=(2, 4)))
    z = torch.softmax(torch.randn(6, 16), -1)
    task = torch.tensor([0, 1, 0, 1, 0, 1])
    action, info = model.policy(z, model.embed_task(task), mask=model.action_mask(task))
    assert (action[task == 0, 2:] == 0).all() and (action[task == 1, 2:] != 0).all()
    obs = model.random_batch(6, generator=gen())["obs"][0]
    planned = model.plan(obs, task=task, generator=gen())
    assert (planned[task == 0, 2:] == 0).all() and (planned[task == 1, 2:] != 0).any()
    with pytest.raises(ValueError, match="task_action_dims"):
        build_model(small(num_tasks=2, action_dim=4, task_action_dims=(2, 5)))


# ------------------------------------------------------------------------------ termination
def test_episodic_termination_head_loss_and_planning():
    cfg = small(episodic=True)
    model = randomised(cfg)
    assert count(cfg)[0] == model.component_params() and "termination" in model.component_params()
    batch = model.random_batch(8, generator=gen())
    assert batch["terminated"].shape == batch["reward"].shape
    metrics = model.update(batch)
    assert metrics["termination_loss"] > 0
    z = torch.softmax(torch.randn(5, 16), -1)
    actions = torch.rand(2, 5, cfg.action_dim) * 2 - 1
    with torch.no_grad():
        model.termination_head[-1].bias.fill_(-50.0)  # never terminates
        alive = model.estimate_value(z, actions, generator=gen())
        model.termination_head[-1].bias.fill_(50.0)  # terminates after the first step: only r_0 counts
        dead = model.estimate_value(z, actions, generator=gen())
        from worldflux_cli.models.tdmpc2 import two_hot_inv
        r0 = two_hot_inv(model.reward(z, actions[0]), cfg.vmin, cfg.vmax)
    assert torch.allclose(dead, r0) and not torch.allclose(alive, r0)


# --------------------------------------------------------------------------------- encoders
@pytest.mark.parametrize(("layers", "hidden"), [(1, 1), (2, 1), (3, 2)])
def test_num_encoder_layers_keeps_at_least_one_hidden_layer(layers, hidden):
    model = build_model(small(num_encoder_layers=layers))
    assert len(model.encoder.net) == hidden + 1


@pytest.mark.parametrize(("side", "projected"), [(32, False), (48, True), (64, False)])
def test_pixel_encoder_is_official_at_64(side, projected):
    cfg = small(obs_shape=(3, side, side), cnn_channels=32, latent_dim=512)
    model = build_model(cfg, device="meta")
    assert (model.encoder.proj is not None) == projected
    assert all(m.padding == ((0, 0) if side >= 39 else (m.kernel_size[0] // 2,) * 2)
               for m in model.encoder.convs if isinstance(m, torch.nn.Conv2d))
    assert count(cfg)[0] == model.component_params()


# ------------------------------------------------------------------------------------ dtype
def test_float64_model_computes_in_float64():
    model = randomised(small(num_tasks=2)).double()
    batch = model.random_batch(8, generator=gen())
    assert batch["obs"].dtype == torch.float64
    z = model.encode(batch["obs"][0], model.embed_task(batch["task"]))
    action, info = model.policy(z, model.embed_task(batch["task"]))
    assert z.dtype == action.dtype == info["scaled_entropy"].dtype == torch.float64
    assert model.q_value(z, action, model.embed_task(batch["task"]), "min").dtype == torch.float64
    model.update(batch)
    assert model.plan(batch["obs"][0], task=batch["task"], generator=gen()).dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in model.parameters()) and model.q_scale.dtype == torch.float64


# ------------------------------------------------------------------------------- random shift
def _shifted_exactly(x: torch.Tensor, pad: int, shift: torch.Tensor) -> torch.Tensor:
    """x (N, C, H, W) shifted by whole pixels: shift (N, 2) = (column, row) offsets into the replicate-padded image."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad,) * 4, mode="replicate")
    rows = (shift[:, 1:] + torch.arange(h))[:, :, None]
    cols = (shift[:, :1] + torch.arange(w))[:, None, :]
    return padded.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], rows, cols].permute(0, 3, 1, 2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(3, 64, 64), (2, 42, 64)])
def test_random_shift_draws_and_shifts_as_the_official_shiftaug(shape, dtype):
    """The official ShiftAug draws randint(0, 2 pad + 1, (n, 1, 1, 2)) (x, then y, per image) and samples the
    padded image at the shifted pixel centres: the same shifts from the same generator state, whole pixels up to
    grid_sample's rounding (float32: ~1e-5 of a pixel)."""
    from worldflux_cli.models.tdmpc2 import random_shift

    x = torch.randint(0, 256, (6, *shape), generator=gen(1)).to(dtype)
    pad = min(shape[1:]) // 21
    torch.manual_seed(5)
    got = random_shift(x, pad)
    torch.manual_seed(5)
    official_draw = torch.randint(0, 2 * pad + 1, size=(6, 1, 1, 2), dtype=dtype)  # the official call
    want = _shifted_exactly(x, pad, official_draw.view(6, 2).long())
    assert got.dtype == dtype and got.shape == x.shape
    assert torch.allclose(got, want, atol=2e-3 if dtype == torch.float32 else 1e-9, rtol=0)
    assert torch.equal(random_shift(x, pad, gen(3)), random_shift(x, pad, gen(3)))  # a generator gives its draw


def test_pixel_encoder_shifts_in_every_call_as_official():
    """The official encoder's first layer is the random shift, with no train/eval switch: acting, planning and the
    TD targets see shifted images too. ConvEncoder.augment = 'train' or 'never' restricts it."""
    model = randomised(small(obs_shape=(3, 64, 64), cnn_channels=4, latent_dim=64))
    obs = model.random_batch(4, generator=gen())["obs"][0]
    model.eval()
    with torch.no_grad():
        a, b, c = (model.encode(obs, generator=gen(s)) for s in (1, 1, 2))
        assert torch.equal(a, b) and not torch.allclose(a, c)  # shifted in eval mode, by the generator's draw
        torch.manual_seed(0)
        first = model.plan(obs[:1], eval_mode=True)
        torch.manual_seed(0)
        assert torch.equal(model.plan(obs[:1], eval_mode=True), first)
        model.encoder.augment = "train"
        assert torch.equal(model.encode(obs, generator=gen(1)), model.encode(obs, generator=gen(2)))
        model.train()
        assert not torch.equal(model.encode(obs, generator=gen(1)), model.encode(obs, generator=gen(2)))
        model.encoder.augment = "never"
        assert torch.equal(model.encode(obs, generator=gen(1)), model.encode(obs, generator=gen(2)))
        model.encoder.augment = "sometimes"
        with pytest.raises(ValueError, match="augment"):
            model.encode(obs)


# --------------------------------------------------------------------------- planner draws
def test_final_elite_is_drawn_by_gumbel_max_as_official():
    """gumbel_max: argmax of softmax(log p - log E), E ~ Exp(1) from exponential_ (the official
    gumbel_softmax_sample): one row consumes the generator as the official K draws; the draws follow p."""
    from worldflux_cli.models.tdmpc2_plan import gumbel_max

    p = torch.softmax(torch.randn(1, 8, generator=gen(2)), -1)
    e = torch.empty(1, 8).exponential_(generator=gen(4))
    assert gumbel_max(p, gen(4)).tolist() == [int((p.log() - e.log()).argmax())]
    counts = torch.bincount(gumbel_max(p.expand(20000, 8), gen(5)), minlength=8) / 20000
    assert torch.allclose(counts, p[0], atol=0.015), (counts, p[0])


def test_plan_leaves_mean_and_std():
    model = randomised(small(action_dim=3, num_tasks=2, task_action_dims=(2, 3)))
    obs = model.random_batch(3, generator=gen())["obs"][0]
    model.plan(obs, task=torch.tensor([0, 1, 0]), generator=gen())
    assert model.plan_mean.shape == model.plan_std.shape == (3, model.config.horizon, 3)
    assert (model.plan_std[[0, 2], :, 2] == 0).all()  # masked with the mean (official)
    assert (model.plan_std[1] >= model.config.min_std).all() and (model.plan_std <= model.config.max_std).all()


# ----------------------------------------------------------------------------------- discount
def test_float64_model_holds_the_exact_discount():
    """A float64 model's discount is the official float64 value (not 0.99 rounded to float32: 1e-8 off)."""
    for lengths in ((500,), (100, 500, 1000)):
        cfg = small(num_tasks=len(lengths), **({"episode_length": lengths[0]} if len(lengths) == 1 else
                                               {"task_episode_lengths": lengths}))
        exact = [TDMPC2Config.discount_for(n) for n in lengths]
        double = build_model(cfg, dtype=torch.float64)
        task = torch.arange(len(lengths)) if len(lengths) > 1 else None
        assert double.discount(task).dtype == torch.float64 and double.discount(task).flatten().tolist() == exact
        single = build_model(cfg)
        assert single.discount(task).dtype == torch.float32
        assert torch.equal(single.discount(task).flatten(), torch.tensor(exact, dtype=torch.float32))
