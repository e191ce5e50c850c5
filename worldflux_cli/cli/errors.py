"""One place that turns failures into one clear line, a hint and an exit code.

Tracebacks appear only when WORLDFLUX_DEBUG=1 asks for them.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes shared by every command.
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class CliError(Exception):
    """A failure the user can act on: message, hint, exit code."""

    def __init__(self, message: str, hint: str = "", code: int = EXIT_USAGE):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code


def debug_enabled() -> bool:
    return os.environ.get("WORLDFLUX_DEBUG", "").lower() not in ("", "0", "false", "no")


def print_error(message: str, hint: str = "") -> None:
    print(f"worldflux: error: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)


def _translate(exc: BaseException) -> CliError | None:
    """Known library exceptions -> CliError; None for a real bug."""
    from worldflux_cli.config.errors import ConfigurationError

    if isinstance(exc, CliError):
        return exc
    hub_errors = sys.modules.get("worldflux_cli.hub.errors")  # loaded only by commands that use the Hub
    if hub_errors is not None:
        translated = hub_errors.translate(exc)  # Hub errors subclass OSError: ask before the OSError cases
        if translated is not None:
            return translated
    if isinstance(exc, ConfigurationError):
        return CliError(str(exc), "run `worldflux validate FILE` for every problem with its line", EXIT_INVALID)
    if isinstance(exc, FileNotFoundError):
        return CliError(f"no such file: {exc.filename}", "check the path", EXIT_USAGE)
    if isinstance(exc, IsADirectoryError):
        return CliError(f"{exc.filename} is a folder, not a file", "name a file", EXIT_USAGE)
    if isinstance(exc, PermissionError):
        return CliError(f"permission denied: {exc.filename}", "check the file's permissions", EXIT_USAGE)
    if isinstance(exc, OSError):
        return CliError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), "", EXIT_USAGE)
    return None


def guarded(fn: F) -> F:
    """Wrap a command so that expected failures print one line and exit with their code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            print_error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if debug_enabled():
                raise
            err = _translate(exc)
            if err is None:
                print_error(f"internal error: {type(exc).__name__}: {exc}",
                            "rerun with WORLDFLUX_DEBUG=1 for the traceback, and please report it")
                raise typer.Exit(EXIT_INTERNAL) from None
            print_error(err.message, err.hint)
            raise typer.Exit(err.code) from None

    return wrapper  # type: ignore[return-value]
