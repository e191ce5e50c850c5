"""Torch-free config API: WorldModelConfig, DreamerV3Config, TDMPC2Config, and the checks that decide validity.

Modules: ``fields`` (field declarations), ``base`` / ``dreamer`` / ``tdmpc2`` (the classes),
``names`` and ``registry`` (families), ``presets`` (presets/*.json), ``schema`` (JSON Schema
generation), ``check`` (the one validity check: ``schema_check`` + ``rules``, whose results are
``problems``), ``errors``.
"""

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.config.enums import DynamicsType, LatentType
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.registry import FAMILIES, family_class
from worldflux_cli.config.tdmpc2 import TDMPC2Config

__all__ = [
    "FAMILIES",
    "ConfigurationError",
    "DreamerV3Config",
    "DynamicsType",
    "LatentType",
    "TDMPC2Config",
    "WorldModelConfig",
    "family_class",
]
