"""The validation pipeline: bytes -> parse (positions kept) -> family -> schema -> rules -> report.

A document is a model config (its ``model_type`` names the family) or a run file (``"run"``, or
``model``/``env``/``training`` sections; worldflux_cli.config.run), checked as a whole: a problem in a
section has its path in the file, so its line and column. An optional ``fit`` check (``validate --env``)
compares the valid model with a real environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from worldflux_cli.config import check as config_check
from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.names import MODEL_FAMILIES, SCHEMA_KEY
from worldflux_cli.config.problems import Problem, error
from worldflux_cli.config.registry import family_of
from worldflux_cli.config.run import RunConfig, check_run, is_run_document
from worldflux_cli.validation import jsonparse

#: A check of a valid model against an environment: (model config, its run or None) -> problems. A problem
#: whose path starts with "env" is about the run's env section; the others' paths are in the model config.
Fit = Callable[[WorldModelConfig, "RunConfig | None"], list[Problem]]

_PARSE_CODES = {
    jsonparse.SYNTAX: ("WF001", "fix the JSON syntax at this position"),
    jsonparse.TRAILING: ("WF001", "remove everything after the closing '}'"),
    jsonparse.ENCODING: ("WF002", "save the file as UTF-8"),
    jsonparse.DUPLICATE_KEY: ("WF003", "keep one of the two; JSON readers disagree about which one wins"),
    jsonparse.NON_FINITE: ("WF004", "JSON has no NaN or Infinity: write a finite number"),
    jsonparse.TOO_DEEP: ("WF005", "a config is a flat object; remove the nesting"),
    jsonparse.EMPTY: ("WF006", "write a config with `worldflux new --model dreamer --size tiny -o FILE`"),
}


@dataclass
class FileReport:
    """The outcome of validating one file."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    model_type: str | None = None
    lines: list[str] = field(default_factory=list)
    values: dict[str, Any] | None = None  # the parsed object, when it is one
    config: WorldModelConfig | None = None  # the config object, when the document is valid (a run's model)
    run: RunConfig | None = None  # the run, when the document is a valid run file
    kind: str = "config"  # "config" or "run"
    params: int | None = None  # trainable parameter count, for a valid config (with_param_count)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def valid(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


#: Problems of the file itself (duplicate keys, ...) reported one by one; one more problem counts the rest.
MAX_PARSE_LISTED = 1000


def validate_bytes(data: bytes | str, path: str, *, base_dir: Path | None = None, fit: Fit | None = None) -> FileReport:
    """Validate one config or run document. Never raises for bad input.

    ``base_dir``: where a run's model given as a file path is read (the run file's folder); None refuses
    such paths. ``fit``: a check of the valid model against an environment (``validate --env``).
    """
    parsed = jsonparse.parse(data)
    report = FileReport(path=path, lines=parsed.lines)
    for err in parsed.errors[:MAX_PARSE_LISTED]:
        code, hint = _PARSE_CODES.get(err.code, ("WF001", ""))
        report.problems.append(Problem(code, "error", err.message, hint, tuple(err.path), err.line, err.column))
    total = len(parsed.errors) + parsed.omitted
    if total > MAX_PARSE_LISTED:  # one problem stands for the rest: output stays bounded
        last = parsed.errors[-1]
        code, hint = _PARSE_CODES.get(last.code, ("WF001", ""))
        report.problems.append(Problem(code, "error", f"{total - MAX_PARSE_LISTED:,} more problems of the file "
                                       f"itself ({total:,} in all; the first {MAX_PARSE_LISTED:,} are listed)", hint,
                                       (), last.line, last.column))
    if not parsed.parsed:
        return report
    value = parsed.value
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        report.problems.append(_at(parsed, error(
            "WF007", f"a config must be a JSON object, but this file holds {kind}",
            'write {"model_type": "dreamer", ...}; see `worldflux new --help`')))
        return report
    report.values = value
    if is_run_document(value):
        _validate_run(value, report, parsed, base_dir, fit)
    else:
        cls = _family(value, report, parsed)
        if cls is None:
            return report
        report.model_type = cls.family
        report.problems.extend(_at(parsed, p) for p in config_check.check_values(value, cls))
        if not report.errors:
            report.config = cls.from_checked({k: v for k, v in value.items() if k != SCHEMA_KEY})
            if fit is not None:
                report.problems.extend(_at(parsed, p) for p in _fit_problems(fit, report.config, None, None))
    report.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
    return report


def _validate_run(value: dict[str, Any], report: FileReport, parsed: jsonparse.ParseResult,
                  base_dir: Path | None, fit: Fit | None) -> None:
    report.kind = "run"
    result = check_run(value, base_dir)
    report.model_type = result.model_class.family if result.model_class is not None else None
    report.problems.extend(_at(parsed, p) for p in result.problems)
    if report.errors:
        return
    report.run = result.build()
    report.config = report.run.model
    if fit is not None:
        found = _fit_problems(fit, report.config, report.run, result.model_ref)
        report.problems.extend(_at(parsed, p) for p in found)


def _fit_problems(fit: Fit, config: WorldModelConfig, run: RunConfig | None, model_ref: str | None) -> list[Problem]:
    """The fit check's problems, each placed in the document: a run's model is at $.model (all of it when the
    run names it by reference), its env section at $.env; a model config's env problems at its root."""
    out = []
    for p in fit(config, run):
        if p.where[:1] == ("env",):
            out.append(p if run is not None else replace(p, where=()))
        elif run is None:
            out.append(p)
        else:
            out.append(replace(p, where=("model",) + (() if model_ref is not None else p.where),
                               message=p.message if model_ref is None else f"{model_ref}: {p.message}"))
    return out


def _family(value: dict[str, Any], report: FileReport, parsed: jsonparse.ParseResult):
    cls, problems = family_of(value)
    report.problems.extend(_at(parsed, p) for p in problems)
    return cls


def _at(parsed: jsonparse.ParseResult, problem: Problem) -> Problem:
    """Attach the line/column of the problem's path (the nearest ancestor present in the file)."""
    where = problem.where
    if problem.key and where in parsed.key_positions:
        pos = parsed.key_positions[where]
        return problem.located(pos.line, pos.column)
    while where not in parsed.positions and where:
        where = where[:-1]
    pos = parsed.positions.get(where)
    return problem.located(pos.line, pos.column) if pos else problem.located(1, 1)


def with_param_count(report: FileReport) -> FileReport:
    """Add the trainable parameter count (torch-free) to a valid report."""
    if report.config is None or report.model_type not in MODEL_FAMILIES:
        return report
    from worldflux_cli.params import count_params

    report.params = count_params(report.config).trainable
    return report
