"""The explicit registry of config families (one dict, built here, nowhere else).

``WorldModelConfig.from_dict`` / ``load`` on the base class pick the subclass named by
``model_type`` from this dict: the registry hands it to the base class below (the base class
cannot import its own subclasses without an import circle). The package's ``__init__`` imports
this module, so the table is complete before any config class can be used.
"""

from __future__ import annotations

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.config.names import ALIASES, MODEL_FAMILIES, canonical_family, suggest
from worldflux_cli.config.tdmpc2 import TDMPC2Config

FAMILIES: dict[str, type[WorldModelConfig]] = {
    "dreamer": DreamerV3Config,
    "tdmpc2": TDMPC2Config,
    "base": WorldModelConfig,
}

WorldModelConfig.families = FAMILIES


def family_class(name: str) -> type[WorldModelConfig]:
    """The config class of a family (aliases accepted); ConfigurationError when unknown."""
    return FAMILIES[canonical_family(name)]


__all__ = ["ALIASES", "FAMILIES", "MODEL_FAMILIES", "canonical_family", "family_class", "suggest"]
