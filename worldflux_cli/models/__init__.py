"""PyTorch models (imports torch). ``build_model(config)`` builds the model a config describes."""

from __future__ import annotations

from typing import Any

import torch

from worldflux_cli.config import WorldModelConfig


def build_model(config: WorldModelConfig, device: Any = "cpu", dtype: torch.dtype | str | None = None):
    """Build the PyTorch model of ``config`` on ``device`` (``"meta"`` allocates nothing).

    ``dtype`` defaults to float32; strings such as ``"bfloat16"`` are accepted.
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    family = config.family
    if family == "dreamer":
        from worldflux_cli.models.dreamer import DreamerV3

        cls = DreamerV3
    elif family == "tdmpc2":
        from worldflux_cli.models.tdmpc2 import TDMPC2

        cls = TDMPC2
    else:
        raise ValueError(f"no model for model_type {config.model_type!r}; use 'dreamer' or 'tdmpc2'")
    with torch.device(device):
        model = cls(config)
    return model.to(dtype=dtype or torch.float32)


__all__ = ["build_model"]
