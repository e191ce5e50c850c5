"""JSON Schema (Draft 2020-12) generated from the config classes.

The files in schemas/ are this module's output, committed so editors and other tools can
use them; tests fail when the classes and the files drift (``worldflux schema --write``
rewrites them).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import cache
from typing import TYPE_CHECKING, Any

from worldflux_cli.config.enums import DynamicsType, LatentType
from worldflux_cli.config.fields import field_default
from worldflux_cli.config.names import SCHEMA_KEY
from worldflux_cli.paths import data_dir

if TYPE_CHECKING:  # pragma: no cover
    from worldflux_cli.config.base import WorldModelConfig

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean",
            LatentType: "string", DynamicsType: "string"}


def schema_filename(family: str) -> str:
    return f"{family}.schema.json"


def _json_type(tp: Any) -> dict[str, Any]:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _json_type(args[0])
    if origin is tuple:
        return {"type": "array", "items": _json_type(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _json_type(args[1])}
    return {"type": _SCALARS[tp]}


def _default(value: Any) -> Any:
    if isinstance(value, (LatentType, DynamicsType)):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def field_schema(cls: type[WorldModelConfig], f: dataclasses.Field) -> dict[str, Any]:
    meta = f.metadata
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {"description": meta["description"], **_json_type(hints[f.name])}
    default = field_default(f)
    if meta["derived"]:
        out["description"] += " Written by the tool; when given it must agree."
    elif meta["const"]:
        out["const"] = _default(default)
    else:
        out["default"] = _default(default)
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern", "minItems", "maxItems"):
        if meta[key] is not None:
            out[key] = meta[key]
    if meta["enum"] is not None and not meta["const"]:
        out["enum"] = list(meta["enum"])
    if meta["item_minimum"] is not None:
        out["items"]["minimum"] = meta["item_minimum"]
    if meta["item_maximum"] is not None:
        out["items"]["maximum"] = meta["item_maximum"]
    if meta["keys"] is not None:
        value_schema = out.pop("additionalProperties")
        out["properties"] = {k: dict(value_schema, minimum=0) for k in meta["keys"]}
        out["additionalProperties"] = False
    return out


@cache
def nullable_fields(cls: type) -> frozenset[str]:
    """The fields of ``cls`` that take JSON null: typed ``X | None``, default None, not derived.

    Null there means "take the value from elsewhere" (a training config's null learning rate is the
    model's own), so it is a value, not a missing one. The check (``worldflux_cli.config.check``) lets a
    null through for these fields before the schema sees the values; the schema written for editors
    (``render_schema``) allows it in the field's type.
    """
    hints = typing.get_type_hints(cls)
    out = set()
    for f in dataclasses.fields(cls):
        optional = type(None) in typing.get_args(hints[f.name])
        if optional and f.default is None and not f.metadata.get("derived"):
            out.add(f.name)
    return frozenset(out)


def build_schema(cls: type[WorldModelConfig], *, allow_null: bool = False) -> dict[str, Any]:
    """The JSON Schema of one config family (or of one section of a run file, such as training).

    ``allow_null`` adds ``"null"`` to the type of the nullable fields (``nullable_fields``): the form
    written to schemas/ for editors. The check runs without it, after letting those nulls through, so that
    a wrong value in such a field gets the plain type's message.
    """
    props: dict[str, Any] = {
        SCHEMA_KEY: {"type": "string", "description": "JSON Schema of this file, for editors."}
    }
    nullable = nullable_fields(cls) if allow_null else frozenset()
    for f in dataclasses.fields(cls):
        props[f.name] = field_schema(cls, f)
        if f.name in nullable:
            props[f.name]["type"] = [props[f.name]["type"], "null"]
    return {
        "$schema": DRAFT,
        "$id": f"urn:worldflux:schema:{cls.family}",
        "title": f"worldflux {cls.family_title} config",
        "description": (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " "),
        "type": "object",
        "required": list(getattr(cls, "required_keys", ("model_type",))),
        "properties": props,
        "additionalProperties": False,
    }


def render_schema(cls: type[WorldModelConfig]) -> str:
    """The schema file's text (the form for editors: nullable fields allow null)."""
    return json.dumps(build_schema(cls, allow_null=True), indent=2) + "\n"


def committed_schema_path(family: str):
    return data_dir("schemas") / schema_filename(family)
