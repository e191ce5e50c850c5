"""Shared PyTorch layers (imports torch). Append new layers; keep each one self-contained.

DreamerV3 layers: ``RMSNorm`` (scale only, normalises the last axis, optionally followed by
SiLU), ``BlockLinear`` (block-diagonal linear map), ``trunc_normal_init_`` (fan-in scaled
truncated normal, the official DreamerV3 initialiser), and the image loss
``sigmoid_squared_error``.

Each is written as plain PyTorch. ``RMSNorm`` and ``sigmoid_squared_error`` hand their work to a
faster CPU kernel (models/kernels/) where the kernel switch allows it; ``WORLDFLUX_KERNELS=plain``
runs the code written here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worldflux_cli.models.kernels import image_loss as image_loss_kernel
from worldflux_cli.models.kernels import rms_norm as rms_norm_kernel

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
        if rms_norm_kernel.usable(x):  # the same maths, hand-written backward (models/kernels/rms_norm.py)
            return rms_norm_kernel.rms_norm(x, self.weight, self.eps, self.act)
        y = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.weight.to(x.dtype)  # (autocast)
        return F.silu(y) if self.act else y

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

    Parameters: in_features * out_features / blocks weights, plus out_features biases. The weight
    (blocks, in/blocks, out/blocks) is initialised as the official DreamerV3 does such a kernel: fan-in
    = in_features, the whole input width (its compute_fans multiplies the leading axes in).
    """

    def __init__(self, in_features: int, out_features: int, blocks: int, bias: bool = True) -> None:
        super().__init__()
        if in_features % blocks or out_features % blocks:
            raise ValueError(f"blocks={blocks} must divide in_features={in_features} and out_features={out_features}")
        self.in_features, self.out_features, self.blocks = in_features, out_features, blocks
        self.weight = nn.Parameter(torch.empty(blocks, in_features // blocks, out_features // blocks))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        trunc_normal_init_(self.weight, in_features)

    def forward(self, x: Tensor) -> Tensor:
        y = block_matmul(x, self.weight)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, blocks={self.blocks}, bias={self.bias is not None}"


# ------------------------------------------------------------------------------------------ losses
def sigmoid_squared_error(logits: Tensor, target: Tensor) -> Tensor:
    """sum((sigmoid(logits) - target)^2) over all elements, at least float32 (DreamerV3's image loss)."""
    if image_loss_kernel.usable(logits):  # the same maths in fewer passes (models/kernels/image_loss.py)
        return image_loss_kernel.sigmoid_squared_error(logits, target)
    s = torch.sigmoid(logits.to(torch.promote_types(logits.dtype, torch.float32)))
    return (s - target.to(s.dtype)).square().sum()
