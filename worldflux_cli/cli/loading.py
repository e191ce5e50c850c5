"""Read a config reference (file, '-', preset id, hf://) for a command that needs a valid config."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from worldflux_cli.cli.errors import EXIT_USAGE, CliError


@dataclass
class LoadedConfig:
    label: str
    cls: type
    values: dict[str, Any]  # as written in the file, without "$schema"

    def config(self) -> Any:
        return self.cls.from_dict(self.values)


def load_valid(ref: str, *, invalid_code: int, consequence: str) -> LoadedConfig:
    """The config behind ``ref``; an invalid one prints its validation report and raises CliError.

    ``consequence`` ends the error line, e.g. "cannot compare it" or "nothing was measured".
    """
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.sources import SourceError, read_source
    from worldflux_cli.validation.report import render_text, use_colour
    from worldflux_cli.validation.validate import validate_bytes

    try:
        src = read_source(ref)
    except SourceError as exc:
        raise CliError(exc.message, exc.hint, EXIT_USAGE) from None
    report = validate_bytes(src.data, src.label)
    if not report.valid():
        print(render_text([report], colour=use_colour(sys.stderr)), file=sys.stderr)
        raise CliError(f"{src.label} is not a valid config; {consequence}",
                       "fix the problems above (`worldflux validate FILE` lists them)", invalid_code)
    values = {k: v for k, v in report.values.items() if k != "$schema"}
    return LoadedConfig(src.label, FAMILIES[report.model_type], values)
