"""Renderers of validation results: text (with the offending line), json, github annotations.

Results are data (FileReport); each renderer is a function from reports to text, picked
from RENDERERS by the --format option. Every string that came from a config (keys, values,
source lines, file names) is made visible before it reaches a terminal: control characters,
bidirectional overrides and lone surrogates become escapes such as ``\\x1b`` (text, github);
JSON output is ASCII with JSON escapes, so it stays valid JSON with the exact values.

``limit`` bounds the problems shown per file (text and github); the summary line still counts
them all. JSON lists every problem the check reported unless a limit is given (the check itself
lists at most 1,000 unknown keys of one object and 1,000 problems of the file itself, plus one
problem that counts the rest).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

from worldflux_cli.terminal import visible
from worldflux_cli.validation.validate import FileReport

_STYLES = {"error": "1;31", "warning": "1;33", "ok": "1;32", "dim": "2", "code": "36", "caret": "1;31"}

#: Problems shown per file by default in text and github output.
DEFAULT_LIMIT = 50

#: Characters of a source line shown around the caret.
_WINDOW = 160


def use_colour(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def _shown(rep: FileReport, limit: int | None):
    return rep.problems if not limit else rep.problems[:limit]


def _source_lines(line: str, column: int) -> tuple[str, int]:
    """(visible excerpt of a source line around ``column``, the caret's column in the excerpt)."""
    start = max(0, column - 1 - _WINDOW // 2) if len(line) > _WINDOW else 0
    excerpt = line[start:start + _WINDOW]  # cut before any per-character work: lines can be megabytes
    before = visible(excerpt[:column - 1 - start].expandtabs(1))
    return visible(excerpt.expandtabs(1)), len(before) + 1


def render_text(reports: list[FileReport], strict: bool = False, colour: bool = False,
                limit: int | None = DEFAULT_LIMIT) -> str:
    def paint(style: str, text: str) -> str:
        return f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if colour else text

    out: list[str] = []
    for rep in reports:
        name = visible(rep.path)
        if rep.valid(strict) and not rep.problems:
            extra = f" ({rep.model_type}" + (f", {rep.params:,} trainable parameters" if rep.params else "") + ")"
            out.append(f"{paint('ok', 'ok')} {name}{extra if rep.model_type else ''}")
            continue
        for p in _shown(rep, limit):
            loc = f"{name}:{p.line}:{p.column}" if p.line else name
            out.append(f"{loc}: {paint(p.severity, p.severity)} {paint('code', p.code)} {visible(p.message)}")
            out.append(f"    at {visible(p.path)}")
            if p.line and 0 < p.line <= len(rep.lines):
                text, col = _source_lines(rep.lines[p.line - 1], p.column or 1)
                gutter = f"{p.line:>5} | "
                out.append(paint("dim", gutter) + text)
                out.append(" " * (len(gutter) + col - 1) + paint("caret", "^"))
            if p.hint:
                out.append(f"    hint: {visible(p.hint)}")
        hidden = len(rep.problems) - len(_shown(rep, limit))
        if hidden:
            out.append(f"... and {hidden:,} more problem(s) in {name} (--max-problems 0 or --format json lists all)")
        verdict = "valid" if rep.valid(strict) else "invalid"
        counts = f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s)"
        out.append(f"{paint('ok' if rep.valid(strict) else 'error', verdict)} {name}: {counts}")
    return "\n".join(out)


def report_json(reports: list[FileReport], strict: bool = False, limit: int | None = None) -> dict:
    """The JSON contract other tools rely on (extra keys may be added, none removed)."""
    return {
        "files": [
            {
                "path": rep.path,
                "valid": rep.valid(strict),
                "model_type": rep.model_type,
                "params": rep.params,
                "problems": [p.to_json() for p in _shown(rep, limit)],
                "problem_count": len(rep.problems),
            }
            for rep in reports
        ]
    }


def render_json(reports: list[FileReport], strict: bool = False, colour: bool = False,
                limit: int | None = None) -> str:
    return json.dumps(report_json(reports, strict, limit), indent=2, ensure_ascii=True)


def _gh_escape(text: str, prop: bool = False) -> str:
    text = visible(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(reports: list[FileReport], strict: bool = False, colour: bool = False,
                  limit: int | None = DEFAULT_LIMIT) -> str:
    """GitHub Actions workflow commands (::error / ::warning annotations)."""
    out = []
    for rep in reports:
        for p in _shown(rep, limit):
            level = "error" if p.severity == "error" or strict else "warning"
            props = [f"file={_gh_escape(rep.path, True)}"]
            if p.line:
                props += [f"line={p.line}", f"col={p.column}"]
            props.append(f"title={_gh_escape(f'{p.code} at {p.path}', True)}")
            msg = p.message + (f" (hint: {p.hint})" if p.hint else "")
            out.append(f"::{level} {','.join(props)}::{_gh_escape(msg)}")
        hidden = len(rep.problems) - len(_shown(rep, limit))
        if hidden:
            out.append(f"::warning file={_gh_escape(rep.path, True)}::{hidden} more problem(s) not shown "
                       "(--max-problems 0 lists all)")
    return "\n".join(out)


RENDERERS: dict[str, Callable[..., str]] = {"text": render_text, "json": render_json, "github": render_github}
