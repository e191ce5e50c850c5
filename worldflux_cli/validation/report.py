"""Renderers of validation results: text (with the offending line), json, github annotations.

Results are data (FileReport); each renderer is a function from reports to text, picked
from RENDERERS by the --format option.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

from worldflux_cli.validation.validate import FileReport

_STYLES = {"error": "1;31", "warning": "1;33", "ok": "1;32", "dim": "2", "code": "36", "caret": "1;31"}


def use_colour(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty()


def render_text(reports: list[FileReport], strict: bool = False, colour: bool = False) -> str:
    def paint(style: str, text: str) -> str:
        return f"\x1b[{_STYLES[style]}m{text}\x1b[0m" if colour else text

    out: list[str] = []
    for rep in reports:
        if rep.valid(strict) and not rep.problems:
            extra = f" ({rep.model_type}" + (f", {rep.params:,} trainable parameters" if rep.params else "") + ")"
            out.append(f"{paint('ok', 'ok')} {rep.path}{extra if rep.model_type else ''}")
            continue
        for p in rep.problems:
            loc = f"{rep.path}:{p.line}:{p.column}" if p.line else rep.path
            out.append(f"{loc}: {paint(p.severity, p.severity)} {paint('code', p.code)} {p.message}")
            out.append(f"    at {p.path}")
            if p.line and 0 < p.line <= len(rep.lines):
                text = rep.lines[p.line - 1].expandtabs(1)
                gutter = f"{p.line:>5} | "
                if len(text) > 160:  # keep the caret visible on very long lines
                    start = max(0, (p.column or 1) - 80)
                    text, col = text[start:start + 160], (p.column or 1) - start
                else:
                    col = p.column or 1
                out.append(paint("dim", gutter) + text)
                out.append(" " * (len(gutter) + col - 1) + paint("caret", "^"))
            if p.hint:
                out.append(f"    hint: {p.hint}")
        verdict = "valid" if rep.valid(strict) else "invalid"
        counts = f"{len(rep.errors)} error(s), {len(rep.warnings)} warning(s)"
        out.append(f"{paint('ok' if rep.valid(strict) else 'error', verdict)} {rep.path}: {counts}")
    return "\n".join(out)


def report_json(reports: list[FileReport], strict: bool = False) -> dict:
    """The JSON contract other tools rely on (extra keys may be added, none removed)."""
    return {
        "files": [
            {
                "path": rep.path,
                "valid": rep.valid(strict),
                "model_type": rep.model_type,
                "params": rep.params,
                "problems": [p.to_json() for p in rep.problems],
            }
            for rep in reports
        ]
    }


def render_json(reports: list[FileReport], strict: bool = False, colour: bool = False) -> str:
    return json.dumps(report_json(reports, strict), indent=2, ensure_ascii=False)


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(reports: list[FileReport], strict: bool = False, colour: bool = False) -> str:
    """GitHub Actions workflow commands (::error / ::warning annotations)."""
    out = []
    for rep in reports:
        for p in rep.problems:
            level = "error" if p.severity == "error" or strict else "warning"
            props = [f"file={_gh_escape(rep.path, True)}"]
            if p.line:
                props += [f"line={p.line}", f"col={p.column}"]
            props.append(f"title={_gh_escape(f'{p.code} at {p.path}', True)}")
            msg = p.message + (f" (hint: {p.hint})" if p.hint else "")
            out.append(f"::{level} {','.join(props)}::{_gh_escape(msg)}")
    return "\n".join(out)


RENDERERS: dict[str, Callable[..., str]] = {"text": render_text, "json": render_json, "github": render_github}
