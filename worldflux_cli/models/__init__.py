"""PyTorch models (imports torch). ``build_model(config)`` builds the model a config describes."""

from __future__ import annotations

from typing import Any

import torch

from worldflux_cli.config import WorldModelConfig
from worldflux_cli.errors import WorldfluxError
from worldflux_cli.models.device import resolve_device, resolve_dtype


def build_model(config: WorldModelConfig, device: Any = None, dtype: torch.dtype | str | None = None):
    """Build the PyTorch model of ``config``.

    Args:
        config: A DreamerV3Config or TDMPC2Config.
        device: Where to build it: a torch.device or 'cpu', 'cuda', 'cuda:N', 'auto' (CUDA when available)
            or 'meta' (allocates nothing). Default: the config's ``device``.
        dtype: Parameter dtype (a torch.dtype or 'float32', 'bfloat16', 'float16'). Default: the config's
            ``dtype``.

    Returns:
        torch.nn.Module: The model with freshly initialised weights: a ``DreamerV3``
            (worldflux_cli.models.dreamer) or a ``TDMPC2`` (worldflux_cli.models.tdmpc2).

    Raises:
        WorldfluxError: The device is not available, or the config's family has no model ('base').

    Examples:
        Build on the meta device to inspect a large model without allocating its weights:

        ```python
        from worldflux_cli import DreamerV3Config
        from worldflux_cli.models import build_model

        model = build_model(DreamerV3Config.from_size("size200m"), device="meta")
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"{trainable:,} trainable parameters")
        ```
    """
    family = config.family
    if family == "dreamer":
        from worldflux_cli.models.dreamer import DreamerV3

        cls = DreamerV3
    elif family == "tdmpc2":
        from worldflux_cli.models.tdmpc2 import TDMPC2

        cls = TDMPC2
    else:
        raise WorldfluxError(f"no model for model_type {config.model_type!r}", "use 'dreamer' or 'tdmpc2'")
    where = resolve_device(config.device if device is None else device)
    with torch.device(where):
        model = cls(config)
    return model.to(dtype=resolve_dtype(config.dtype if dtype is None else dtype))


__all__ = ["build_model", "resolve_device", "resolve_dtype"]
