"""Parameter counts computed from a config, without torch (the one source of counts).

Tests assert these equal ``sum(p.numel())`` of the built PyTorch model exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from worldflux_cli.config import WorldModelConfig


@dataclass(frozen=True)
class ParamCounts:
    """Trainable parameters per component, and frozen (EMA) copies apart."""

    components: dict[str, int]
    frozen: dict[str, int]

    @property
    def trainable(self) -> int:
        return sum(self.components.values())

    @property
    def frozen_total(self) -> int:
        return sum(self.frozen.values())

    @property
    def total(self) -> int:
        return self.trainable + self.frozen_total


def count_params(config: WorldModelConfig) -> ParamCounts:
    """Per-component parameter counts of the model ``config`` builds."""
    if config.family == "dreamer":
        from worldflux_cli.params.dreamer import count
    elif config.family == "tdmpc2":
        from worldflux_cli.params.tdmpc2 import count
    else:
        raise ValueError(f"no model for model_type {config.model_type!r}")
    components, frozen = count(config)
    return ParamCounts(dict(components), dict(frozen))


def human_count(n: int) -> str:
    """12_345_678 -> '12.35M'."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)
