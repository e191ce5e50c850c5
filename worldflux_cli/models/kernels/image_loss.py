"""DreamerV3's image loss, sum((sigmoid(logits) - target)^2), with a hand-written backward.

Replaces the plain ``sigmoid_squared_error`` of models/layers.py (sigmoid, subtract, square, sum through
autograd: about four passes over the images each way) by two passes forward and two backward: the
forward keeps sigmoid(logits) and the difference, the backward is one ``sigmoid_backward`` and a scale.
The difference is written in the logits' memory format whatever the target's (the decoder's
channels-last output against NCHW targets).

Used (``usable``) in mode ``auto`` for CPU logits, not while torch.compile traces (the compiler fuses
the plain ops; the strided ``out=`` would split its graph). Measured on a 2-core AVX-512 machine, fp32,
2 threads, interleaved with the plain twin (2026-12-02): forward + backward over 1024 frames of
3 x 64 x 64, 27 vs 40 ms (1.45x); benchmarks/RESULTS.md, "Kernels behind one switch".

The sum is taken as per-frame norms (each a float32 reduction over one frame) whose squares are summed
in float64: one float32 accumulation over ~12M pixels read the loss low by up to ~1e-3 relative.
"""

from __future__ import annotations

import torch
from torch import Tensor

from worldflux_cli.models.kernels import enabled


def usable(logits: Tensor) -> bool:
    """Whether ``sigmoid_squared_error`` runs this kernel: mode ``auto``, CPU logits, not while compiling."""
    return enabled() and logits.device.type == "cpu" and not torch.compiler.is_compiling()


def sigmoid_squared_error(logits: Tensor, target: Tensor) -> Tensor:
    """sum((sigmoid(logits) - target)^2) over all elements, at least float32 (no gradient for the target)."""
    return _SigmoidSquaredErrorFn.apply(logits, target)


class _SigmoidSquaredErrorFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor) -> Tensor:
        s = torch.sigmoid(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits)
        d = torch.sub(s, target.to(s.dtype), out=torch.empty_like(s))  # in s's memory format, whatever the target's
        ctx.save_for_backward(s, d)
        ctx.dtype = logits.dtype
        frames = torch.linalg.vector_norm(d, dim=tuple(range(1, d.dim()))) if d.dim() > 1 else d.abs()
        return frames.to(torch.float64).square().sum().to(s.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        s, d = ctx.saved_tensors
        dl = torch.ops.aten.sigmoid_backward(d, s).mul_(2 * grad)  # 2 (s - t) s (1 - s) * grad
        return dl.to(ctx.dtype), None
