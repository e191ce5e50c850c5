"""The return curve of a run, as an SVG image for its model card (torch-free; no plotting library).

``curve_points(metrics_path)`` reads a run's metrics.jsonl: the evaluation returns (one point per evaluation)
and the training episode returns (the last one of each log line). ``curve_svg(...)`` draws them: evaluation
as a line with dots, training as a faint line, on axes labelled with agent steps and returns.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

CURVE_NAME = "return_curve.svg"
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 640, 260, 62, 16, 28, 40


def curve_points(metrics_path: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(evaluation points, training points) as (agent step, return), in step order, from metrics.jsonl."""
    evals: dict[int, float] = {}
    train: dict[int, float] = {}
    if not metrics_path.is_file():
        return [], []
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row.get("eval_step"), int) and _finite(row.get("eval_return")):
            evals[row["eval_step"]] = float(row["eval_return"])
        if isinstance(row.get("step"), int) and _finite(row.get("episode_return")):
            train[row["step"]] = float(row["episode_return"])
    return sorted(evals.items()), sorted(train.items())


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = high - low or 1.0
    step = 10 ** math.floor(math.log10(span / count))
    step *= next(m for m in (1, 2, 5, 10) if span / (step * m) <= count)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _label(v: float) -> str:
    return f"{v / 1000:g}k" if abs(v) >= 10_000 else f"{v:g}"


def curve_svg(evals: list[tuple[int, float]], train: list[tuple[int, float]], title: str = "") -> str:
    """An SVG document (text) of the return curve."""
    points = evals + train
    x_hi = max([s for s, _ in points] or [1]) or 1
    y_lo, y_hi = min([r for _, r in points] or [0.0]), max([r for _, r in points] or [1.0])
    if y_hi - y_lo < 1e-9:
        y_lo, y_hi = y_lo - 1.0, y_hi + 1.0
    pw, ph = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def xy(step: float, ret: float) -> tuple[float, float]:
        return _PAD_L + pw * step / x_hi, _PAD_T + ph * (1 - (ret - y_lo) / (y_hi - y_lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
           'font-family="sans-serif" font-size="11">', f'<rect width="{_W}" height="{_H}" fill="white"/>']
    for v in _ticks(y_lo, y_hi):
        _, y = xy(0, v)
        out.append(f'<line x1="{_PAD_L}" y1="{y:.1f}" x2="{_W - _PAD_R}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{_PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{_label(v)}</text>')
    for v in _ticks(0, x_hi):
        x, _ = xy(v, y_lo)
        out.append(f'<text x="{x:.1f}" y="{_H - _PAD_B + 16}" text-anchor="middle" fill="#555">{_label(v)}</text>')
    out.append(f'<rect x="{_PAD_L}" y="{_PAD_T}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    if train:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(s, r) for s, r in train))
        out.append(f'<polyline points="{path}" fill="none" stroke="#9ecae1" stroke-width="1.5"/>')
    if evals:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(s, r) for s, r in evals))
        out.append(f'<polyline points="{path}" fill="none" stroke="#08519c" stroke-width="2"/>')
        out += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#08519c"/>' for x, y in (xy(s, r) for s, r in evals)]
    out.append(f'<text x="{_PAD_L + pw / 2}" y="{_H - 8}" text-anchor="middle" fill="#333">agent steps</text>')
    out.append(f'<text x="{_PAD_L}" y="{_PAD_T - 10}" fill="#333">{_escape(title)}return: '
               '<tspan fill="#08519c">evaluation</tspan>, <tspan fill="#6baed6">training episodes</tspan></text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"{text}: " if text else ""


__all__ = ["CURVE_NAME", "curve_points", "curve_svg"]
