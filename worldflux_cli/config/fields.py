"""Field declarations that carry their JSON Schema facts.

Every config attribute is declared with :func:`spec`, so its type, default, range,
allowed values and description live in one place: the config class. The schema in
schemas/ is generated from these declarations (see ``worldflux_cli.config.schema``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: The largest size of one observation dimension (C, H, W or D).
MAX_OBS_DIM = 1 << 16


def spec(
    default: Any,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
    enum: tuple[Any, ...] | None = None,
    pattern: str | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    item_minimum: int | None = None,
    item_maximum: int | None = None,
    keys: tuple[str, ...] | None = None,
    derived: str | None = None,
    const: bool = False,
    architecture: bool = False,
) -> Any:
    """Declare a dataclass field together with its schema constraints.

    ``derived`` names the rule that computes the field from others (it is written by
    ``to_dict`` and must agree when read back). ``const`` pins the field to its default
    for a family (e.g. ``dynamics_type`` of DreamerV3). ``architecture`` marks fields
    that change the model's shapes: a size preset fixes them.
    """
    meta = {
        "description": description,
        "minimum": minimum,
        "maximum": maximum,
        "exclusiveMinimum": exclusive_minimum,
        "exclusiveMaximum": exclusive_maximum,
        "enum": enum,
        "pattern": pattern,
        "minItems": min_items,
        "maxItems": max_items,
        "item_minimum": item_minimum,
        "item_maximum": item_maximum,
        "keys": keys,
        "derived": derived,
        "const": const,
        "architecture": architecture,
    }
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_default(f: dataclasses.Field) -> Any:
    """The default value of a declared field (calling its factory when it has one)."""
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


def resolve_coders(obs_shape: Any, encoder_type: Any, decoder_type: Any) -> tuple[str, str]:
    """(encoder, decoder), each 'cnn' or 'mlp': 'auto' (or an unknown value) picks the encoder by the
    observation's rank (3: image) and the decoder to match the encoder."""
    encoder = encoder_type if encoder_type in ("cnn", "mlp") else ("cnn" if len(obs_shape) == 3 else "mlp")
    return encoder, decoder_type if decoder_type in ("cnn", "mlp") else encoder
