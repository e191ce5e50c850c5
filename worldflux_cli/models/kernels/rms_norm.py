"""RMS norm over the last axis (optionally followed by SiLU) with a hand-written backward.

Replaces the plain ``RMSNorm.forward`` of models/layers.py, ``y = x * rsqrt(mean(x^2) + eps) * w``
(then SiLU), which autograd runs as about five elementwise passes over memory forward and more
backward, saving several full-size intermediates. Here the statistics take one reduction, only the
input (which exists anyway) and the per-row scale 1 / rms are saved, and the backward recomputes
the normalised input. On the CPU large inputs go through in row chunks of ``RMS_CHUNK`` elements,
so that each chunk's temporaries stay in L2 and memory is read and written once per pass of the
whole op, and rows narrower than 16 channels are packed side by side (``LANE_WIDTH``).

Used (``usable``) in mode ``auto`` for CPU tensors of any dtype, also under autocast (the weight is
cast to the input's dtype, the statistics of half types reduced in float32) and while torch.compile
traces (dynamo traces the function). Not on other devices: it was never timed there.

Measured on a 2-core AVX-512 machine, fp32, 2 threads, forward + backward of ``RMSNorm.channels`` with
SiLU, interleaved with the plain twin (2026-12-02): 256 maps of 48 channels at 32 x 32 (the size12m-like
encoder's first stage) 49 vs 83 ms (1.70x); 1024 maps of 8 channels at 32 x 32 (tiny, packed rows)
47 vs 65 ms (1.36x). PyTorch's fused ``_fused_rms_norm`` CPU kernel is slower per element than these
passes (0.39 vs ~0.24 ns) and has no CPU backward. benchmarks/RESULTS.md, "Kernels behind one switch",
has these figures and the training-step times with and without the kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from worldflux_cli.models.kernels import enabled
from worldflux_cli.models.kernels.column_sums import column_sums

#: Elements per chunk on the CPU: big enough to amortise dispatch, small enough that a chunk and its
#: temporaries stay in each core's L2 cache. Inputs of at most this many elements go in one block.
RMS_CHUNK = 1 << 18

#: Row width narrow rows are packed into: with fewer than 16 channels, rows of LANE_WIDTH // dim pixels
#: side by side keep every elementwise pass vectorised (per-pixel statistics then go through small
#: matrix products); 1.4x faster for 8 channels.
LANE_WIDTH = 64


def usable(x: Tensor) -> bool:
    """Whether ``RMSNorm`` runs this kernel for x: mode ``auto`` and a CPU tensor."""
    return enabled() and x.device.type == "cpu"


def rms_norm(x: Tensor, weight: Tensor, eps: float, act: bool, chunk: int = RMS_CHUNK) -> Tensor:
    """x * rsqrt(mean(x^2, -1) + eps) * weight, then SiLU when ``act``; in x's dtype. ``chunk``: elements per
    block of rows on the CPU (tests pass small values to exercise the chunked path on small inputs)."""
    return _RMSNormFn.apply(x, weight, eps, act, chunk)


def _rms_scale(x: Tensor, eps: float) -> Tensor:
    """1 / sqrt(mean(x^2, -1) + eps), (M, 1), reduced in float32 for half types."""
    if x.dtype in (torch.float16, torch.bfloat16):
        r = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32)
        return r.square_().div_(x.shape[-1]).add_(eps).rsqrt_().to(x.dtype)
    return torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().mul_(1.0 / x.shape[-1]).add_(eps).rsqrt_()


def rms_norm_rows(x2: Tensor, weight: Tensor, eps: float, act: bool) -> tuple[Tensor, Tensor]:
    """RMS norm of the rows of x2 (N, dim) times weight (then SiLU when ``act``), in one block; and the
    per-row scale 1 / rms (N, 1) that ``rms_norm_rows_backward`` takes. No autograd: callers write the backward."""
    r = _rms_scale(x2, eps)
    y = torch.mul(x2, r).mul_(weight)
    return (F.silu(y, inplace=True) if act else y), r


def rms_norm_rows_backward(x: Tensor, dy: Tensor, r: Tensor, weight: Tensor, spread: Tensor | None, dim: int,
                           act: bool, need_w: bool, dx: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """dL/dx (into ``dx`` when given) and dL/dweight (per lane) of one block of (packed) rows, from the
    input x, the output gradient dy and the scale r of ``rms_norm_rows``; ``spread`` for packed rows."""
    rf = r if spread is None else r @ spread
    xr = x * rf
    dn = torch.ops.aten.silu_backward(dy, xr * weight) if act else dy
    p = dn * xr
    # dim * (mean over each pixel's channels of dL/dy_hat * x_hat), per row / spread over the lanes
    dot = (p @ weight).unsqueeze(-1) if spread is None else (p @ (spread.t() * weight.unsqueeze(-1))) @ spread
    out = torch.mul(dn, weight) if dx is None else torch.mul(dn, weight, out=dx)
    out.addcmul_(xr, dot, value=-1.0 / dim).mul_(rf)
    return out, (column_sums(p) if need_w else None)


def _lanes(x2: Tensor) -> int:
    """How many rows of x2 (rows, dim) are packed into one row: 1, or LANE_WIDTH // dim."""
    rows, dim = x2.shape
    if (x2.device.type != "cpu" or x2.dtype not in (torch.float32, torch.float64) or dim >= 16
            or LANE_WIDTH % dim or rows % (LANE_WIDTH // dim)):
        return 1
    return LANE_WIDTH // dim


def _spread(lanes: int, dim: int, like: Tensor) -> Tensor | None:
    """(lanes, lanes * dim) block indicator: row i is 1 over the dim entries of lane i; None for 1 lane."""
    if lanes == 1:
        return None
    return torch.eye(lanes, dtype=like.dtype, device=like.device).repeat_interleave(dim, 1)


def _row_chunks(rows: int, width: int, chunk: int) -> list[slice]:
    """Row slices of at most ``chunk`` elements (at least one row)."""
    step = max(1, chunk // width)
    return [slice(s, s + step) for s in range(0, rows, step)]


class _RMSNormFn(torch.autograd.Function):
    """(x, weight, eps, act, chunk) -> RMS norm of x over its last axis times weight, SiLU when act."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, eps: float, act: bool, chunk: int) -> Tensor:
        dim, weight_dtype = x.shape[-1], weight.dtype
        x2, weight = x.reshape(-1, dim), weight.to(x.dtype)  # (differ under autocast)
        ctx.act, ctx.weight_dtype, ctx.chunk = act, weight_dtype, chunk
        if x.numel() <= chunk or x.device.type != "cpu":  # one block: the fewest ops
            y, r = rms_norm_rows(x2, weight, eps, act)
            ctx.save_for_backward(x, weight, r)
            return y.view(x.shape)
        lanes = _lanes(x2)
        spread, x2 = _spread(lanes, dim, x2), x2.view(-1, lanes * dim)
        wide = weight if lanes == 1 else weight.repeat(lanes)
        y = torch.empty_like(x2)
        r = x2.new_empty(x2.shape[0], lanes)
        for sl in _row_chunks(x2.shape[0], x2.shape[1], chunk):
            if spread is None:
                rs = r[sl].copy_(_rms_scale(x2[sl], eps))
            else:  # per-pixel mean squares through the block indicator, then spread back over the lanes
                rs = torch.mm(x2[sl].square(), spread.t(), out=r[sl]).mul_(1.0 / dim).add_(eps).rsqrt_() @ spread
            ys = torch.mul(x2[sl], rs, out=y[sl]).mul_(wide)
            if act:
                F.silu(ys, inplace=True)
        ctx.save_for_backward(x, weight, r)
        return y.view(x.shape)

    @staticmethod
    def backward(ctx, dy: Tensor):
        x, weight, r = ctx.saved_tensors
        dim, lanes = x.shape[-1], r.shape[-1]
        need_w = ctx.needs_input_grad[1]
        x2, dy2 = x.reshape(-1, lanes * dim), dy.reshape(-1, lanes * dim).to(x.dtype)
        if x.numel() <= ctx.chunk or x.device.type != "cpu":
            dx, dw = rms_norm_rows_backward(x2, dy2, r, weight, None, dim, ctx.act, need_w, None)
        else:
            spread, wide = _spread(lanes, dim, x2), (weight if lanes == 1 else weight.repeat(lanes))
            dx, dw = torch.empty_like(x2), None
            for sl in _row_chunks(x2.shape[0], x2.shape[1], ctx.chunk):
                part = rms_norm_rows_backward(x2[sl], dy2[sl], r[sl], wide, spread, dim, ctx.act, need_w, dx[sl])[1]
                dw = part if dw is None else dw.add_(part)
            if need_w and lanes > 1:
                dw = dw.view(lanes, dim).sum(0)
        return dx.view(x.shape), (dw.to(ctx.weight_dtype) if need_w else None), None, None, None
