"""Whether a config dict is valid: the JSON Schema first, then the rules a schema cannot say.

This is the one check every config goes through, once per construction, whichever way it is
built (constructor, ``from_dict``, ``from_size``, ``load``, ``worldflux validate``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from worldflux_cli.config.problems import Problem
from worldflux_cli.config.rules import rule_problems
from worldflux_cli.config.schema import nullable_fields
from worldflux_cli.config.schema_check import schema_problems

if TYPE_CHECKING:  # pragma: no cover
    from worldflux_cli.config.base import WorldModelConfig


def check_values(values: dict[str, Any], cls: type[WorldModelConfig]) -> list[Problem]:
    """Every problem of ``values`` (a JSON-shaped dict) as a config of ``cls``, without positions.

    A null in a nullable field (``schema.nullable_fields``: "take it from elsewhere") is a value, not a
    mistake: it passes the schema. The rules see a field the schema refused as absent (None): a wrong type
    or an out-of-range value is reported once, by the schema, and never reaches a rule's arithmetic or its
    hint.
    """
    nullable = nullable_fields(cls)
    schema = schema_problems({k: v for k, v in values.items() if not (v is None and k in nullable)}, cls)
    refused = {p.where[0] for p in schema if p.severity == "error" and p.where}
    fields = {f.name for f in dataclasses.fields(cls)}  # the rules read fields only, never unknown keys
    clean = {k: (None if k in refused else v) for k, v in values.items() if k in fields}
    return schema + rule_problems(clean, cls)


def errors_of(problems: list[Problem]) -> list[Problem]:
    """The problems that make a config invalid (warnings do not)."""
    return [p for p in problems if p.severity == "error"]
