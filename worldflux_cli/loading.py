"""The one load path: a config reference (file, '-', preset id, hf://) or its bytes -> a checked config or a report.

Every command that takes a config goes through here: ``validate`` keeps the report of each file;
``info``, ``diff``, ``bench``, ``save``, ``push``, ``pull`` and ``load_pretrained`` need a valid config and
get :class:`InvalidConfig` (exit code 1, the report as its details) otherwise. A reference that cannot be
read at all raises :class:`worldflux_cli.sources.SourceError` (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.names import MODEL_FAMILIES
from worldflux_cli.config.run import RunConfig
from worldflux_cli.errors import InvalidInput
from worldflux_cli.sources import read_source
from worldflux_cli.validation.report import render_text
from worldflux_cli.validation.validate import FileReport, Fit, validate_bytes, with_param_count


class InvalidConfig(InvalidInput):
    """A config that was read but is invalid (or builds no model where one is needed); details: its report."""


@dataclass
class Loaded:
    """A valid config and where it came from."""

    label: str
    config: WorldModelConfig
    report: FileReport

    @property
    def run(self) -> RunConfig | None:
        """The run, when the reference is a run file (``config`` is then the run's model)."""
        return self.report.run

    @property
    def params(self) -> int | None:
        """Trainable parameters (torch-free count) of a model family's config."""
        return self.report.params


def report_of(ref: str, *, allow_presets: bool = True, fit: Fit | None = None) -> FileReport:
    """The validation report of a config or run reference, with the parameter count of a valid one.

    A run file's model given as a path is read relative to the run file's folder (the current folder for
    standard input; a Hub reference names its model inline or by preset id). ``fit`` checks the valid
    model against an environment (``validate --env``). SourceError when the reference cannot be read.
    """
    src = read_source(ref, allow_presets=allow_presets)
    return with_param_count(validate_bytes(src.data, src.label, base_dir=_base_dir(ref), fit=fit))


def _base_dir(ref: str) -> Path | None:
    """The folder a run file's relative model path is read from, or None where there is none (hf://, presets)."""
    if ref == "-":
        return Path.cwd()
    if ref.startswith("hf://"):
        return None
    path = Path(ref)
    return path.parent if path.is_file() else None


def config_from_bytes(data: bytes | str, label: str, *, model: bool = True, consequence: str = "") -> Loaded:
    """The config in ``data`` (``label`` names it in messages); InvalidConfig when it is not valid.

    ``model``: the config must build a model (model_type 'dreamer' or 'tdmpc2', not 'base').
    ``consequence`` ends the error line, e.g. "nothing was measured".
    """
    return _checked(with_param_count(validate_bytes(data, label)), model, consequence)


def load_config(ref: str, *, model: bool = True, consequence: str = "") -> Loaded:
    """The config behind ``ref``; SourceError when unreadable, InvalidConfig when invalid."""
    return _checked(report_of(ref), model, consequence)


def _checked(report: FileReport, model: bool, consequence: str) -> Loaded:
    tail = f"; {consequence}" if consequence else ""
    if report.config is None:
        n = len(report.errors)
        raise InvalidConfig(f"{report.path} is not a valid config ({n} error{'s' if n != 1 else ''}){tail}",
                            "fix the problems above (`worldflux validate FILE` lists them with their lines)",
                            details=render_text([report]).splitlines())
    if model and report.model_type not in MODEL_FAMILIES:
        raise InvalidConfig(f"{report.path} is a {report.model_type!r} config, which builds no model{tail}",
                            'set "model_type" to "dreamer" or "tdmpc2"')
    return Loaded(report.path, report.config, report)
