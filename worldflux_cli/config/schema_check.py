"""JSON Schema validation of a config dict: every error, as Problems with hints."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

import jsonschema
from jsonschema import Draft202012Validator

from worldflux_cli.config.names import suggest
from worldflux_cli.config.problems import Problem, error
from worldflux_cli.config.schema import build_schema

if TYPE_CHECKING:  # pragma: no cover
    from worldflux_cli.config.base import WorldModelConfig

# JSON integers are ints, not 64.0: a float where a size is expected is a mistake.
_TYPES = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool)
)
_Validator = jsonschema.validators.extend(Draft202012Validator, type_checker=_TYPES)

#: Unknown keys of one object that get a "did you mean" search; the rest get the list of known keys.
MAX_SUGGESTIONS = 100
#: Unknown keys of one object reported one by one; one more problem counts the rest.
MAX_UNKNOWN_LISTED = 1000


@cache
def validator_for(cls: type[WorldModelConfig]) -> Draft202012Validator:
    return _Validator(build_schema(cls))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def schema_problems(values: dict[str, Any], cls: type[WorldModelConfig]) -> list[Problem]:
    """All JSON Schema violations of ``values`` against the schema of ``cls``."""
    validator = validator_for(cls)
    props = validator.schema["properties"]
    unknown = [key for key in values if key not in props]  # reported here: the validator sees known keys only
    out = _unknown_keys(unknown, list(props), (), cls) if unknown else []
    checked = _trimmed({k: v for k, v in values.items() if k in props} if unknown else values, props)
    for err in sorted(validator.iter_errors(checked), key=lambda e: list(map(str, e.absolute_path))):
        out.extend(_convert(err, cls, values))
    return out


def _trimmed(values: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each list longer than its field's maxItems cut to maxItems + 1 items: the length is
    reported once (with the real count) instead of one problem per extra item, and a list of a million
    items costs no more than a short one."""
    out = values
    for key, field in props.items():
        value, limit = values.get(key), field.get("maxItems") if isinstance(field, dict) else None
        if isinstance(value, list) and limit is not None and len(value) > limit + 1:
            out = dict(out) if out is values else out
            out[key] = value[:limit + 1]
    return out


def _unknown_keys(unknown: list[str], allowed: list[str], where: tuple, cls: type[WorldModelConfig]) -> list[Problem]:
    """WF101 for each key of ``unknown`` (in the file's order) of the object at ``where``: the first
    MAX_UNKNOWN_LISTED one by one (the first MAX_SUGGESTIONS with a close-match search), then one problem
    that counts the rest, so 100,000 keys cost little more than 1,000."""
    name = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(where))
    listing = f"remove it; {cls.family_title} configs take: " + ", ".join(
        k for k in allowed if not k.startswith("$"))[:300]
    problems = []
    if len(unknown) > MAX_UNKNOWN_LISTED:
        rest = len(unknown) - MAX_UNKNOWN_LISTED
        problems.append(error("WF101", f"{rest:,} more unknown keys" + (f" in {name}" if where else "")
                              + f" ({len(unknown):,} in all; the first {MAX_UNKNOWN_LISTED:,} are listed)",
                              listing, where))
        unknown = unknown[:MAX_UNKNOWN_LISTED]
    for index, key in enumerate(unknown):
        # a close-match search costs ~0.4 ms: only the first keys get one
        hint_word = suggest(key, allowed) if index < MAX_SUGGESTIONS and len(key) <= 64 else None
        hint = f"did you mean {hint_word!r}?" if hint_word else listing
        message = f"unknown key {key!r}" + (f" in {name}" if where else "")
        problems.append(error("WF101", message, hint, where + (key,), key=True))
    return problems


def _range_text(schema: dict[str, Any]) -> str:
    parts = []
    if "minimum" in schema:
        parts.append(f">= {schema['minimum']}")
    if "exclusiveMinimum" in schema:
        parts.append(f"> {schema['exclusiveMinimum']}")
    if "maximum" in schema:
        parts.append(f"<= {schema['maximum']}")
    if "exclusiveMaximum" in schema:
        parts.append(f"< {schema['exclusiveMaximum']}")
    return " and ".join(parts)


def _convert(err: jsonschema.ValidationError, cls: type[WorldModelConfig], original: dict[str, Any]) -> list[Problem]:
    where = tuple(err.absolute_path)
    name = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(where)) or "config"
    kind, schema, value = err.validator, err.schema, err.instance
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        known = set(allowed)
        return _unknown_keys([key for key in value if key not in known], allowed, where, cls)
    if kind == "type":
        expected = schema["type"]
        hint = f"write a JSON {expected}"
        if expected in ("integer", "number") and isinstance(value, str):
            hint += " without quotes"
        elif expected == "integer" and isinstance(value, float):
            hint = f"write {int(value)} (a whole number)" if value.is_integer() else "use a whole number"
        elif expected == "array":
            hint = "write a list, e.g. [3, 64, 64]"
        return [error("WF102", f"{name} must be {'an' if expected[0] in 'aeiou' else 'a'} {expected}, "
                               f"not {_show(value)}", hint, where)]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [error("WF103", f"{name} is {_show(value)}, must be {_range_text(schema)}",
                      f"use a value {_range_text(schema)}", where)]
    if kind in ("enum", "const"):
        choices = schema.get("enum", [schema.get("const")])
        close = suggest(str(value), [str(c) for c in choices]) if isinstance(value, str) else None
        hint = f"did you mean {close!r}?" if close else "use one of: " + ", ".join(map(_show, choices))
        return [error("WF104", f"{name} is {_show(value)}, must be one of: {', '.join(map(_show, choices))}",
                      hint, where)]
    if kind == "required":
        missing = [k for k in schema.get("required", []) if k not in value]
        return [error("WF105", f"required key {k!r} is missing from {name}", f"add \"{k}\"", where)
                for k in missing]
    if kind in ("minItems", "maxItems"):
        lo, hi = schema.get("minItems"), schema.get("maxItems")
        span = f"{lo} to {hi}" if lo is not None and hi is not None else (f"at least {lo}" if lo else f"at most {hi}")
        count = len(original[where[0]]) if len(where) == 1 and isinstance(original.get(where[0]), list) else len(value)
        return [error("WF106", f"{name} has {count:,} items, must have {span}",
                      "e.g. [3, 64, 64] for an image or [39] for a vector" if where == ("obs_shape",) else "",
                      where)]
    if kind == "pattern":
        return [error("WF107", f"{name} is {_show(value)}, which does not match {schema['pattern']}",
                      schema.get("description", ""), where)]
    return [error("WF199", f"{name}: {err.message}", "", where)]
