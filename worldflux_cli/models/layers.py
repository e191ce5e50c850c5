"""Shared PyTorch layers (imports torch). Append new layers; keep each one self-contained.

DreamerV3 layers: ``RMSNorm`` (scale only, normalises the last axis, optionally fused with
SiLU), ``BlockLinear`` (block-diagonal linear map), ``trunc_normal_init_`` (fan-in scaled
truncated normal, the official DreamerV3 initialiser).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ------------------------------------------------------------------------------ DreamerV3 layers


def trunc_normal_init_(weight: Tensor, fan_in: int, scale: float = 1.0) -> Tensor:
    """Fan-in truncated normal init (official DreamerV3 'trunc_normal_in'); zeros when scale is 0.

    Standard deviation scale * sqrt(1 / fan_in) / 0.8796 (the std of a unit normal truncated
    to [-2, 2]), truncated at two standard deviations. Safe on the meta device.
    """
    if scale == 0:
        return nn.init.zeros_(weight)
    std = scale * math.sqrt(1.0 / max(1, fan_in)) / 0.87962566103423978
    return nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


#: Elements per chunk of the CPU RMSNorm: big enough to amortise dispatch, small enough that
#: a chunk and its temporaries stay in each core's L2 cache.
RMS_CHUNK = 1 << 18


def _rms_scale(x: Tensor, eps: float) -> Tensor:
    """1 / sqrt(mean(x^2, -1) + eps), (M, 1), reduced in float32 for half types."""
    if x.dtype in (torch.float16, torch.bfloat16):
        r = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32)
        return r.square_().div_(x.shape[-1]).add_(eps).rsqrt_().to(x.dtype)
    return torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().mul_(1.0 / x.shape[-1]).add_(eps).rsqrt_()


def rms_norm_rows(x2: Tensor, weight: Tensor, eps: float, act: bool) -> tuple[Tensor, Tensor]:
    """RMS norm of the rows of x2 (N, dim) times weight (then SiLU when ``act``), in one block; and the
    per-row scale 1 / rms (N, 1) that ``_rms_backward`` takes. No autograd: callers write the backward."""
    r = _rms_scale(x2, eps)
    y = torch.mul(x2, r).mul_(weight)
    return (F.silu(y, inplace=True) if act else y), r


def column_sums(m: Tensor) -> Tensor:
    """m.sum(0) of a 2-D tensor (float32 for half types); as a matrix-vector product where that
    is faster (2-4x on CPU for float32 with 16+ columns). Fewer than 16 contiguous columns are
    first folded into rows of 48 or more (k rows side by side), whose k partial sums are added."""
    if m.dtype in (torch.float16, torch.bfloat16):
        return m.sum(0, dtype=torch.float32)
    if m.dtype != torch.float32 or m.device.type != "cpu":
        return m.sum(0)
    rows, cols = m.shape
    if cols < 16:
        fold = -(-48 // cols)
        if not m.is_contiguous() or rows % fold or rows < 16 * fold:
            return m.sum(0)
        return torch.mv(m.view(rows // fold, fold * cols).t(), m.new_ones(rows // fold)).view(fold, cols).sum(0)
    return torch.mv(m.t(), m.new_ones(rows))


#: Row width the CPU RMSNorm packs narrow rows into: with fewer than 16 channels, rows of
#: LANE_WIDTH // dim pixels side by side keep every elementwise pass vectorised (per-pixel
#: statistics then go through small matrix products); 1.4x faster for 8 channels.
LANE_WIDTH = 64


def _lanes(x2: Tensor) -> int:
    """How many rows of x2 (rows, dim) the CPU RMSNorm packs into one row: 1, or LANE_WIDTH // dim."""
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


