"""Where DreamerV3 draws its random numbers (imports torch): one function per kind of draw.

The RSSM's latent samples, the posterior rollout kernel and the actor all draw through these two
functions, looked up on this module at call time, so a parity run (benchmarks/parity/) can replace them
with a reproducible stream shared with the official code, and nothing else draws.
"""

from __future__ import annotations

import torch
from torch import Tensor


def categorical(probs: Tensor) -> Tensor:
    """One class index per row of ``probs`` (N, K): a LongTensor (N,) drawn with torch.multinomial."""
    return torch.multinomial(probs, 1).squeeze(-1)


def normal_like(x: Tensor) -> Tensor:
    """Standard normal noise of ``x``'s shape, dtype and device."""
    return torch.randn_like(x)


def one_hot_sample(probs: Tensor) -> Tensor:
    """A one-hot sample (..., K) of the categorical ``probs`` (..., K), in probs' dtype."""
    idx = categorical(probs.reshape(-1, probs.shape[-1]))
    return torch.zeros_like(probs).scatter_(-1, idx.view(*probs.shape[:-1], 1), 1.0)


__all__ = ["categorical", "normal_like", "one_hot_sample"]
