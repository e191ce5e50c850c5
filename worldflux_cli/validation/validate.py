"""The validation pipeline: bytes -> parse (positions kept) -> family -> schema -> rules -> report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worldflux_cli.config import check as config_check
from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.names import ALIASES, MODEL_FAMILIES, SCHEMA_KEY, suggest
from worldflux_cli.config.problems import Problem, error
from worldflux_cli.config.registry import FAMILIES
from worldflux_cli.validation import jsonparse

_PARSE_CODES = {
    jsonparse.SYNTAX: ("WF001", "fix the JSON syntax at this position"),
    jsonparse.TRAILING: ("WF001", "remove everything after the closing '}'"),
    jsonparse.ENCODING: ("WF002", "save the file as UTF-8"),
    jsonparse.DUPLICATE_KEY: ("WF003", "keep one of the two; JSON readers disagree about which one wins"),
    jsonparse.NON_FINITE: ("WF004", "JSON has no NaN or Infinity: write a finite number"),
    jsonparse.TOO_DEEP: ("WF005", "a config is a flat object; remove the nesting"),
    jsonparse.EMPTY: ("WF006", "write a config with `worldflux new --model dreamer --size tiny -o FILE`"),
}

#: Keys that only one family has, to guess the family of a file without model_type.
_TELLTALE = {"stoch_discrete": "dreamer", "gru_blocks": "dreamer", "simnorm_dim": "tdmpc2", "num_q_networks": "tdmpc2"}


@dataclass
class FileReport:
    """The outcome of validating one file."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    model_type: str | None = None
    lines: list[str] = field(default_factory=list)
    values: dict[str, Any] | None = None  # the parsed object, when it is one
    config: WorldModelConfig | None = None  # the config object, when the document is valid
    params: int | None = None  # trainable parameter count, for a valid config (with_param_count)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def valid(self, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)


def validate_bytes(data: bytes | str, path: str) -> FileReport:
    """Validate one config document. Never raises for bad input."""
    parsed = jsonparse.parse(data)
    report = FileReport(path=path, lines=parsed.lines)
    for err in parsed.errors:
        code, hint = _PARSE_CODES.get(err.code, ("WF001", ""))
        report.problems.append(Problem(code, "error", err.message, hint, tuple(err.path), err.line, err.column))
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
    cls = _family(value, report, parsed)
    if cls is None:
        return report
    report.model_type = cls.family
    report.problems.extend(_at(parsed, p) for p in config_check.check_values(value, cls))
    report.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
    if not report.errors:
        report.config = cls.from_checked({k: v for k, v in value.items() if k != SCHEMA_KEY})
    return report


def _family(value: dict[str, Any], report: FileReport, parsed: jsonparse.ParseResult):
    known = ", ".join(f"'{k}'" for k in FAMILIES)
    if "model_type" not in value:
        guess = next((fam for key, fam in _TELLTALE.items() if key in value), None)
        hint = f'add "model_type": "{guess}" (its keys look like a {guess} config)' if guess else \
            f"add \"model_type\" with one of: {known}"
        report.problems.append(_at(parsed, error("WF010", "model_type is missing, so the config's family is unknown",
                                                 hint)))
        return None
    kind = value["model_type"]
    if isinstance(kind, str) and kind in FAMILIES:
        return FAMILIES[kind]
    close = ALIASES.get(kind.lower()) if isinstance(kind, str) else None
    close = close or (suggest(kind, list(FAMILIES)) if isinstance(kind, str) else None)
    hint = f"did you mean {close!r}?" if close else f"use one of: {known}"
    shown = repr(kind) if isinstance(kind, str) else f"{kind!r} (not a string)"
    report.problems.append(_at(parsed, error("WF011", f"unknown model_type {shown}", hint, ("model_type",))))
    return None


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
