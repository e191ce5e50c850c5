"""Errors raised by the config API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from worldflux_cli.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from worldflux_cli.config.problems import Problem


class ConfigurationError(InvalidInput, ValueError):
    """A configuration is invalid.

    Raised by the config classes' constructors, ``from_dict``, ``load`` and ``from_size``.
    Its ``problems`` hold every problem found, so a caller can report all of them at once
    instead of the first; ``str(error)`` is the message followed by one line per problem
    (``  $.latent_dim: ... [WF210]``). It is a ``ValueError`` and a
    ``worldflux_cli.errors.WorldfluxError``: the CLI prints it with its hint and exits
    with code 1.

    Args:
        message: One line saying what is wrong.
        problems: Every problem found; empty for an error that is not about one field
            (such as a file that is not a JSON object).
        hint: The next step for the user.

    Attributes:
        problems (list[Problem]): One ``worldflux_cli.config.problems.Problem`` per problem,
            each with ``code`` (a stable ``WF...`` code, see the problem-code table),
            ``severity``, ``message``, ``hint`` and ``path`` (a JSON path such as
            ``$.obs_shape[2]``).
        message (str): The one-line message.
        hint (str): The next step for the user ("" when there is none).
        details (list[str]): One line per problem, as ``str(error)`` prints them.
        exit_code (int): The CLI's exit code for this error: 1 (invalid input).

    Examples:
        ```python
        from worldflux_cli import ConfigurationError, TDMPC2Config

        try:
            TDMPC2Config(latent_dim=100, num_elites=1000)
        except ConfigurationError as error:
            codes = sorted(p.code for p in error.problems)
        assert codes == ["WF210", "WF211"]
        ```
    """

    def __init__(self, message: str, problems: list[Problem] | None = None, hint: str = ""):
        self.problems = list(problems or [])
        super().__init__(message, hint, details=[f"  {p.path}: {p.message} [{p.code}]" for p in self.problems])

    def __str__(self) -> str:
        return "\n".join([self.message, *self.details])
