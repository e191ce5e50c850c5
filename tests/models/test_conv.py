"""The CPU forms of models/conv.py (GEMM, phase, custom weight gradient) give the values and gradients of
F.conv2d / F.conv_transpose2d, and each form is chosen for the shapes it was measured faster on."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

import worldflux_cli.models.conv as conv  # noqa: E402
from worldflux_cli.config.dreamer import DreamerV3Config  # noqa: E402
from worldflux_cli.models import build_model  # noqa: E402

CL = torch.channels_last


@pytest.fixture
def gemm_everywhere(monkeypatch):
    """Bounds that send every stride-2 channels-last layer to the GEMM form."""
    monkeypatch.setattr(conv, "GEMM_MIN_CHANNELS", 1)
    monkeypatch.setattr(conv, "GEMM_MIN_ROWS", 1)
    monkeypatch.setattr(conv, "GEMM_MAX_PIXELS", 10**9)


def _grads(y, inputs, g):
    return torch.autograd.grad(y, inputs, g)


# ------------------------------------------------------------------------------------ GEMM form
@pytest.mark.parametrize("kernel,padding,output_padding", [(4, 1, 0), (5, 2, 1), (3, 1, 1), (2, 0, 0), (6, 2, 0),
                                                        (4, 0, 0), (1, 0, 1)])
@pytest.mark.parametrize("size", [(8, 8), (7, 5)])
@pytest.mark.parametrize("block_bytes", [1, 64 << 20])
def test_gemm_form_matches_torch(gemm_everywhere, monkeypatch, kernel, padding, output_padding, size, block_bytes):
    """Values and all three gradients, float64, for kernels that halve / double the map exactly and others;
    all maps in one block, or one map per block (gradients summed over blocks)."""
    monkeypatch.setattr(conv, "GEMM_BLOCK_BYTES", block_bytes)
    gen = torch.Generator().manual_seed(kernel * 10 + size[1])
    x = torch.randn(3, 5, *size, generator=gen, dtype=torch.float64).contiguous(memory_format=CL).requires_grad_()
    b = torch.randn(6, generator=gen, dtype=torch.float64, requires_grad=True)

    w = torch.randn(6, 5, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    assert conv._gemm_form(x, w, (2, 2), (padding, padding), transposed=False)
    y = conv.conv2d(x, w, b, (2, 2), (padding, padding))
    ref = F.conv2d(x, w, b, 2, padding)
    assert y.grad_fn.name().startswith("_GemmConv2dFn")
    assert y.shape == ref.shape and y.is_contiguous(memory_format=CL) and torch.allclose(y, ref)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    for a, c in zip(_grads(y, (x, w, b), g), _grads(ref, (x, w, b), g), strict=True):
        assert torch.allclose(a, c)

    wt = torch.randn(5, 6, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    args = ((2, 2), (padding, padding), (output_padding, output_padding))
    y = conv.conv_transpose2d(x, wt, b, *args)
    ref = F.conv_transpose2d(x, wt, b, *args)
    assert y.grad_fn.name().startswith("_GemmConvTranspose2dFn")
    assert y.shape == ref.shape and y.is_contiguous(memory_format=CL) and torch.allclose(y, ref)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    for a, c in zip(_grads(y, (x, wt, b), g), _grads(ref, (x, wt, b), g), strict=True):
        assert torch.allclose(a, c)


def test_gemm_form_gradcheck_and_no_bias(gemm_everywhere):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 6, generator=gen, dtype=torch.float64).contiguous(memory_format=CL).requires_grad_()
    w = torch.randn(4, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(3, 4, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c, d: conv.conv2d(a, c, d, (2, 2), (1, 1)), (x, w, b))
    assert torch.autograd.gradcheck(lambda a, c, d: conv.conv_transpose2d(a, c, d, (2, 2), (1, 1), (0, 0)), (x, wt, b))
    assert torch.allclose(conv.conv2d(x, w, None, (2, 2), (1, 1)), F.conv2d(x, w, None, 2, 1))
    assert torch.allclose(conv.conv_transpose2d(x, wt, None, (2, 2), (1, 1), (0, 0)),
                          F.conv_transpose2d(x, wt, None, 2, 1))
    with torch.no_grad():  # the same form, no graph
        y = conv.conv2d(x, w, b, (2, 2), (1, 1))
    assert y.grad_fn is None and torch.allclose(y, F.conv2d(x, w, b, 2, 1))


def test_gemm_form_is_chosen_for_the_measured_shapes():
    """Kernel-4 layers between 8x8 and 4x4 maps with 192 -> 384 channels take it; the rest keep oneDNN."""
    def form(n, cin, r, w_shape, transposed, fmt=CL, dtype=torch.float32):
        x = torch.empty(n, cin, r, r, dtype=dtype).contiguous(memory_format=fmt)
        w = torch.empty(*w_shape)
        return conv._gemm_form(x, w, (2, 2), (1, 1), transposed)

    assert form(1024, 192, 8, (384, 192, 4, 4), False)       # encoder's last stage, size12m-like (depth 48)
    assert form(1024, 384, 4, (384, 192, 4, 4), True)        # decoder's first stage
    assert form(16, 384, 4, (384, 192, 4, 4), True)          # transposed: any number of maps
    assert not form(16, 192, 8, (384, 192, 4, 4), False)     # convolution: too few output pixels in all
    assert not form(1024, 96, 16, (192, 96, 4, 4), False)    # 16x16 -> 8x8: oneDNN is faster
    assert not form(1024, 192, 8, (96, 192, 4, 4), True)     # 8x8 -> 16x16
    assert not form(1024, 64, 8, (128, 64, 4, 4), False)     # narrow (size12m preset, depth 16)
    assert not form(1024, 192, 8, (384, 192, 4, 4), False, fmt=torch.contiguous_format)
    assert not form(1024, 192, 8, (384, 192, 4, 4), False, dtype=torch.bfloat16)
    # its patches go through in blocks of at most GEMM_BLOCK_BYTES (64 MiB): 3 blocks for that layer
    patch_bytes = 4 * 4 * 16 * 192 * 4  # per map: 4 x 4 output pixels x 16 taps x 192 channels, float32
    assert conv._blocks(1024, patch_bytes) == [slice(0, 342), slice(342, 684), slice(684, 1024)]
    assert conv._blocks(3, 1) == [slice(0, 3)] and conv._blocks(3, 1 << 40) == [slice(0, 1), slice(1, 2), slice(2, 3)]


def test_gemm_form_steps_aside_under_autocast_and_off_the_cpu_path(gemm_everywhere):
    x = torch.randn(2, 4, 8, 8).contiguous(memory_format=CL)
    w, wt = torch.randn(6, 4, 4, 4), torch.randn(4, 6, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the plain ops, in bfloat16
        assert conv.conv2d(x, w, None, (2, 2), (1, 1)).dtype == torch.bfloat16
        assert conv.conv_transpose2d(x, wt, None, (2, 2), (1, 1), (0, 0)).dtype == torch.bfloat16
    y = conv.conv2d(x.contiguous().requires_grad_(), w, None, (2, 2), (1, 1))  # not channels-last: oneDNN
    assert not y.grad_fn.name().startswith("_Gemm")


def test_world_model_gradients_are_the_same_with_and_without_the_gemm_form(monkeypatch):
    """A whole training loss through the encoder and decoder (float64), every layer in the GEMM form or none."""
    torch.manual_seed(0)
    model = build_model(DreamerV3Config.from_size("tiny")).double()
    batch = {k: v.double() if v.is_floating_point() else v
             for k, v in model.random_batch(2, 3, generator=torch.Generator().manual_seed(0)).items()}
    params = [p for p in model.world_model_parameters() if p.requires_grad]
    calls = []
    for fn in (conv._GemmConv2dFn, conv._GemmConvTranspose2dFn):
        monkeypatch.setattr(fn, "apply", lambda *a, _apply=fn.apply, _fn=fn: calls.append(_fn) or _apply(*a))

    def grads(min_channels):
        monkeypatch.setattr(conv, "GEMM_MIN_CHANNELS", min_channels)
        monkeypatch.setattr(conv, "GEMM_MIN_ROWS", 1)
        monkeypatch.setattr(conv, "GEMM_MAX_PIXELS", 10**9)
        torch.manual_seed(1)
        return torch.autograd.grad(model.world_model_loss(batch)[0], params, allow_unused=True)

    names = [n for n, p in model.named_parameters() if p.requires_grad and p in set(params)]
    plain = grads(10**9)
    assert not calls
    gemm = grads(1)
    assert calls.count(conv._GemmConv2dFn) == 4 and calls.count(conv._GemmConvTranspose2dFn) == 4
    for name, a, b in zip(names, plain, gemm, strict=True):
        assert (a is None) == (b is None), name
        assert a is None or torch.allclose(a, b, rtol=1e-9, atol=1e-9), name


# -------------------------------------------------------------------------- transposed convolution
@pytest.mark.parametrize("kernel,padding,output_padding", [(4, 1, 0), (5, 2, 1), (3, 1, 1), (2, 0, 0), (1, 0, 1),
                                                        (6, 2, 0), (7, 3, 1), (4, 0, 0)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("cout", [3, 17])
def test_conv_transpose2d_gradients_match_torch(kernel, padding, output_padding, channels_last, cout):
    """3 output channels take the phase form when the size doubles exactly; 17 (and (4, 0, 0)) the plain one."""
    gen = torch.Generator().manual_seed(kernel)
    x = torch.randn(3, 4, 5, 6, generator=gen, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    w = torch.randn(4, cout, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(cout, generator=gen, dtype=torch.float64, requires_grad=True)
    args = ((2, 2), (padding, padding), (output_padding, output_padding))
    doubles = kernel + output_padding - 2 * padding == 2
    assert conv._phase_form(x, w, *args) == (doubles and cout < conv.PHASE_MAX_CHANNELS)
    y = conv.conv_transpose2d(x, w, b, *args)
    ref = F.conv_transpose2d(x, w, b, *args)
    assert y.shape == ref.shape == (3, cout, 8 - 2 * padding + kernel + output_padding,
                                    10 - 2 * padding + kernel + output_padding)
    assert y.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert torch.allclose(y, ref)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    got, want = torch.autograd.grad(y, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g)
    assert all(torch.allclose(a, c) for a, c in zip(got, want, strict=True))
    if cout < conv.PHASE_MAX_CHANNELS:  # (the plain path is checked against torch above; gradcheck is slow)
        assert torch.autograd.gradcheck(lambda a, c, d: conv.conv_transpose2d(a, c, d, *args), (x, w, b))


def test_conv_transpose2d_without_grad_and_under_autocast():
    x, w = torch.randn(2, 4, 3, 3), torch.randn(4, 2, 4, 4)
    with torch.no_grad():
        y = conv.conv_transpose2d(x, w, None, (2, 2), (1, 1), (0, 0))
    assert y.grad_fn is None
    assert torch.allclose(y, F.conv_transpose2d(x, w, None, 2, 1, 0), atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the plain op, in bfloat16
        assert conv.conv_transpose2d(x, w, None, (2, 2), (1, 1), (0, 0)).dtype == torch.bfloat16
