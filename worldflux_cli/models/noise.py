"""Seeded Gaussian noise on any device, shared by the TD-MPC2 model and its MPPI planner (imports torch)."""

from __future__ import annotations

import torch
from torch import Tensor


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device | str
          ) -> Tensor:
    """Standard normal float32 noise on ``device``, drawn from ``generator`` (on its own device) if given."""
    if generator is None:
        return torch.randn(shape, device=device)
    return torch.randn(shape, generator=generator, device=generator.device).to(device)
