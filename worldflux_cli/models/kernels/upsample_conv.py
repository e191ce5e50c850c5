"""Nearest 2x upsampling followed by a stride-1 SAME convolution, computed on the low-resolution map.

Replaces (plain twin) ``conv(F.interpolate(x, scale_factor=2, mode="nearest"))`` for a ``Conv`` of odd
kernel k, stride 1, SAME padding (k - 1) / 2 (models/dreamer_nets.py: ``ImageDecoder``'s stages in the
official CNN form). Output pixel 2m + q (q = 0, 1 per axis) of that pair reads upsampled pixels
2m + q + j - p (taps j = 0..k-1, padding p), i.e. low-resolution pixels m + floor((q + j - p) / 2): every
output phase is a small convolution of the low-resolution map whose taps are sums of the kernel's taps.
The four phases together are one stride-1 convolution with 4 x cout output channels and a
(2r + 1)-square kernel (r = 1 for k = 5: 3 x 3), then an interleave of the phases into the output map.
Zero padding matches exactly: an upsampled pixel is outside the map exactly when its low-resolution pixel is.

Multiply-adds per output pixel: (2r + 1)^2 cin against k^2 cin (9 against 25 for k = 5: 2.78x fewer), and
the 4x larger upsampled map is never written. Gradients come from autograd through the folded weight
(a linear map of the weight), the convolution and the interleave.

Dispatched from ``ImageDecoder`` (models/dreamer_nets.py, official CNN form only) where ``usable`` (mode
``auto``, a CPU tensor, no autocast, not while torch.compile traces) and ``faster`` (the measured shapes)
both say so; ``WORLDFLUX_KERNELS=plain`` turns it off with every other kernel, and the plain pair stays in
the decoder as the definition.

Measured (2026-12-08, AMD EPYC, 2 cores, 2 threads, fp32, channels-last, 5 x 5 kernels, forward + backward,
interleaved with the plain pair in one process, medians of 5-7 repetitions; two training processes ran at
nice 10 on both cores meanwhile, so the figures are indicative; ``benchmarks/paired/driver_cnn_forms.py
--ops``, rows in benchmarks/paired/results/driver_cnn_forms.ops.jsonl), plain / phase:

- the dreamer-tiny decoder, 1024 maps (the step's B x T): 32 -> 32 at 4 x 4 -> 8 x 8 0.96x (0.53x at 256
  maps), 32 -> 24 at 8 x 8 2.32x, 24 -> 16 at 16 x 16 1.95x, 16 -> 3 at 32 x 32 4.48x;
- the dreamer-12m-like decoder, 64 maps: 192 -> 192 at 4 x 4 1.22x, 192 -> 144 at 8 x 8 2.28x,
  144 -> 96 at 16 x 16 2.47x, 96 -> 3 at 32 x 32 6.02x;
- 4 x 4 inputs, 256 maps: 32 -> 32 0.59x, 64 -> 64 0.91x, 96 -> 96 1.05x, 128 -> 128 2.04x,
  192 -> 192 1.98x; 8 x 8 inputs: 16 -> 16 1.24x, 32 -> 24 3.04x.

So ``faster``: a 5 x 5 kernel (the only size measured; for k = 3 the phase kernel is as large as the
original), a float32 / float64 channels-last batch of at least MIN_MAPS maps with gradients on (the
measured case: the training step), and an input map larger than SMALL_MAP_PIXELS pixels, or, at or
below that, cin * cout >= SMALL_MAP_MIN_CHANNELS (96 -> 96 at 4 x 4 only broke even).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from worldflux_cli.models.kernels import enabled

_FOLD: dict[tuple, Tensor] = {}


def usable(x: Tensor) -> bool:
    """Whether ``upsample_conv2d`` may replace the plain pair for input x (see the module docstring)."""
    return (enabled() and x.device.type == "cpu" and not torch.is_autocast_enabled("cpu")
            and not torch.compiler.is_compiling())


#: The bounds of ``faster`` (see the module docstring for the timings that set them).
MIN_MAPS = 64
SMALL_MAP_PIXELS = 16
SMALL_MAP_MIN_CHANNELS = 128 * 128


def faster(x: Tensor, weight: Tensor) -> bool:
    """Whether the phase form was measured faster than the plain pair for input x and a (cout, cin, k, k)
    stride-1 SAME weight (the module docstring's bounds); ``usable`` is checked separately."""
    if (x.dim() != 4 or x.dtype not in (torch.float32, torch.float64) or not torch.is_grad_enabled()
            or tuple(weight.shape[-2:]) != (5, 5) or x.shape[0] < MIN_MAPS
            or not x.is_contiguous(memory_format=torch.channels_last)):
        return False
    _, cin, h, w = x.shape
    return h * w > SMALL_MAP_PIXELS or cin * weight.shape[0] >= SMALL_MAP_MIN_CHANNELS


def _fold_matrix(kernel: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, int]:
    """S (2, 2r + 1, k): S[q, d + r, j] = 1 where tap j of phase q reads low-resolution offset d; and r."""
    p = (kernel - 1) // 2
    offsets = [[(q + j - p) // 2 for j in range(kernel)] for q in (0, 1)]
    r = max(abs(d) for row in offsets for d in row)
    key = (kernel, dtype, str(device))
    if key not in _FOLD:
        s = torch.zeros(2, 2 * r + 1, kernel, dtype=dtype)
        for q in (0, 1):
            for j, d in enumerate(offsets[q]):
                s[q, d + r, j] = 1.0
        _FOLD[key] = s.to(device)
    return _FOLD[key], r


def phase_weight(weight: Tensor) -> tuple[Tensor, int]:
    """The (4 * cout, cin, 2r + 1, 2r + 1) weight of the phase convolution (output channel
    (2 qy + qx) * cout + c) of a (cout, cin, k, k) stride-1 SAME weight; and its padding r."""
    cout, cin, k, k2 = weight.shape
    if k != k2 or k % 2 == 0:
        raise ValueError(f"upsample_conv2d needs a square odd kernel, got {k} x {k2}")
    s, r = _fold_matrix(k, weight.dtype, weight.device)
    folded = torch.einsum("ayj,bxi,ocji->abocyx", s, s, weight)  # (qy, qx, cout, cin, dy, dx)
    return folded.reshape(4 * cout, cin, 2 * r + 1, 2 * r + 1), r


def upsample_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), weight, bias, 1, (k - 1) // 2)`` for an
    odd square kernel, in x's memory format (channels-last in, channels-last out)."""
    n, _, h, w = x.shape
    cout = weight.shape[0]
    folded, r = phase_weight(weight)
    z = F.conv2d(x, folded, None if bias is None else bias.repeat(4), 1, r)  # (N, 4 * cout, H, W)
    if x.is_contiguous(memory_format=torch.channels_last):  # (N, H, W, qy, qx, C) -> (N, H, qy, W, qx, C)
        zl = z.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2, cout)
        return zl.permute(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, cout).permute(0, 3, 1, 2)
    z = z.view(n, 2, 2, cout, h, w)  # (N, qy, qx, C, H, W) -> (N, C, H, qy, W, qx)
    return z.permute(0, 3, 4, 1, 5, 2).reshape(n, cout, 2 * h, 2 * w)


__all__ = ["MIN_MAPS", "SMALL_MAP_MIN_CHANNELS", "SMALL_MAP_PIXELS", "faster", "phase_weight",
           "upsample_conv2d", "usable"]
