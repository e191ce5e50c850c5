"""Symlog/symexp and two-hot encoding, shared by DreamerV3 and TD-MPC2 (imports torch).

``symlog(x) = sign(x) * log(1 + |x|)`` squashes large magnitudes; ``symexp`` is its inverse.
Two-hot codes represent a scalar as weights on its two nearest bins, so that the weighted
mean of the bins gives the scalar back: the targets of the reward and value heads, which are
trained with cross-entropy against these codes.

Bins live in the space the scalars are encoded in. The DreamerV3 and TD-MPC2 heads use bins
evenly spaced in symlog space (``symlog_bins``), i.e. symexp-spaced in the raw space::

    bins = symlog_bins(255, -20.0, 20.0)
    target = twohot_encode(symlog(reward), bins)            # (..., 255), rows sum to 1
    loss = -(target * logits.log_softmax(-1)).sum(-1)
    pred = symexp(twohot_decode(logits, bins, logits=True))  # (...)
"""

from __future__ import annotations

import torch
from torch import Tensor


def symlog(x: Tensor) -> Tensor:
    """sign(x) * log(1 + |x|)."""
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: Tensor) -> Tensor:
    """sign(x) * (exp(|x|) - 1), the inverse of symlog."""
    return torch.sign(x) * torch.expm1(x.abs())


def symlog_bins(num_bins: int, low: float = -20.0, high: float = 20.0, device=None) -> Tensor:
    """``num_bins`` float32 bin centres evenly spaced from ``low`` to ``high`` (symlog space).

    For low = -high the bins are made exactly antisymmetric (b[i] = -b[n-1-i]), so that a
    uniform distribution decodes to exactly zero.
    """
    bins = torch.linspace(low, high, num_bins, dtype=torch.float32, device=device)
    if low == -high:
        bins = (bins - bins.flip(0)) / 2
    return bins


def twohot_encode(x: Tensor, bins: Tensor) -> Tensor:
    """Two-hot code (..., len(bins)) of ``x`` (...) against sorted ``bins``, in float32.

    A value between bins b[i] <= x <= b[i+1] puts weight (b[i+1] - x) / (b[i+1] - b[i]) on
    bin i and the rest on bin i+1; values outside the range go wholly to the nearest end
    bin. Each row sums to 1 and ``(code * bins).sum(-1)`` gives x back (clamped to the range).
    """
    bins = bins.to(device=x.device, dtype=torch.float32)
    n = bins.shape[0]
    x = x.detach().float().clamp(bins[0], bins[-1])
    below = (torch.searchsorted(bins, x.contiguous(), right=True) - 1).clamp(0, n - 2)
    lo, hi = bins[below], bins[below + 1]
    w_hi = ((x - lo) / (hi - lo)).clamp(0.0, 1.0).unsqueeze(-1)
    below = below.unsqueeze(-1)
    code = torch.zeros(*x.shape, n, device=x.device, dtype=torch.float32)
    return code.scatter_(-1, below, 1.0 - w_hi).scatter_(-1, below + 1, w_hi)


def twohot_decode(x: Tensor, bins: Tensor, *, logits: bool = False) -> Tensor:
    """The expected bin value ``sum(p * bins)`` over the last axis, in float32.

    ``x`` holds probabilities (rows summing to 1), or logits when ``logits=True`` (softmax
    is applied first). The sum pairs bin i with bin n-1-i before adding, so that symmetric
    bins with a uniform distribution (zero-initialised heads) decode to exactly 0.
    """
    p = torch.softmax(x.float(), -1) if logits else x.float()
    pb = p * bins.to(device=x.device, dtype=torch.float32)
    n = pb.shape[-1]
    m = n // 2
    paired = pb[..., :m].flip(-1) + pb[..., n - m:]
    out = paired.sum(-1)
    if n % 2:
        out = out + pb[..., m]
    return out


__all__ = ["symexp", "symlog", "symlog_bins", "twohot_decode", "twohot_encode"]
