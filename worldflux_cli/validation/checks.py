"""Check a config dict: JSON Schema first, then the semantic rules."""

from __future__ import annotations

from typing import Any

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.validation.problems import Problem
from worldflux_cli.validation.rules import rule_problems
from worldflux_cli.validation.schema_check import schema_problems


def check_values(values: dict[str, Any], cls: type[WorldModelConfig]) -> list[Problem]:
    """Every problem of ``values`` as a config of ``cls`` (no positions yet)."""
    return schema_problems(values, cls) + rule_problems(values, cls)
