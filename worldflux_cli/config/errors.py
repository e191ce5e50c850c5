"""Errors raised by the config API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from worldflux_cli.validation.problems import Problem


class ConfigurationError(ValueError):
    """A configuration is invalid.

    ``problems`` holds every problem found (each with a code, a JSON path, a message and
    a hint), so callers can report all of them at once instead of the first.
    """

    def __init__(self, message: str, problems: list[Problem] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            lines = [message] + [f"  {p.path}: {p.message} [{p.code}]" for p in self.problems]
            message = "\n".join(lines)
        super().__init__(message)
