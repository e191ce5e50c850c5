"""DreamerV3 model tests: shapes, gradients, learning, determinism, distributions, EMA critic."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from worldflux_cli.config.dreamer import DreamerV3Config  # noqa: E402
from worldflux_cli.config.presets import presets_of  # noqa: E402
from worldflux_cli.models import build_model  # noqa: E402
from worldflux_cli.models.dreamer import DreamerV3  # noqa: E402

pytestmark = pytest.mark.usefixtures("kernel_mode")  # every test with the kernels (auto) and without (plain)

SMALL = dict(deter_dim=32, hidden_dim=16, stoch_discrete=4, stoch_classes=5, gru_blocks=4, mlp_units=24,
             mlp_layers=2, reward_num_bins=21, imagination_horizon=4)
CASES = {
    "image-discrete": dict(obs_shape=(3, 16, 16), action_type="discrete", action_dim=5, cnn_depth=4,
                           cnn_kernels=(3, 4), cnn_multipliers=(1, 2)),
    "image-continuous": dict(obs_shape=(1, 24, 16), action_type="continuous", action_dim=2, cnn_depth=3,
                             cnn_kernels=(5, 2, 1), cnn_multipliers=(2, 1, 3), decoder_blocks=1),
    "vector-discrete": dict(obs_shape=(7,), action_type="discrete", action_dim=3),
    "vector-continuous": dict(obs_shape=(9,), action_type="continuous", action_dim=4),
}


def make(case: str, seed: int = 0, **kw) -> DreamerV3:
    torch.manual_seed(seed)
    return build_model(DreamerV3Config(**{**SMALL, **CASES[case], **kw}))


def batch_of(model, b=3, t=5, seed=1):
    return model.random_batch(b, t, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("case", list(CASES))
def test_output_shapes(case):
    model = make(case)
    c = model.config
    b, t, h = 3, 5, c.imagination_horizon
    k = model.settings["replay_context"]
    assert k == 1  # the official variant: one step of replay context in front of the trained steps
    batch = batch_of(model, b, t)
    assert batch["obs"].shape == (b, k + t, *c.obs_shape)
    assert batch["action"].shape == (b, k + t, c.action_dim)
    assert batch["reward"].shape == batch["cont"].shape == batch["is_first"].shape == (b, k + t)
    assert batch["deter"].shape == (b, k + t, c.deter_dim) and batch["stoch"].shape == (b, k + t, c.stoch_dim)
    assert batch["is_first"].dtype == torch.bool and batch["is_first"][:, 0].all()
    if c.action_type == "discrete":
        assert torch.equal(batch["action"].sum(-1), torch.ones(b, k + t))
    else:
        assert batch["action"].abs().max() <= 1

    tokens = model.encoder(batch["obs"].flatten(0, 1))
    assert tokens.shape == (b * (k + t), model.encoder.out_dim)
    loss, metrics, post = model.world_model_loss(batch)
    assert loss.shape == () and torch.isfinite(loss)
    assert {"reconstruction", "reward", "continue", "kl_dyn", "kl_rep", "kl", "loss"} <= set(metrics)
    assert post["deter"].shape == (b, t, c.deter_dim)
    assert post["stoch"].shape == (b, t, c.stoch_dim)
    onehot = post["stoch"].view(b, t, c.stoch_discrete, c.stoch_classes)
    assert torch.allclose(onehot.sum(-1), torch.ones(b, t, c.stoch_discrete))
    assert torch.allclose(onehot.amax(-1), torch.ones(b, t, c.stoch_discrete))
    recon = model.decoder(post["deter"].flatten(0, 1), post["stoch"].flatten(0, 1))
    assert recon.shape == (b * t, *c.obs_shape)

    traj = model.imagine(post, h)
    n = b * t
    assert traj["feat"].shape == (n, h + 1, c.deter_dim + c.stoch_dim)
    assert traj["action"].shape == (n, h + 1, c.action_dim)
    assert traj["reward"].shape == traj["cont"].shape == (n, h + 1)
    if c.action_type == "discrete":
        assert torch.equal(traj["action"].sum(-1), torch.ones(n, h + 1))
    assert ((traj["cont"] >= 0) & (traj["cont"] <= 1)).all()
    actor_loss, critic_loss, ac_metrics = model.actor_critic_loss(traj)
    assert actor_loss.shape == critic_loss.shape == ()
    assert torch.isfinite(actor_loss) and torch.isfinite(critic_loss)
    assert ac_metrics["return_scale"] >= 1


def test_uint8_images_are_scaled():
    model = make("image-discrete")
    batch = batch_of(model)
    torch.manual_seed(5)
    loss_float = model.world_model_loss(batch)[0]
    batch["obs"] = (batch["obs"] * 255).round().to(torch.uint8)
    torch.manual_seed(5)
    loss_uint8 = model.world_model_loss(batch)[0]
    assert torch.allclose(loss_float, loss_uint8, rtol=1e-3)


@pytest.mark.parametrize("kernels", [(1, 2, 6), (4, 4, 4), (5, 3, 7)])
def test_any_kernel_halves_and_doubles_exactly(kernels):
    model = make("image-continuous", cnn_kernels=kernels)
    obs = torch.rand(2, 1, 24, 16)
    assert model.encoder(obs).shape == (2, model.encoder.out_dim)
    assert model.encoder.out_dim == model.config.cnn_depth * model.config.cnn_multipliers[-1] * 3 * 2
    assert model.decoder(torch.zeros(2, 32), torch.zeros(2, 20)).shape == (2, 1, 24, 16)


# ---------------------------------------------------------------------------------- gradients
def _nonzero_grads(module):
    return {n: p.grad is not None and bool(p.grad.abs().sum() > 0) for n, p in module.named_parameters()}


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_reach_every_trainable_parameter(case):
    model = make(case)
    # The reward and critic outputs start at zero (official); give them weights so that the
    # layers below them get a gradient on the first step too.
    with torch.no_grad():
        for head in (model.reward_head, model.critic):
            head.out.weight.normal_(0, 0.1)
    batch = batch_of(model, 4, 6)
    loss, _, post = model.world_model_loss(batch)
    loss.backward()
    wm = {name: _nonzero_grads(getattr(model, name))
          for name in ("encoder", "rssm", "decoder", "reward_head", "continue_head")}
    missing = [f"{m}.{n}" for m, grads in wm.items() for n, ok in grads.items() if not ok]
    assert not missing, missing
    for name in ("actor", "critic", "slow_critic"):
        assert all(p.grad is None for p in getattr(model, name).parameters()), name

    model.zero_grad(set_to_none=True)
    actor_loss, critic_loss, _ = model.actor_critic_loss(model.imagine(post))
    (actor_loss + critic_loss).backward()
    missing = [f"{m}.{n}" for m in ("actor", "critic") for n, ok in _nonzero_grads(getattr(model, m)).items()
               if not ok]
    assert not missing, missing
    others = [p for name in ("encoder", "rssm", "decoder", "reward_head", "continue_head", "slow_critic")
              for p in getattr(model, name).parameters()]
    assert all(p.grad is None for p in others)
    trainable = sum(model.component_params().values())
    assert trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------- learning
@pytest.mark.kernel_modes("auto")  # (the costliest test; plain gives the same gradients: test_kernels.py)
def test_tiny_preset_world_model_loss_halves_on_a_fixed_batch():
    torch.manual_seed(0)
    config = DreamerV3Config.from_size("tiny")
    model = build_model(config)
    b, t = 2, 8
    batch = model.random_batch(b, t - 1, generator=torch.Generator().manual_seed(0))  # (+ 1 step of context)
    gen = torch.Generator().manual_seed(1)
    # structured images (a colour per frame plus a ramp) and rewards in {0, 1, 2}
    levels = torch.rand(b, t, 3, 1, 1, generator=gen)
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 1, 64)
    batch["obs"] = (0.6 * levels + 0.4 * ramp).expand(b, t, 3, 64, 64).contiguous()
    batch["reward"] = torch.randint(0, 3, (b, t), generator=gen).float()
    opt = torch.optim.Adam(model.world_model_parameters(), lr=1e-4)
    first = None
    for _step in range(300):
        loss, metrics, _ = model.world_model_loss(batch)
        first = first if first is not None else metrics
        if loss.item() <= first["loss"].item() / 2:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    assert loss.item() <= first["loss"].item() / 2, (_step, first["loss"].item(), loss.item())
    assert metrics["reconstruction"] < first["reconstruction"] / 2
    assert metrics["reward"] < first["reward"]


def _train(seed: int, steps: int = 3):
    model = make("image-discrete", seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = batch_of(model, 2, 4, seed=seed)
    losses = []
    for _ in range(steps):
        loss, _, post = model.world_model_loss(batch)
        actor_loss, critic_loss, _ = model.actor_critic_loss(model.imagine(post))
        opt.zero_grad(set_to_none=True)
        (loss + actor_loss + critic_loss).backward()
        opt.step()
        model.update_slow_critic()
        losses.append(torch.stack([loss, actor_loss, critic_loss]).detach())
    return torch.stack(losses), model.state_dict()


def test_seeded_runs_are_identical():
    (l1, s1), (l2, s2) = _train(0), _train(0)
    assert torch.equal(l1, l2)
    assert s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)
    l3, _ = _train(1)
    assert not torch.equal(l1, l3)


def test_random_batch_is_deterministic_given_a_generator():
    model = make("vector-continuous")
    a, b = batch_of(model, seed=7), batch_of(model, seed=7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["obs"], batch_of(model, seed=8)["obs"])


# ----------------------------------------------------------------------------- distributions
def test_categorical_unimix_floor():
    model = make("image-discrete", unimix=0.01, actor_unimix=0.01)
    k = model.config.stoch_classes
    logits = torch.randn(64, model.config.stoch_dim) * 1e3
    probs = model.rssm.probs(logits)
    assert probs.shape == (64, model.config.stoch_discrete, k)
    assert (probs >= 0.01 / k - 1e-7).all()
    assert torch.allclose(probs.sum(-1), torch.ones(64, model.config.stoch_discrete))
    sample = model.rssm.sample(logits).view(64, -1, k)
    assert torch.equal(sample.detach().round(), (sample.detach() > 0.5).float())
    with torch.no_grad():
        model.actor.net.out.weight.normal_(0, 1e3)
    a_probs, a_logp = model.actor(torch.randn(64, 52))
    assert (a_probs >= 0.01 / model.config.action_dim - 1e-7).all()
    assert torch.allclose(a_logp.exp(), a_probs)


def test_continuous_actor_is_bounded_normal():
    model = make("vector-continuous")
    with torch.no_grad():
        model.actor.net.out.weight.normal_(0, 1e3)
    mean, std = model.actor(torch.randn(256, 52))
    assert mean.abs().max() <= 1 and (std >= 0.1).all() and (std <= 1.0).all()
    action = model.actor.sample(torch.randn(8, 52))
    logp, ent = model.actor.log_prob_entropy(torch.randn(8, 52), action)
    assert logp.shape == ent.shape == (8,)


@pytest.mark.parametrize("variant,dyn,rep", [("official", 1.0, 0.1), ("paper2023", 0.5, 0.1)])
def test_kl_free_nats_and_balance(variant, dyn, rep):
    model = make("vector-discrete", kl_free=1.0, variant=variant)
    _, metrics, _ = model.world_model_loss(batch_of(model))
    assert metrics["kl_dyn"] >= 1.0 and metrics["kl_rep"] >= 1.0
    assert torch.allclose(metrics["kl_dyn"], metrics["kl_rep"])  # same value, different gradients
    s = model.settings
    assert math.isclose(s["loss_scales"]["kl"] * s["kl_balance"], dyn)
    assert math.isclose(s["loss_scales"]["kl"] * (1 - s["kl_balance"]), rep)


def test_reward_and_value_heads_predict_exactly_zero_at_init():
    model = make("vector-discrete")
    feat = torch.randn(10, 52)
    assert model._twohot_mean(model.reward_head(feat)).abs().max().item() == 0.0
    assert model._twohot_mean(model.critic(feat)).abs().max().item() == 0.0


def test_lambda_return_hand_values():
    model = make("vector-discrete", discount=0.9, return_lambda=0.5, continue_discount=False)
    reward = torch.tensor([[0.0, 1.0, 2.0]])
    cont = torch.ones(1, 3)
    value = torch.tensor([[0.5, 1.0, 3.0]])
    # R1 = 2 + 0.9 * (0.5 * 3 + 0.5 * 3) = 4.7;  R0 = 1 + 0.9 * (0.5 * 1 + 0.5 * 4.7) = 3.565
    assert torch.allclose(model.lambda_return(reward, cont, value), torch.tensor([[3.565, 4.7]]))
    cont = torch.tensor([[1.0, 0.0, 1.0]])  # terminal at step 1: R0 = r1
    assert torch.allclose(model.lambda_return(reward, cont, value)[0, 0], torch.tensor(1.0))
    # official (continue_discount): the continue probabilities carry the discount, the returns use 1
    official = make("vector-discrete", discount=0.9, return_lambda=0.5)
    assert torch.allclose(official.lambda_return(reward, 0.9 * torch.ones(1, 3), value), torch.tensor([[3.565, 4.7]]))


def test_return_normaliser_ema():
    model = make("vector-discrete", return_norm_decay=0.9)
    ret = torch.arange(101, dtype=torch.float32)  # 5th percentile 5, 95th 95
    scale = model.return_norm(ret)
    assert torch.allclose(model.return_norm.low, torch.tensor(0.5))
    assert torch.allclose(model.return_norm.high, torch.tensor(9.5))
    assert torch.allclose(scale, torch.tensor(9.0))
    assert torch.allclose(model.return_norm(ret, update=False), torch.tensor(9.0))
    assert torch.allclose(model.return_norm(torch.zeros(10) + 0.1, update=False), torch.tensor(9.0))


# ---------------------------------------------------------------------------------- slow critic
def test_slow_critic_is_frozen_and_follows_by_ema():
    model = make("image-discrete", critic_ema_decay=0.98)
    assert all(not p.requires_grad for p in model.slow_critic.parameters())
    assert model.frozen_params() == {"slow_critic": sum(p.numel() for p in model.critic.parameters())}
    pairs = zip(model.slow_critic.parameters(), model.critic.parameters(), strict=True)
    assert all(torch.equal(s, f) for s, f in pairs)
    old = [p.detach().clone() for p in model.slow_critic.parameters()]
    with torch.no_grad():
        for p in model.critic.parameters():
            p.add_(torch.randn_like(p))
    model.update_slow_critic()
    for s, o, f in zip(model.slow_critic.parameters(), old, model.critic.parameters(), strict=True):
        assert torch.allclose(s, 0.98 * o + 0.02 * f, atol=1e-6)
    assert not any(p.requires_grad for p in model.slow_critic.parameters())


# ---------------------------------------------------------------------------------- devices
@pytest.mark.parametrize("name", sorted(presets_of("dreamer")))
def test_presets_build_on_meta(name):
    model = build_model(DreamerV3Config.from_size(name), device="meta", dtype="bfloat16")
    assert all(p.is_meta and p.dtype == torch.bfloat16 for p in model.parameters())
    assert model.return_norm.low.dtype == torch.float32
    assert model.random_batch(2, 3)["obs"].is_meta


@pytest.mark.parametrize("case", ["image-continuous", "vector-discrete"])
def test_bfloat16_forward_and_backward(case):
    torch.manual_seed(0)
    model = build_model(DreamerV3Config(**{**SMALL, **CASES[case]}), dtype=torch.bfloat16)
    loss, _, post = model.world_model_loss(batch_of(model))
    actor_loss, critic_loss, _ = model.actor_critic_loss(model.imagine(post))
    (loss + actor_loss + critic_loss).backward()
    assert torch.isfinite(loss) and torch.isfinite(actor_loss) and torch.isfinite(critic_loss)
    assert all(p.grad is not None and p.grad.dtype == torch.bfloat16
               for p in model.parameters() if p.requires_grad)


def test_cpu_autocast_bfloat16():
    model = make("image-continuous")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _, post = model.world_model_loss(batch_of(model))
        actor_loss, critic_loss, _ = model.actor_critic_loss(model.imagine(post))
    (loss + actor_loss + critic_loss).backward()
    assert torch.isfinite(loss) and torch.isfinite(actor_loss) and torch.isfinite(critic_loss)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters() if p.requires_grad)


def test_world_model_loss_compiles_around_the_rollout_with_the_eager_values():
    """What `bench --compile` relies on: torch.compile traces the world-model loss in graphs split only
    at the posterior recurrence (left eager, instead of unrolled T times; the split shows in the frames
    of world_model_loss, _world and observe). The CPU kernels of the convolutions, the image loss and the
    channels-last input copy step aside while it traces (RMSNorm's is traced). The compiled loss gives
    the eager loss and gradients."""
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny"))
    batch = model.random_batch(2, 3, generator=torch.Generator().manual_seed(0))
    params = [p for p in model.world_model_parameters() if p.requires_grad]
    explained = torch._dynamo.explain(model.world_model_loss)(batch)
    assert explained.graph_count == 4 and explained.graph_break_count == 3
    assert all("disable" in str(r.reason) for r in explained.break_reasons)  # only at the disabled recurrence
    torch._dynamo.reset()
    torch.manual_seed(1)
    eager = model.world_model_loss(batch)[0]
    compiled = torch.compile(model.world_model_loss, backend="eager")
    torch.manual_seed(1)
    traced = compiled(batch)[0]
    assert torch.allclose(traced, eager, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(eager, params), torch.autograd.grad(traced, params), strict=True):
        assert (a - b).norm() <= 1e-4 * a.norm() + 1e-5
    torch._dynamo.reset()
