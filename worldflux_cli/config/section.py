"""Section: the base of the run file's sections that are not model configs (training, env).

A section is declared like a model config (each field with ``spec(...)``, so type, default, range and
description live in one place), gets its JSON Schema the same way, and is checked the same way: by the one
check (``worldflux_cli.config.check``), once per construction, whichever way it is built (constructor,
``from_dict``, ``dataclasses.replace``; ``from_checked`` for values checked just before).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

from worldflux_cli.config.checked import CheckedOnce
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.names import SCHEMA_KEY

S = TypeVar("S", bound="Section")


@dataclasses.dataclass
class Section(CheckedOnce):
    """A checked part of a run file; subclasses declare their fields with ``spec``."""

    #: Name of the section (its schema file is ``<family>.schema.json``; rules are picked by it).
    family: ClassVar[str] = "section"
    #: Name for messages ("invalid training config").
    family_title: ClassVar[str] = "section"
    #: Keys a section object must have.
    required_keys: ClassVar[tuple[str, ...]] = ()

    check_hint: ClassVar[str] = "run `worldflux validate FILE` on the run file for each problem's line and hint"

    def __post_init__(self) -> None:
        self._check_on_construction(self.to_dict())

    @classmethod
    def derived_values(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Sections have no derived fields."""
        return {}

    @classmethod
    def from_dict(cls: type[S], d: dict[str, Any]) -> S:
        """Create the section from a JSON-shaped dict, checking it once.

        Missing fields take their defaults; a ``"$schema"`` key is ignored.

        Raises:
            ConfigurationError: ``d`` is not a dict, or has unknown keys, wrong types, out-of-range
                values, or values the section's rules refuse; its ``problems`` list every one.
        """
        if not isinstance(d, dict):
            raise ConfigurationError(f"a {cls.family_title} config must be a JSON object, not {type(d).__name__}")
        values = {k: v for k, v in d.items() if k != SCHEMA_KEY}
        cls._raise_if_invalid(values)
        return cls.from_checked(values)

    def to_dict(self) -> dict[str, Any]:
        """Every field, in declaration order, as JSON values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def field_names(cls) -> list[str]:
        """The names of the section's fields, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]
