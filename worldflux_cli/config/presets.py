"""Size presets, read from presets/<family>.json (the single source of preset values)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from worldflux_cli.config.names import MODEL_FAMILIES, canonical_family, suggest
from worldflux_cli.errors import WorldfluxError
from worldflux_cli.paths import data_dir


class PresetNotFound(WorldfluxError, ValueError):
    """No preset of that name (exit code 2: nothing to read, as for a missing file)."""


@dataclass(frozen=True)
class Preset:
    """One size preset of one model family."""

    family: str
    name: str
    nominal_params: int | None
    reference: dict[str, Any]
    dims: dict[str, Any]
    knobs: dict[str, Any]
    note: str

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"

    @property
    def fixed(self) -> dict[str, Any]:
        """Every field value the preset's name promises (dims and calibrated knobs)."""
        return {**self.dims, **self.knobs}

    def changed_fields(self, values: dict[str, Any]) -> list[str]:
        """The fields this preset fixes whose value in ``values`` (a JSON-shaped dict) differs."""
        return sorted(k for k, want in self.fixed.items() if values.get(k) != want)

    @property
    def custom_name(self) -> str:
        """The name a config takes when its overrides change what the preset fixes."""
        return f"{self.name}-custom"

    def config_values(self) -> dict[str, Any]:
        """A config dict for this preset at its reference shapes."""
        return {"model_type": self.family, "model_name": self.name, **self.reference, **self.fixed}


@cache
def _load(family: str) -> dict[str, Preset]:
    raw = json.loads((data_dir("presets") / f"{family}.json").read_text(encoding="utf-8"))
    return {
        name: Preset(
            family=family,
            name=name,
            nominal_params=rec.get("nominal_params"),
            reference=dict(rec["reference"]),
            dims=dict(rec["dims"]),
            knobs=dict(rec.get("knobs", {})),
            note=rec.get("note", ""),
        )
        for name, rec in raw["presets"].items()
    }


def presets_of(family: str) -> dict[str, Preset]:
    """All presets of a model family ({} for a family without presets, e.g. 'base')."""
    family = canonical_family(family)
    return _load(family) if family in MODEL_FAMILIES else {}


def all_presets() -> list[Preset]:
    return [p for fam in MODEL_FAMILIES for p in presets_of(fam).values()]


def get_preset(family: str, name: str) -> Preset:
    """The preset ``name`` of ``family``; PresetNotFound (a ValueError, with a suggestion) when unknown."""
    table = presets_of(family)
    if name in table:
        return table[name]
    close = suggest(name, list(table))
    extra = f"; did you mean {close!r}?" if close else ""
    known = ", ".join(table) or "none"
    raise PresetNotFound(f"unknown size preset {name!r} for {canonical_family(family)}{extra} (known: {known})",
                         "list the presets with `worldflux presets`")


def parse_preset_id(text: str) -> Preset | None:
    """``family:name`` (aliases accepted) -> Preset; None when ``text`` has no colon.

    Raises ValueError / ConfigurationError when the family or preset is unknown.
    """
    if ":" not in text or text.startswith(("hf://", "./", "/")):
        return None
    family, _, name = text.partition(":")
    return get_preset(family, name)
