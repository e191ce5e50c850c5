"""The hand-written fast paths of models/layers.py and models/dreamer_observe.py give the same values and
gradients as the plain ops."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

import worldflux_cli.models.layers as layers  # noqa: E402
from worldflux_cli.config.dreamer import DreamerV3Config  # noqa: E402
from worldflux_cli.models import build_model, dreamer_observe  # noqa: E402
from worldflux_cli.models.layers import (  # noqa: E402
    _RMSNormFn,
    column_sums,
    sigmoid_squared_error,
)


def _reference_rmsnorm(x, w, eps, act):
    y = F.rms_norm(x, (x.shape[-1],), w, eps)
    return F.silu(y) if act else y


# ------------------------------------------------------------------------------------- RMSNorm
@pytest.mark.parametrize("dim", [8, 6, 48])
@pytest.mark.parametrize("act", [False, True])
def test_rmsnorm_chunked_and_packed_paths_match_reference(monkeypatch, dim, act):
    """Small chunks force the chunked path; dim 8 (rows divisible by 8) takes the packed-lanes path."""
    monkeypatch.setattr(layers, "RMS_CHUNK", 32)
    gen = torch.Generator().manual_seed(dim)
    rows = {8: 40, 6: 10, 48: 3}[dim]
    x = torch.randn(rows, dim, generator=gen, dtype=torch.float64, requires_grad=True)
    assert len(layers._row_chunks(rows, dim)) > 1
    w = (torch.rand(dim, generator=gen, dtype=torch.float64) + 0.5).requires_grad_()
    if dim == 8:
        assert layers._lanes(x.detach().reshape(-1, dim)) == layers.LANE_WIDTH // dim
    y = _RMSNormFn.apply(x, w, 1e-4, act)
    ref = _reference_rmsnorm(x, w, 1e-4, act)
    assert torch.allclose(y, ref, atol=1e-10)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    got = torch.autograd.grad(y, (x, w), g)
    want = torch.autograd.grad(ref, (x, w), g)
    assert all(torch.allclose(a, b, atol=1e-9) for a, b in zip(got, want, strict=True))
    assert torch.autograd.gradcheck(lambda a, b: _RMSNormFn.apply(a, b, 1e-4, act), (x, w))


def test_rmsnorm_float32_channels_last_maps_match_reference():
    """The layout the CNN uses: an (N, C, H, W) channels-last map normalised over C."""
    norm = layers.RMSNorm(8, act=True)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(64, 8, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = norm.channels(x)
    ref = _reference_rmsnorm(x.permute(0, 2, 3, 1), norm.weight, 1e-4, True).permute(0, 3, 1, 2)
    assert torch.allclose(y, ref, atol=1e-5)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, (x, norm.weight), g)
    want = torch.autograd.grad(ref, (x, norm.weight), g)
    assert torch.allclose(got[0], want[0], atol=1e-5)
    assert torch.allclose(got[1], want[1], rtol=1e-4, atol=1e-3)


def test_column_sums():
    m = torch.randn(1000, 40)
    assert torch.allclose(column_sums(m), m.sum(0), atol=1e-3)
    assert torch.allclose(column_sums(m[:, :5]), m[:, :5].sum(0), atol=1e-4)
    for cols in (1, 3, 8, 15):  # narrow contiguous columns are folded into wider rows first
        narrow = torch.randn(4800, cols)
        assert torch.allclose(column_sums(narrow), narrow.double().sum(0).float(), atol=1e-3)
    odd = torch.randn(1001, 3)  # rows that do not fold evenly take the plain sum
    assert torch.equal(column_sums(odd), odd.sum(0))
    half = m.bfloat16()
    assert column_sums(half).dtype == torch.float32


# --------------------------------------------------------------------------------- image loss
def test_sigmoid_squared_error_matches_autograd():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 8, 8, generator=gen, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    target = torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64)
    got = sigmoid_squared_error(logits, target)
    ref = F.mse_loss(torch.sigmoid(logits), target, reduction="sum")
    assert torch.allclose(got, ref)
    assert torch.allclose(torch.autograd.grad(got, logits)[0], torch.autograd.grad(ref, logits)[0])
    assert torch.autograd.gradcheck(lambda a: sigmoid_squared_error(a, target), (logits,))


# ------------------------------------------------------------------------- posterior rollout
@pytest.mark.parametrize("overrides,seq", [({}, 7), ({"unimix": 0.0}, 7), ({"gru_blocks": 2, "stoch_discrete": 3}, 7),
                                          ({}, 1)])
def test_observe_function_gives_the_values_draws_and_gradients_of_the_plain_layers(monkeypatch, overrides, seq):
    """models/dreamer_observe.py (hand-written backward) against the same rollout through autograd, float64."""
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny", **overrides)).double()
    batch = model.random_batch(3, seq, generator=torch.Generator().manual_seed(0))
    if seq > 4:
        batch["is_first"][1, 4] = True  # a reset inside the sequence
    params = [p for p in model.parameters() if p.requires_grad]

    def run(use):
        monkeypatch.setattr(dreamer_observe, "usable", lambda ref: use)
        torch.manual_seed(1)
        tokens = model.encoder(batch["obs"].double().flatten(0, 1)).view(3, seq, -1)
        outs = model.rssm.observe(tokens, batch["action"].double(), batch["is_first"])
        deter, stoch, logits = outs
        loss = deter.sin().sum() + (stoch * torch.arange(stoch.shape[-1])).sum() + logits.cos().sum()
        return outs, torch.autograd.grad(loss, params, allow_unused=True)

    (plain_out, plain), (fused_out, fused) = run(False), run(True)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(plain_out, fused_out, strict=True))
    assert fused_out[0].grad_fn.name().startswith("ObserveFn")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    reached = [n for n, g in zip(names, plain, strict=True) if g is not None and g.abs().sum() > 0]
    assert {n.split(".")[0] for n in reached} >= {"encoder", "rssm"}
    posterior = [n for n in names if n.startswith("rssm.") and not n.startswith(("rssm.prior.", "rssm.prior_logits."))]
    if seq > 1:  # (one step starts from a zero state: some layers read only zeros)
        assert set(posterior) <= set(reached)  # every RSSM parameter but the prior's gets a gradient
    for name, a, b in zip(names, plain, fused, strict=True):
        assert (a is None) == (b is None), name
        assert a is None or torch.allclose(a, b, atol=1e-10), name


def test_observe_function_in_a_full_float32_training_step(monkeypatch):
    """The world-model loss through the function: gradients equal the autograd ones at float32 tolerance."""
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny"))
    batch = model.random_batch(4, 9, generator=torch.Generator().manual_seed(2))
    params = [p for p in model.world_model_parameters() if p.requires_grad]

    def grads(use):
        monkeypatch.setattr(dreamer_observe, "usable", lambda ref: use)
        torch.manual_seed(3)
        return torch.autograd.grad(model.world_model_loss(batch)[0], params, allow_unused=True)

    for a, b in zip(grads(False), grads(True), strict=True):
        assert (a is None) == (b is None)
        assert a is None or torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_observe_without_gradients_or_under_autocast_runs_the_layers():
    model = build_model(DreamerV3Config.from_size("tiny"))
    batch = model.random_batch(2, 3, generator=torch.Generator().manual_seed(0))
    tokens = model.encoder(batch["obs"].flatten(0, 1)).view(2, 3, -1)
    assert dreamer_observe.usable(tokens)
    with torch.no_grad():
        assert not dreamer_observe.usable(tokens)
        assert model.rssm.observe(tokens, batch["action"], batch["is_first"])[0].grad_fn is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not dreamer_observe.usable(tokens)
        deter = model.rssm.observe(tokens, batch["action"], batch["is_first"])[0]
    assert not deter.grad_fn.name().startswith("ObserveFn")
