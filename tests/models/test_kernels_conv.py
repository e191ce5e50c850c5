"""The CPU forms of models/kernels/conv.py (GEMM, phase, custom weight gradient) give the values and
gradients of F.conv2d / F.conv_transpose2d (float64), each form is chosen for the shapes it was measured
faster on, and the model's Conv layers (stride 2, and fractionally strided) give the same in both kernel modes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from worldflux_cli.models import kernels  # noqa: E402
from worldflux_cli.models.dreamer import Conv  # noqa: E402
from worldflux_cli.models.kernels import conv  # noqa: E402

CL = torch.channels_last


def _grads(y, inputs, g):
    return torch.autograd.grad(y, inputs, g)


def _same(y, ref, inputs, gen):
    """y and ref have equal values and equal gradients w.r.t. ``inputs`` (float64)."""
    assert y.shape == ref.shape and torch.allclose(y, ref)
    g = torch.randn(ref.shape, generator=gen, dtype=ref.dtype)
    for a, c in zip(_grads(y, inputs, g), _grads(ref, inputs, g), strict=True):
        assert torch.allclose(a, c)


# ------------------------------------------------------------------------------------ GEMM form
@pytest.mark.parametrize("kernel,padding,output_padding", [(4, 1, 0), (5, 2, 1), (3, 1, 1), (2, 0, 0), (6, 2, 0),
                                                        (4, 0, 0), (1, 0, 1)])
@pytest.mark.parametrize("size", [(8, 8), (7, 5)])
@pytest.mark.parametrize("block_bytes", [1, conv.GEMM_BLOCK_BYTES])
def test_gemm_form_matches_torch(kernel, padding, output_padding, size, block_bytes):
    """Values and all three gradients, float64, for kernels that halve / double the map exactly and others;
    all maps in one block, or one map per block (gradients summed over blocks)."""
    gen = torch.Generator().manual_seed(kernel * 10 + size[1])
    x = torch.randn(3, 5, *size, generator=gen, dtype=torch.float64).contiguous(memory_format=CL).requires_grad_()
    b = torch.randn(6, generator=gen, dtype=torch.float64, requires_grad=True)

    w = torch.randn(6, 5, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    y = conv.gemm_conv2d(x, w, b, padding, block_bytes)
    assert y.grad_fn.name().startswith("_GemmConv2dFn") and y.is_contiguous(memory_format=CL)
    _same(y, F.conv2d(x, w, b, 2, padding), (x, w, b), gen)

    wt = torch.randn(5, 6, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    y = conv.gemm_conv_transpose2d(x, wt, b, padding, output_padding, block_bytes)
    assert y.grad_fn.name().startswith("_GemmConvTranspose2dFn") and y.is_contiguous(memory_format=CL)
    _same(y, F.conv_transpose2d(x, wt, b, 2, padding, output_padding), (x, wt, b), gen)


def test_gemm_form_gradcheck_and_no_bias():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 6, generator=gen, dtype=torch.float64).contiguous(memory_format=CL).requires_grad_()
    w = torch.randn(4, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(3, 4, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c, d: conv.gemm_conv2d(a, c, d, 1), (x, w, b))
    assert torch.autograd.gradcheck(lambda a, c, d: conv.gemm_conv_transpose2d(a, c, d, 1, 0), (x, wt, b))
    assert torch.allclose(conv.gemm_conv2d(x, w, None, 1), F.conv2d(x, w, None, 2, 1))
    assert torch.allclose(conv.gemm_conv_transpose2d(x, wt, None, 1, 0), F.conv_transpose2d(x, wt, None, 2, 1))
    with torch.no_grad():  # the same form, no graph
        y = conv.gemm_conv2d(x, w, b, 1)
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


def test_model_layers_take_the_gemm_form_at_its_bounds_and_match_the_plain_layers():
    """Stride-2 and fractionally strided Conv layers at the smallest shapes the form is chosen for (160 -> 320
    channels, 4 x 4 pixels on the small side, 256 maps for the convolution; kernel 1 and 2 keep it cheap), float64,
    in both modes."""
    gen = torch.Generator().manual_seed(0)
    for layer, x_shape in ((Conv(160, 320, 1, 2), (256, 160, 8, 8)), (Conv(320, 160, 2, 2, True), (2, 320, 4, 4))):
        layer = layer.double()
        with torch.no_grad():
            layer.bias.normal_(generator=gen)
        x = torch.randn(x_shape, generator=gen, dtype=torch.float64).contiguous(memory_format=CL).requires_grad_()
        y = layer(x)
        with kernels.use("plain"):
            ref = layer(x)
        assert y.grad_fn.name().startswith("_Gemm") and not ref.grad_fn.name().startswith("_")
        _same(y, ref, (x, layer.weight, layer.bias), gen)


def test_conv_forms_step_aside_under_autocast_and_in_plain_mode():
    x = torch.randn(2, 4, 8, 8).contiguous(memory_format=CL)
    down, up = Conv(4, 6, 4, 2), Conv(6, 4, 4, 2, True)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the plain ops, in bfloat16
        assert down(x).dtype == torch.bfloat16 and up(down(x)).dtype == torch.bfloat16
    assert up(down(x)).grad_fn.name() == "_ConvTranspose2dFnBackward"
    with kernels.use("plain"):
        assert up(down(x)).grad_fn.name() == "ConvolutionBackward0"
    y = conv.conv2d(x.contiguous().requires_grad_(), torch.randn(6, 4, 4, 4), None, (2, 2), (1, 1))
    assert not y.grad_fn.name().startswith("_Gemm")  # not channels-last: oneDNN


# -------------------------------------------------------------------------- transposed convolution
@pytest.mark.parametrize("kernel,padding,output_padding", [(4, 1, 0), (5, 2, 1), (3, 1, 1), (2, 0, 0), (1, 0, 1),
                                                        (6, 2, 0), (7, 3, 1), (4, 0, 0)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("cout", [3, 17])
def test_conv_transpose2d_gradients_match_torch(kernel, padding, output_padding, channels_last, cout):
    """3 output channels take the phase form when the size doubles exactly; 17 (and (4, 0, 0)) oneDNN's forward.
    Either way the weight gradient comes from the matching convolution's kernel."""
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
    assert y.grad_fn.name() == "_ConvTranspose2dFnBackward"
    ref = F.conv_transpose2d(x, w, b, *args)
    assert y.shape == ref.shape == (3, cout, 8 - 2 * padding + kernel + output_padding,
                                    10 - 2 * padding + kernel + output_padding)
    assert y.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    _same(y, ref, (x, w, b), gen)
    if cout < conv.PHASE_MAX_CHANNELS and channels_last:  # (gradcheck is slow: once per kernel shape)
        assert torch.autograd.gradcheck(lambda a, c, d: conv.conv_transpose2d(a, c, d, *args), (x, w, b))


