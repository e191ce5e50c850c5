"""The one error type of worldflux, and the exit codes every command shares.

Every failure a user can act on is a :class:`WorldfluxError` (or a subclass): a one-line
``message``, a ``hint`` that names the next step, optional ``details`` (lines printed above the
message, e.g. a validation report) and the ``exit_code`` the command ends with. The CLI prints
them the same way for every command (``worldflux_cli.cli.errors.guarded``); anything else that
escapes a command is a bug (exit code 3).

Imports nothing: the torch-free config API and every layer above it can use it.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Exit codes, the same for every command.
EXIT_OK = 0  #: success (valid, equal, done)
EXIT_INVALID = 1  #: invalid or refused by a check (or, for `diff`, different)
EXIT_FAILED = 2  #: could not run: bad usage, missing file, device or Hub not reachable
EXIT_INTERNAL = 3  #: a bug in worldflux


class WorldfluxError(Exception):
    """A failure the user can act on: ``message`` (one line), ``hint``, ``details``, ``exit_code``.

    The base of every error worldflux raises on purpose. The CLI prints it as ``error: MESSAGE``,
    then the details and ``hint: HINT``, and exits with ``exit_code``; no traceback (set
    ``WORLDFLUX_DEBUG=1`` to see one).

    Args:
        message: One line saying what went wrong.
        hint: The next step for the user ("" when there is none).
        details: Lines printed above the message (e.g. a validation report).
        exit_code: Overrides the class's exit code.

    Attributes:
        message (str): The one-line message.
        hint (str): The next step.
        details (list[str]): The lines printed above the message.
        exit_code (int): The exit code of the command that fails with this error: 2 (could
            not run) unless a subclass or the constructor says otherwise.
    """

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, hint: str = "", *, details: Sequence[str] = (), exit_code: int | None = None):
        super().__init__(message)
        self.message, self.hint, self.details = message, hint, list(details)
        if exit_code is not None:
            self.exit_code = exit_code


class InvalidInput(WorldfluxError):
    """The input was read but fails a check (an invalid config, weights that do not fit it): exit code 1."""

    exit_code = EXIT_INVALID
