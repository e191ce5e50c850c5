"""Enumerations used by the config classes (plain str enums, JSON friendly)."""

from __future__ import annotations

from enum import Enum


class LatentType(str, Enum):
    """How a world model represents its latent state (the ``latent_type`` field).

    A ``str`` enum: each member equals its value, which is what a config file holds
    (``LatentType.CATEGORICAL == "categorical"``).

    Examples:
        ```python
        from worldflux_cli import DreamerV3Config, LatentType

        assert DreamerV3Config().latent_type is LatentType.CATEGORICAL
        assert LatentType("simnorm") is LatentType.SIMNORM
        ```
    """

    DETERMINISTIC = "deterministic"
    """A plain vector with no distribution (the base config's default)."""
    GAUSSIAN = "gaussian"
    """A diagonal Gaussian. A base config may name it; neither DreamerV3 nor TD-MPC2 uses it."""
    CATEGORICAL = "categorical"
    """Categorical variables (DreamerV3: ``stoch_discrete`` variables of ``stoch_classes`` classes)."""
    SIMNORM = "simnorm"
    """A vector normalised by a softmax over groups of ``simnorm_dim`` values (TD-MPC2)."""

    def __str__(self) -> str:
        return self.value


class DynamicsType(str, Enum):
    """The architecture that predicts the next latent state (the ``dynamics_type`` field).

    A ``str`` enum: each member equals its value, which is what a config file holds.
    """

    MLP = "mlp"
    """A feed-forward network from (latent, action) to the next latent (TD-MPC2)."""
    RSSM = "rssm"
    """A recurrent state-space model: a GRU state plus a sampled stochastic state (DreamerV3)."""

    def __str__(self) -> str:
        return self.value
