"""Errors raised by the config API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worldflux_cli.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from worldflux_cli.config.problems import Problem


class ConfigurationError(InvalidInput, ValueError):
    """A configuration is invalid.

    ``problems`` holds every problem found (each with a code, a JSON path, a message and
    a hint), so callers can report all of them at once instead of the first. ``str(error)``
    is the message followed by one line per problem. It is a ``ValueError`` and a
    :class:`worldflux_cli.errors.WorldfluxError` (exit code 1 in the CLI).
    """

    def __init__(self, message: str, problems: list[Problem] | None = None, hint: str = ""):
        self.problems = list(problems or [])
        super().__init__(message, hint, details=[f"  {p.path}: {p.message} [{p.code}]" for p in self.problems])

    def __str__(self) -> str:
        return "\n".join([self.message, *self.details])
