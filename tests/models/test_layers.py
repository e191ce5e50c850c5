"""The hand-written fast paths of models/layers.py give the same values and gradients as the plain ops."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

import worldflux_cli.models.layers as layers  # noqa: E402
from worldflux_cli.config.dreamer import DreamerV3Config  # noqa: E402
from worldflux_cli.models import build_model  # noqa: E402
from worldflux_cli.models.layers import (  # noqa: E402
    BlockLinear,
    StepWeights,
    _RMSNormFn,
    column_sums,
    conv_transpose2d,
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
    half = m.bfloat16()
    assert column_sums(half).dtype == torch.float32


# --------------------------------------------------------------------------- transposed convolution
@pytest.mark.parametrize("kernel,padding,output_padding", [(4, 1, 0), (5, 2, 1), (3, 1, 1), (2, 0, 0), (1, 0, 1)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_conv_transpose2d_gradients_match_torch(kernel, padding, output_padding, channels_last):
    gen = torch.Generator().manual_seed(kernel)
    x = torch.randn(3, 4, 5, 6, generator=gen, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    w = torch.randn(4, 3, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    args = ((2, 2), (padding, padding), (output_padding, output_padding))
    y = conv_transpose2d(x, w, b, *args)
    ref = F.conv_transpose2d(x, w, b, *args)
    assert y.shape == ref.shape == (3, 3, 8 - 2 * padding + kernel + output_padding,
                                    10 - 2 * padding + kernel + output_padding)
    assert torch.allclose(y, ref)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    got, want = torch.autograd.grad(y, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g)
    assert all(torch.allclose(a, c) for a, c in zip(got, want, strict=True))
    assert torch.autograd.gradcheck(lambda a, c, d: conv_transpose2d(a, c, d, *args), (x, w, b))


def test_conv_transpose2d_falls_back_without_grad_and_on_frozen_inputs():
    x, w = torch.randn(2, 4, 3, 3), torch.randn(4, 2, 4, 4)
    with torch.no_grad():
        y = conv_transpose2d(x, w, None, (2, 2), (1, 1), (0, 0))
    assert y.grad_fn is None
    assert torch.allclose(y, F.conv_transpose2d(x, w, None, 2, 1, 0))


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


# ------------------------------------------------------------------------- recurrent weight grads
def test_step_weights_give_the_gradients_of_the_layers():
    gen = torch.Generator().manual_seed(0)
    dense = torch.nn.Linear(6, 6).double()
    block = BlockLinear(6, 6, blocks=3).double()
    x0 = torch.randn(4, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    params = [x0, *dense.parameters(), *block.parameters()]

    def run(lin):
        h = x0
        for _ in range(5):
            h = torch.tanh(lin(block, torch.sin(lin(dense, h))))
        return (h * torch.arange(6)).sum()

    want = torch.autograd.grad(run(lambda layer, x: layer(x)), params)
    got = torch.autograd.grad(run(StepWeights(dense, block)), params)
    assert all(torch.allclose(a, b) for a, b in zip(got, want, strict=True))


def test_dreamer_observe_gradients_are_the_same_with_and_without_step_weights(monkeypatch):
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny")).double()
    batch = model.random_batch(3, 6, generator=torch.Generator().manual_seed(0))
    tokens = model.encoder(batch["obs"].double().flatten(0, 1)).view(3, 6, -1)
    params = list(model.rssm.parameters())

    def grads(use):
        monkeypatch.setattr(StepWeights, "usable", staticmethod(lambda ref: use))
        torch.manual_seed(1)
        deter, stoch, logits = model.rssm.observe(tokens, batch["action"].double(), batch["is_first"])
        loss = deter.sin().sum() + (stoch * torch.arange(stoch.shape[-1])).sum() + logits.cos().sum()
        return torch.autograd.grad(loss, params, allow_unused=True)

    plain, stepped = grads(False), grads(True)
    assert sum(g is not None for g in plain) > 10
    assert all((a is None and b is None) or torch.allclose(a, b, atol=1e-10)
               for a, b in zip(plain, stepped, strict=True))