def _row_chunks(rows: int, width: int) -> list[slice]:
    """Row slices of at most RMS_CHUNK elements (at least one row)."""
    step = max(1, RMS_CHUNK // width)
    return [slice(s, s + step) for s in range(0, rows, step)]


def _rms_backward(x: Tensor, dy: Tensor, r: Tensor, weight: Tensor, spread: Tensor | None, dim: int, act: bool,
                  need_w: bool, dx: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """dL/dx (into ``dx`` when given) and dL/dweight (per lane) of one block of (packed) rows."""
    rf = r if spread is None else r @ spread
    xr = x * rf
    dn = torch.ops.aten.silu_backward(dy, xr * weight) if act else dy
    p = dn * xr
    # dim * (mean over each pixel's channels of dL/dy_hat * x_hat), per row / spread over the lanes
    dot = (p @ weight).unsqueeze(-1) if spread is None else (p @ (spread.t() * weight.unsqueeze(-1))) @ spread
    out = torch.mul(dn, weight) if dx is None else torch.mul(dn, weight, out=dx)
    out.addcmul_(xr, dot, value=-1.0 / dim).mul_(rf)
    return out, (column_sums(p) if need_w else None)


class _RMSNormFn(torch.autograd.Function):
    """RMS norm over the last axis, optionally followed by SiLU, with a hand-written backward.

    PyTorch's rms_norm decomposes into many elementwise kernels (more in its backward), each a
    full pass over memory. This computes the statistics in one reduction and saves only the
    input (which exists anyway) and the per-row scale; the backward recomputes the normalised
    input. On CPU it walks large inputs in row chunks so that the temporaries of each chunk
    stay in cache and memory is read and written once per pass of the whole op, and packs
    narrow rows side by side (see LANE_WIDTH).
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, eps: float, act: bool) -> Tensor:
        dim, weight_dtype = x.shape[-1], weight.dtype
        x2, weight = x.reshape(-1, dim), weight.to(x.dtype)  # (differ under autocast)
        ctx.act, ctx.weight_dtype = act, weight_dtype
        if x.numel() <= RMS_CHUNK or x.device.type != "cpu":  # one block: the fewest ops
            y, r = rms_norm_rows(x2, weight, eps, act)
            ctx.save_for_backward(x, weight, r)
            return y.view(x.shape)
        lanes = _lanes(x2)
        spread, x2 = _spread(lanes, dim, x2), x2.view(-1, lanes * dim)
        wide = weight if lanes == 1 else weight.repeat(lanes)
        y = torch.empty_like(x2)
        r = x2.new_empty(x2.shape[0], lanes)
        for sl in _row_chunks(x2.shape[0], x2.shape[1]):
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
        if x.numel() <= RMS_CHUNK or x.device.type != "cpu":
            dx, dw = _rms_backward(x2, dy2, r, weight, None, dim, ctx.act, need_w, None)
        else:
            spread, wide = _spread(lanes, dim, x2), (weight if lanes == 1 else weight.repeat(lanes))
            dx, dw = torch.empty_like(x2), None
            for sl in _row_chunks(x2.shape[0], x2.shape[1]):
                part = _rms_backward(x2[sl], dy2[sl], r[sl], wide, spread, dim, ctx.act, need_w, dx[sl])[1]
                dw = part if dw is None else dw.add_(part)
            if need_w and lanes > 1:
                dw = dw.view(lanes, dim).sum(0)
        return dx.view(x.shape), (dw.to(ctx.weight_dtype) if need_w else None), None, None


class RMSNorm(nn.Module):
    """RMS normalisation over the last axis with a learned scale (no offset): ``dim`` parameters.

    ``act=True`` fuses a SiLU after it (the Norm -> SiLU pair of every DreamerV3 layer).
    For (N, C, H, W) feature maps use ``channels(x)``, which normalises over C.
    """

    def __init__(self, dim: int, eps: float = 1e-4, act: bool = False) -> None:
        super().__init__()
        self.eps, self.act = eps, act
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return _RMSNormFn.apply(x, self.weight, self.eps, self.act)

    def channels(self, x: Tensor) -> Tensor:
        """Normalise (N, C, H, W) over C; channels-last inputs need no copy."""
        return self(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.eps}, act={'silu' if self.act else 'none'}"


def block_matmul(x: Tensor, weight: Tensor) -> Tensor:
    """x (..., in) times a block-diagonal weight (g, in/g, out/g) -> (..., out): one batched matmul."""
    g, k, o = weight.shape
    y = torch.bmm(x.reshape(-1, g, k).transpose(0, 1), weight)  # (g, N, out/g)
    return y.transpose(0, 1).reshape(*x.shape[:-1], g * o)


class BlockLinear(nn.Module):
    """Block-diagonal linear map: input and output split into ``blocks`` groups, group i of the
    output reads only group i of the input. One batched matmul over the blocks.

    Parameters: in_features * out_features / blocks weights, plus out_features biases.
    """

    def __init__(self, in_features: int, out_features: int, blocks: int, bias: bool = True) -> None:
        super().__init__()
        if in_features % blocks or out_features % blocks:
            raise ValueError(f"blocks={blocks} must divide in_features={in_features} and out_features={out_features}")
        self.in_features, self.out_features, self.blocks = in_features, out_features, blocks
        self.weight = nn.Parameter(torch.empty(blocks, in_features // blocks, out_features // blocks))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        trunc_normal_init_(self.weight, in_features // blocks)

    def forward(self, x: Tensor) -> Tensor:
        y = block_matmul(x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, blocks={self.blocks}, bias={self.bias is not None}"


# ------------------------------------------------------------------------------------------ losses
class _SigmoidSquaredErrorFn(torch.autograd.Function):
    """sum((sigmoid(logits) - target)^2) (float32 for half types), forward and backward in two passes each
    (autograd's sigmoid + mse_loss take about four times as many passes over the images)."""

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor) -> Tensor:
        s = torch.sigmoid(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits)
        d = torch.sub(s, target.to(s.dtype), out=torch.empty_like(s))  # in s's memory format, whatever the target's
        ctx.save_for_backward(s, d)
        ctx.dtype = logits.dtype
        return torch.linalg.vector_norm(d).square()

    @staticmethod
    def backward(ctx, grad: Tensor):
        s, d = ctx.saved_tensors
        dl = torch.ops.aten.sigmoid_backward(d, s).mul_(2 * grad)  # 2 (s - t) s (1 - s) * grad
        return dl.to(ctx.dtype), None


def sigmoid_squared_error(logits: Tensor, target: Tensor) -> Tensor:
    """sum((sigmoid(logits) - target)^2) over all elements, at least float32 (DreamerV3's image loss).
    While torch.compile traces, the plain ops (the compiler fuses them; the function's strided out= would
    split its graph)."""
    if torch.compiler.is_compiling():
        s = torch.sigmoid(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits)
        return (s - target.to(s.dtype)).square().sum()
    return _SigmoidSquaredErrorFn.apply(logits, target)