def test_conv_transpose2d_without_grad():
    x, w = torch.randn(2, 4, 3, 3), torch.randn(4, 2, 4, 4)
    with torch.no_grad():
        y = conv.conv_transpose2d(x, w, None, (2, 2), (1, 1), (0, 0))
    assert y.grad_fn is None
    assert torch.allclose(y, F.conv_transpose2d(x, w, None, 2, 1, 0), atol=1e-6)


# ------------------------------------------------------------------- nearest upsample + convolution
@pytest.mark.parametrize("kernel", [5, 3, 1, 7])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("size", [(4, 4), (5, 3)])
def test_upsample_conv2d_matches_interpolate_then_conv(kernel, channels_last, size):
    """kernels/upsample_conv.py: values and the gradients w.r.t. input, weight and bias, float64, against
    nearest 2x upsampling then a stride-1 SAME convolution (the official decoder stage)."""
    from worldflux_cli.models.kernels import upsample_conv

    gen = torch.Generator().manual_seed(kernel + size[1])
    x = torch.randn(2, 3, *size, generator=gen, dtype=torch.float64)
    x = (x.contiguous(memory_format=CL) if channels_last else x).requires_grad_()
    w = torch.randn(4, 3, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    ref = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, b, 1, (kernel - 1) // 2)
    y = upsample_conv.upsample_conv2d(x, w, b)
    assert y.is_contiguous(memory_format=CL) == channels_last
    _same(y, ref, (x, w, b), gen)
    no_bias = upsample_conv.upsample_conv2d(x, w, None)
    assert torch.allclose(no_bias, ref - b.view(1, -1, 1, 1))


def test_upsample_conv2d_rejects_even_kernels_and_steps_aside_in_plain_mode():
    from worldflux_cli.models.kernels import upsample_conv

    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(ValueError):
        upsample_conv.upsample_conv2d(x, torch.randn(2, 2, 4, 4), None)
    assert upsample_conv.usable(x)
    with kernels.use("plain"):
        assert not upsample_conv.usable(x)


def test_upsample_conv_is_chosen_for_the_measured_shapes():
    """``faster``: 5 x 5 kernels, channels-last, >= MIN_MAPS maps, gradients on; maps above 4 x 4, or at 4 x 4
    with cin * cout >= SMALL_MAP_MIN_CHANNELS."""
    from worldflux_cli.models.kernels import upsample_conv

    def chosen(n, cin, cout, h, k=5, channels_last=True, dtype=torch.float32):
        x = torch.empty(n, cin, h, h, dtype=dtype)
        return upsample_conv.faster(x.contiguous(memory_format=CL) if channels_last else x,
                                    torch.empty(cout, cin, k, k, dtype=dtype))

    assert chosen(64, 32, 24, 8) and chosen(1024, 16, 3, 32) and chosen(64, 192, 192, 4)
    assert chosen(64, 128, 128, 4) and chosen(64, 4, 4, 8, dtype=torch.float64)
    assert not chosen(1024, 32, 32, 4) and not chosen(64, 96, 96, 4)  # 0.96x / 1.05x: left to the plain pair
    assert not chosen(63, 32, 24, 8) and not chosen(64, 32, 24, 8, k=3) and not chosen(64, 32, 24, 8, k=7)
    assert not chosen(64, 32, 24, 8, channels_last=False) and not chosen(64, 32, 24, 8, dtype=torch.bfloat16)
    with torch.no_grad():
        assert not chosen(64, 32, 24, 8)


def test_image_decoder_with_the_phase_form_matches_the_plain_decoder(monkeypatch):
    """ImageDecoder (official CNN form) at random, non-initial weights, float64, 64 maps: the stages at 8 x 8 and
    above take kernels/upsample_conv.py (the 4 x 4 one, 16 -> 16 channels, stays plain); outputs and the gradients
    w.r.t. deter, stoch and every parameter equal those of the plain decoder (kernels.use("plain"))."""
    from worldflux_cli.config.dreamer import DreamerV3Config
    from worldflux_cli.models.dreamer_nets import ImageDecoder
    from worldflux_cli.models.kernels import upsample_conv

    c = DreamerV3Config(obs_shape=(3, 64, 64), action_type="discrete", action_dim=3, deter_dim=32, hidden_dim=16,
                        stoch_discrete=4, stoch_classes=4, gru_blocks=4, mlp_units=16, cnn_depth=4,
                        decoder_blocks=4)
    torch.manual_seed(0)
    dec = ImageDecoder(c).double()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in dec.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * (0.3 if p.dim() > 1 else 0.5) + 0.05)
    deter = torch.randn(64, c.deter_dim, generator=gen, dtype=torch.float64, requires_grad=True)
    stoch = torch.randn(64, c.stoch_dim, generator=gen, dtype=torch.float64, requires_grad=True)
    inputs = (deter, stoch, *dec.parameters())

    calls = []
    real = upsample_conv.upsample_conv2d
    monkeypatch.setattr(upsample_conv, "upsample_conv2d", lambda x, w, b: calls.append(x.shape[-1]) or real(x, w, b))
    y = dec(deter, stoch)
    with kernels.use("plain"):
        ref = dec(deter, stoch)
    assert calls == [8, 16, 32]  # not the 4 x 4 stage; none in plain mode
    assert y.shape == ref.shape == (64, 3, 64, 64) and y.is_contiguous(memory_format=CL)
    assert torch.allclose(y, ref, rtol=1e-9, atol=1e-9)
    g = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    for a, r in zip(_grads(y, inputs, g), _grads(ref, inputs, g), strict=True):
        assert torch.allclose(a, r, rtol=1e-9, atol=1e-9)
