"""The explicit registry of config families (one dict, built here, nowhere else)."""

from __future__ import annotations

import difflib

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.tdmpc2 import TDMPC2Config

FAMILIES: dict[str, type[WorldModelConfig]] = {
    "dreamer": DreamerV3Config,
    "tdmpc2": TDMPC2Config,
    "base": WorldModelConfig,
}

#: Other spellings users type for a family (accepted by `new`, `schema`, preset ids).
ALIASES: dict[str, str] = {
    "dreamerv3": "dreamer",
    "dreamer-v3": "dreamer",
    "dreamer_v3": "dreamer",
    "tdmpc": "tdmpc2",
    "td-mpc2": "tdmpc2",
    "td_mpc2": "tdmpc2",
    "tdmpc-2": "tdmpc2",
}

#: Families that have models and presets (the base class is config-only).
MODEL_FAMILIES = ("dreamer", "tdmpc2")


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest choice to ``word``, or None."""
    match = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


def canonical_family(name: str, *, aliases: bool = True, allow_base: bool = True) -> str:
    """Canonical family name for ``name``; ConfigurationError with a suggestion otherwise."""
    key = name.strip().lower()
    if aliases:
        key = ALIASES.get(key, key)
    known = list(FAMILIES if allow_base else MODEL_FAMILIES)
    if key in known:
        return key
    choices = known + (list(ALIASES) if aliases else [])
    hint = suggest(key, choices)
    extra = f"; did you mean {ALIASES.get(hint, hint)!r}?" if hint else ""
    raise ConfigurationError(f"unknown model type {name!r}{extra} (known: {', '.join(known)})")


def family_class(name: str) -> type[WorldModelConfig]:
    """The config class of a family (aliases accepted)."""
    return FAMILIES[canonical_family(name)]
