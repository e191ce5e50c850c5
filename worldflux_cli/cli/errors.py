"""One place that turns failures into one clear line, a hint and an exit code.

Every failure a user can act on is a :class:`worldflux_cli.errors.WorldfluxError`; its details (a
validation report, a list of tensor differences) are printed above its one line, and the command
exits with its code. Operating-system errors (a file that vanished, a full disk) exit 2. Anything
else is a bug: exit 3, with the traceback only when WORLDFLUX_DEBUG=1 asks for it.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from worldflux_cli.errors import EXIT_FAILED, EXIT_INTERNAL, WorldfluxError
from worldflux_cli.terminal import visible

F = TypeVar("F", bound=Callable[..., Any])

#: Lines of an error's details printed before "... and N more".
MAX_DETAILS = 200


def debug_enabled() -> bool:
    return os.environ.get("WORLDFLUX_DEBUG", "").lower() not in ("", "0", "false", "no")


def print_error(message: str, hint: str = "") -> None:
    print(f"worldflux: error: {visible(message)}", file=sys.stderr)
    if hint:
        print(f"  hint: {visible(hint)}", file=sys.stderr)


def as_user_error(exc: BaseException) -> WorldfluxError | None:
    """The WorldfluxError an exception stands for; None for a bug."""
    if isinstance(exc, WorldfluxError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return WorldfluxError(f"no such file: {exc.filename}", "check the path")
    if isinstance(exc, IsADirectoryError):
        return WorldfluxError(f"{exc.filename} is a folder, not a file", "name a file")
    if isinstance(exc, PermissionError):
        return WorldfluxError(f"permission denied: {exc.filename}", "check the file's permissions")
    if isinstance(exc, OSError):
        return WorldfluxError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), exit_code=EXIT_FAILED)
    return None


def report(err: WorldfluxError) -> None:
    """Print an error's details, then its line and hint, on standard error."""
    for line in err.details[:MAX_DETAILS]:
        print(visible(line), file=sys.stderr)
    if len(err.details) > MAX_DETAILS:
        print(f"... and {len(err.details) - MAX_DETAILS} more", file=sys.stderr)
    print_error(err.message, err.hint)


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
            err = as_user_error(exc)
            if err is None:
                print_error(f"internal error: {type(exc).__name__}: {exc}",
                            "rerun with WORLDFLUX_DEBUG=1 for the traceback, and please report it")
                raise typer.Exit(EXIT_INTERNAL) from None
            report(err)
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]
