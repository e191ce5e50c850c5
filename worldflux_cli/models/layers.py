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
#: the temporaries of a chunk stay in cache.
RMS_CHUNK = 1 << 20


def _rms_scale(x: Tensor, eps: float) -> Tensor:
    """1 / sqrt(mean(x^2, -1) + eps), (M, 1), reduced in float32 for half types."""
    acc = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else None
    r = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=acc)
    return r.square_().div_(x.shape[-1]).add_(eps).rsqrt_().to(x.dtype)


def _row_chunks(rows: int, dim: int, device: torch.device) -> list[slice]:
    step = max(1, RMS_CHUNK // dim) if device.type == "cpu" else rows
    return [slice(s, s + step) for s in range(0, rows, step)]


class _RMSNormFn(torch.autograd.Function):
    """RMS norm over the last axis, optionally followed by SiLU, with a hand-written backward.

    PyTorch's rms_norm decomposes into many elementwise kernels (more in its backward), each a
    full pass over memory. This computes the statistics in one reduction, saves the normalised
    input and the per-row scale, and on CPU walks large inputs in row chunks so that the
    temporaries of each chunk stay in cache (as fast as the fused native LayerNorm).
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, eps: float, act: bool) -> Tensor:
        shape, dim, weight_dtype = x.shape, x.shape[-1], weight.dtype
        x2, weight = x.reshape(-1, dim), weight.to(x.dtype)  # (differ under autocast)
        xr, y = torch.empty_like(x2), torch.empty_like(x2)
        r = x2.new_empty(x2.shape[0], 1)
        for sl in _row_chunks(x2.shape[0], dim, x.device):
            rs = _rms_scale(x2[sl], eps)
            r[sl] = rs
            ys = torch.mul(torch.mul(x2[sl], rs, out=xr[sl]), weight, out=y[sl])
            if act:
                F.silu(ys, inplace=True)
        ctx.save_for_backward(xr, weight, r)
        ctx.act, ctx.shape, ctx.weight_dtype = act, shape, weight_dtype
        return y.view(shape)

    @staticmethod
    def backward(ctx, dy: Tensor):
        xr, weight, r = ctx.saved_tensors
        dim = xr.shape[-1]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        dy2 = dy.reshape(-1, dim).to(xr.dtype)
        dx = torch.empty_like(xr) if need_x else None
        dw = torch.zeros(dim, dtype=torch.float32, device=xr.device) if need_w else None
        w_mean = weight / dim
        for sl in _row_chunks(xr.shape[0], dim, xr.device):
            xrs = xr[sl]
            dn = torch.ops.aten.silu_backward(dy2[sl], xrs * weight) if ctx.act else dy2[sl]
            p = dn * xrs
            if need_w:
                dw += p.sum(0, dtype=torch.float32)
            if need_x:
                dot = (p @ w_mean).unsqueeze(-1)  # mean over the row of dL/dy_hat * x_hat
                torch.mul(dn, weight, out=dx[sl]).addcmul_(xrs, dot, value=-1).mul_(r[sl])
        return (dx.view(ctx.shape) if need_x else None), (dw.to(ctx.weight_dtype) if need_w else None), None, None


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
        lead = x.shape[:-1]
        g = self.blocks
        xg = x.reshape(-1, g, self.in_features // g).transpose(0, 1)  # (g, N, in/g)
        y = torch.bmm(xg, self.weight).transpose(0, 1).reshape(*lead, self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, blocks={self.blocks}, bias={self.bias is not None}"
