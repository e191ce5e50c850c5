"""Enumerations used by the config classes (plain str enums, JSON friendly)."""

from __future__ import annotations

from enum import Enum


class LatentType(str, Enum):
    """How a world model represents its latent state."""

    DETERMINISTIC = "deterministic"
    GAUSSIAN = "gaussian"
    CATEGORICAL = "categorical"
    SIMNORM = "simnorm"

    def __str__(self) -> str:
        return self.value


class DynamicsType(str, Enum):
    """The architecture that predicts the next latent state."""

    MLP = "mlp"
    RSSM = "rssm"

    def __str__(self) -> str:
        return self.value
