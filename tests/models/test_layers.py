"""The shared layers of models/layers.py against PyTorch's own ops, in both kernel modes (values and
gradients, float64, at non-unit weights)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from worldflux_cli.models.layers import BlockLinear, RMSNorm, sigmoid_squared_error  # noqa: E402

pytestmark = pytest.mark.usefixtures("kernel_mode")


def _grads(y, inputs, g):
    return torch.autograd.grad(y, inputs, g)


@pytest.mark.parametrize("act", [False, True])
@pytest.mark.parametrize("shape", [(4, 6, 8), (3, 5, 7)])
def test_rmsnorm_is_torch_rms_norm_then_silu(act, shape):
    gen = torch.Generator().manual_seed(shape[-1])
    norm = RMSNorm(shape[-1], eps=1e-4, act=act).double()
    with torch.no_grad():
        norm.weight.copy_(torch.rand(shape[-1], generator=gen, dtype=torch.float64) + 0.5)
    x = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
    y = norm(x)
    ref = F.rms_norm(x, (shape[-1],), norm.weight, 1e-4)
    ref = F.silu(ref) if act else ref
    assert torch.allclose(y, ref, atol=1e-12)
    g = torch.randn(shape, generator=gen, dtype=torch.float64)
    for a, b in zip(_grads(y, (x, norm.weight), g), _grads(ref, (x, norm.weight), g), strict=True):
        assert torch.allclose(a, b, atol=1e-10)
    assert torch.autograd.gradcheck(norm, (x,))


def test_rmsnorm_channels_normalises_over_c_of_a_channels_last_map():
    norm = RMSNorm(3, eps=1e-8)
    x = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    y = norm.channels(x)
    assert y.shape == (2, 3, 4, 5) and y.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(y.square().mean(1), torch.ones(2, 4, 5), atol=1e-3)


def test_rmsnorm_float32_channels_last_maps_match_reference():
    """The layout the CNN uses: an (N, C, H, W) channels-last map normalised over C, big enough for the CPU
    kernel's chunked, packed path (8 channels) in mode auto."""
    norm = RMSNorm(8, act=True)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(64, 8, 32, 32).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = norm.channels(x)
    ref = F.silu(F.rms_norm(x.permute(0, 2, 3, 1), (8,), norm.weight, 1e-4)).permute(0, 3, 1, 2)
    assert torch.allclose(y, ref, atol=1e-5)
    g = torch.randn_like(y)
    got, want = _grads(y, (x, norm.weight), g), _grads(ref, (x, norm.weight), g)
    assert torch.allclose(got[0], want[0], atol=1e-5)
    assert torch.allclose(got[1], want[1], rtol=1e-4, atol=1e-3)


def test_block_linear_is_block_diagonal():
    torch.manual_seed(0)
    layer = BlockLinear(12, 6, blocks=3)
    with torch.no_grad():
        layer.bias.normal_()
    dense = torch.block_diag(*layer.weight)  # (12, 6)
    x = torch.randn(5, 12)
    assert torch.allclose(layer(x), x @ dense + layer.bias, atol=1e-6)
    assert sum(p.numel() for p in layer.parameters()) == 12 * 6 // 3 + 6
    with pytest.raises(ValueError, match="blocks=5"):
        BlockLinear(12, 6, blocks=5)


def test_sigmoid_squared_error_is_the_sum_of_squared_errors_of_the_sigmoid():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 8, 8, generator=gen, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last).requires_grad_()
    target = torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64)
    got = sigmoid_squared_error(logits, target)
    ref = F.mse_loss(torch.sigmoid(logits), target, reduction="sum")
    assert torch.allclose(got, ref, rtol=1e-12)
    assert torch.allclose(torch.autograd.grad(got, logits)[0], torch.autograd.grad(ref, logits)[0], rtol=1e-10)
    assert torch.autograd.gradcheck(lambda a: sigmoid_squared_error(a, target), (logits,))
    half = sigmoid_squared_error(logits.detach().bfloat16(), target)  # half types: a float32 sum
    assert half.dtype == torch.float32 and torch.allclose(half.double(), ref.detach(), rtol=1e-2)
