"""A new config from a size preset plus overrides (the library behind `worldflux new`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.names import SCHEMA_KEY, canonical_family, suggest
from worldflux_cli.config.presets import get_preset
from worldflux_cli.config.registry import FAMILIES
from worldflux_cli.config.rules import filled_values
from worldflux_cli.config.schema import build_schema, committed_schema_path


@dataclass
class NewConfig:
    family: str
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The file text: ``$schema`` first (editors autocomplete), then every field."""
        ref = committed_schema_path(self.family).resolve().as_uri()
        return json.dumps({SCHEMA_KEY: ref, **self.values}, indent=2) + "\n"


def parse_obs_shape(text: str) -> list[int]:
    """'3,64,64' or '3x64x64' or '[3, 64, 64]' -> [3, 64, 64]."""
    cleaned = text.strip().strip("[]()").replace("x", ",").replace("×", ",")
    try:
        dims = [int(part) for part in cleaned.split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError(f"--obs-shape {text!r} is not a list of integers (e.g. 3,64,64 or 39)") from None
    if not dims:
        raise ConfigurationError("--obs-shape is empty; e.g. 3,64,64 for images or 39 for vectors")
    return dims


def parse_set(cls: type[WorldModelConfig], assignment: str) -> tuple[tuple[str, ...], Any]:
    """'key=value' (or 'loss_scales.kl=0.5') -> (path, value typed by the family's schema)."""
    if "=" not in assignment:
        raise ConfigurationError(f"--set {assignment!r} has no '='; write --set key=value")
    key, _, raw = assignment.partition("=")
    path = tuple(key.strip().split("."))
    props = build_schema(cls)["properties"]
    if path[0] not in props or path[0].startswith("$"):
        close = suggest(path[0], [k for k in props if not k.startswith("$")])
        extra = f"; did you mean {close!r}?" if close else ""
        raise ConfigurationError(f"--set: {cls.family_title} configs have no field {path[0]!r}{extra}")
    schema = props[path[0]]
    for part in path[1:]:
        sub = schema.get("properties", {})
        if part not in sub:
            raise ConfigurationError(f"--set: {'.'.join(path[:-1])} has no key {part!r} (keys: {', '.join(sub)})")
        schema = sub[part]
    return path, _typed(raw.strip(), schema, key)


def _typed(raw: str, schema: dict[str, Any], key: str) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if kind == "array":
            return parse_obs_shape(raw) if not raw.startswith("[") else json.loads(raw)
        if kind == "object":
            return json.loads(raw)
    except (ValueError, ConfigurationError):
        raise ConfigurationError(f"--set {key}={raw!r}: expected a {kind}") from None
    return raw


def new_config(family: str, size: str, *, obs_shape: str | None = None, action_dim: int | None = None,
               action_type: str | None = None, sets: list[str] = ()) -> NewConfig:
    """Values of a preset with the given overrides; renamed when the preset's dims change."""
    family = canonical_family(family, allow_base=False)
    cls = FAMILIES[family]
    preset = get_preset(family, size)
    values = preset.config_values()
    overrides: dict[str, Any] = {}
    if obs_shape is not None:
        overrides["obs_shape"] = parse_obs_shape(obs_shape)
    if action_dim is not None:
        overrides["action_dim"] = action_dim
    if action_type is not None:
        overrides["action_type"] = action_type
    nested: list[tuple[tuple[str, ...], Any]] = []
    for item in sets:
        path, value = parse_set(cls, item)
        if len(path) == 1:
            overrides[path[0]] = value
        else:
            nested.append((path, value))
    values.update(overrides)
    filled = filled_values(values, cls)
    for path, value in nested:
        target = filled
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    out = NewConfig(family, filled)
    changed = preset.changed_fields(filled)
    if changed and "model_name" not in overrides:
        filled["model_name"] = preset.custom_name
        verb = "differs" if len(changed) == 1 else "differ"
        out.notes.append(f"renamed to {filled['model_name']!r}: {', '.join(changed)} {verb} from preset {preset.id}, "
                         f"so the preset's name would no longer be true")
    return out
