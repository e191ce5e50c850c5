"""Family names, their aliases and close-match suggestions (no config classes imported here).

The config classes themselves are listed in ``registry.py``; the names live apart so that the
presets and the checks can use them without importing the classes they check.
"""

from __future__ import annotations

import difflib

from worldflux_cli.config.errors import ConfigurationError

#: A key every config file may carry so that editors find its JSON Schema.
SCHEMA_KEY = "$schema"

#: Every ``model_type``: the two model families and the config-only base.
FAMILY_NAMES = ("dreamer", "tdmpc2", "base")

#: Families that have models and presets (the base class is config-only).
MODEL_FAMILIES = ("dreamer", "tdmpc2")

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


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The closest choice to ``word``, or None."""
    match = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.5)
    return match[0] if match else None


def canonical_family(name: str, *, aliases: bool = True, allow_base: bool = True) -> str:
    """Canonical family name for ``name``; ConfigurationError with a suggestion otherwise."""
    key = name.strip().lower()
    if aliases:
        key = ALIASES.get(key, key)
    known = list(FAMILY_NAMES if allow_base else MODEL_FAMILIES)
    if key in known:
        return key
    choices = known + (list(ALIASES) if aliases else [])
    hint = suggest(key, choices)
    extra = f"; did you mean {ALIASES.get(hint, hint)!r}?" if hint else ""
    raise ConfigurationError(f"unknown model type {name!r}{extra} (known: {', '.join(known)})",
                             hint=f"use one of: {', '.join(known)}")
