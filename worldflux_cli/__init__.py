"""worldflux: configs, checks, models and benchmarks for latent world models.

The config API is torch-free and importable here; the PyTorch models live in
``worldflux_cli.models`` and are imported only when needed.
"""

from worldflux_cli.config import (
    ConfigurationError,
    DreamerV3Config,
    DynamicsType,
    LatentType,
    TDMPC2Config,
    WorldModelConfig,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "DreamerV3Config",
    "DynamicsType",
    "LatentType",
    "TDMPC2Config",
    "WorldModelConfig",
    "__version__",
]
