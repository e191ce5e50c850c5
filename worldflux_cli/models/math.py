"""Symlog/symexp and two-hot encoding, shared by DreamerV3 and TD-MPC2 (imports torch).

``symlog(x) = sign(x) * log(1 + |x|)`` squashes large magnitudes; ``symexp`` is its inverse.
Two-hot codes represent a scalar as weights on its two nearest bins, so that the weighted
mean of the bins gives the scalar back: the targets of the reward and value heads, which are
trained with cross-entropy against these codes.

Bins live in the space the scalars are encoded in. TD-MPC2 and the 2023 DreamerV3 paper encode
symlog(x) against bins evenly spaced in symlog space (``symlog_bins``)::

    bins = symlog_bins(255, -20.0, 20.0)
    target = twohot_encode(symlog(reward), bins)            # (..., 255), rows sum to 1
    loss = -(target * logits.log_softmax(-1)).sum(-1)
    pred = symexp(twohot_decode(logits, bins, logits=True))  # (...)

The current official DreamerV3 encodes the raw x against the symexp of such bins (``symexp_bins``), so
its prediction is the mean of raw bin values, not the symexp of a mean in symlog space::

    bins = symexp_bins(255)
    target = twohot_encode(reward, bins)
    pred = twohot_decode(logits, bins, logits=True)
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


def symexp_bins(num_bins: int, low: float = -20.0, device=None) -> Tensor:
    """``num_bins`` float32 bins in raw space, the official DreamerV3 ``symexp_twohot`` bins.

    The lower half is symexp(linspace(low, 0, ...)), the upper half its negation mirrored, so the bins are
    exactly antisymmetric: an odd count has one bin at 0 (symexp of (n - 1) / 2 + 1 points, the upper half
    without its 0), an even count has two (n / 2 points each side).
    """
    count = (num_bins - 1) // 2 + 1 if num_bins % 2 else num_bins // 2
    half = symexp(torch.linspace(low, 0.0, count, dtype=torch.float32, device=device))
    upper = -half[:-1].flip(0) if num_bins % 2 else -half.flip(0)
    return torch.cat([half, upper])


def twohot_encode(x: Tensor, bins: Tensor) -> Tensor:
    """Two-hot code (..., len(bins)) of ``x`` (...) against sorted ``bins``, in float32 (float64 for float64 x).

    A value between bins b[i] <= x <= b[i+1] puts weight (b[i+1] - x) / (b[i+1] - b[i]) on
    bin i and the rest on bin i+1; values outside the range go wholly to the nearest end
    bin. Each row sums to 1 and ``(code * bins).sum(-1)`` gives x back (clamped to the range).
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    bins = bins.to(device=x.device, dtype=dtype)
    n = bins.shape[0]
    x = x.detach().to(dtype).clamp(bins[0], bins[-1])
    below = (torch.searchsorted(bins, x.contiguous(), right=True) - 1).clamp(0, n - 2)
    lo, hi = bins[below], bins[below + 1]
    w_hi = ((x - lo) / (hi - lo)).clamp(0.0, 1.0).unsqueeze(-1)
    below = below.unsqueeze(-1)
    code = torch.zeros(*x.shape, n, device=x.device, dtype=dtype)
    return code.scatter_(-1, below, 1.0 - w_hi).scatter_(-1, below + 1, w_hi)


def twohot_decode(x: Tensor, bins: Tensor, *, logits: bool = False) -> Tensor:
    """The expected bin value ``sum(p * bins)`` over the last axis, in float32 (float64 for float64 x).

    ``x`` holds probabilities (rows summing to 1), or logits when ``logits=True`` (softmax
    is applied first). The sum pairs bin i with bin n-1-i before adding, so that symmetric
    bins with a uniform distribution (zero-initialised heads) decode to exactly 0.
    """
    dtype = torch.promote_types(x.dtype, torch.float32)
    p = torch.softmax(x.to(dtype), -1) if logits else x.to(dtype)
    pb = p * bins.to(device=x.device, dtype=dtype)
    n = pb.shape[-1]
    m = n // 2
    paired = pb[..., :m].flip(-1) + pb[..., n - m:]
    out = paired.sum(-1)
    if n % 2:
        out = out + pb[..., m]
    return out


__all__ = ["symexp", "symexp_bins", "symlog", "symlog_bins", "twohot_decode", "twohot_encode"]
