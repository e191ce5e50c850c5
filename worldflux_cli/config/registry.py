"""The explicit registry of config families (one dict, built here, nowhere else).

``WorldModelConfig.from_dict`` / ``load`` on the base class pick the subclass named by
``model_type`` from this dict: the registry hands it to the base class below (the base class
cannot import its own subclasses without an import circle). The package's ``__init__`` imports
this module, so the table is complete before any config class can be used.
"""

from __future__ import annotations

from typing import Any

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.config.names import ALIASES, MODEL_FAMILIES, canonical_family, suggest
from worldflux_cli.config.problems import Problem, error
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


#: Keys that only one family has, to guess the family of a config without model_type.
TELLTALE = {"stoch_discrete": "dreamer", "gru_blocks": "dreamer", "simnorm_dim": "tdmpc2", "num_q_networks": "tdmpc2"}


def family_of(value: dict[str, Any], where: tuple[Any, ...] = ()) -> tuple[type[WorldModelConfig] | None,
                                                                            list[Problem]]:
    """The class a config dict's ``model_type`` names, or None and the problem (WF010 missing, WF011 unknown).

    ``where`` is the path of the config in its document (``("model",)`` in a run file).
    """
    known = ", ".join(f"'{k}'" for k in FAMILIES)
    if "model_type" not in value:
        guess = next((fam for key, fam in TELLTALE.items() if key in value), None)
        hint = f'add "model_type": "{guess}" (its keys look like a {guess} config)' if guess else \
            f"add \"model_type\" with one of: {known}"
        return None, [error("WF010", "model_type is missing, so the config's family is unknown", hint, where)]
    kind = value["model_type"]
    if isinstance(kind, str) and kind in FAMILIES:
        return FAMILIES[kind], []
    close = ALIASES.get(kind.lower()) if isinstance(kind, str) else None
    close = close or (suggest(kind, list(FAMILIES)) if isinstance(kind, str) else None)
    hint = f"did you mean {close!r}?" if close else f"use one of: {known}"
    shown = repr(kind) if isinstance(kind, str) else f"{kind!r} (not a string)"
    return None, [error("WF011", f"unknown model_type {shown}", hint, where + ("model_type",))]


__all__ = ["ALIASES", "FAMILIES", "MODEL_FAMILIES", "canonical_family", "family_class", "family_of", "suggest"]
