"""The return curve of a model card: the points read from metrics.jsonl and the SVG drawn from them."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from worldflux_cli.training.card import training_section
from worldflux_cli.training.curve import curve_points, curve_svg


def test_points_are_each_evaluation_once_and_the_training_returns(tmp_path):
    f = tmp_path / "metrics.jsonl"
    rows = [{"step": 10, "episode_return": None, "eval_return": None, "eval_step": None},
            {"step": 20, "episode_return": 5.0, "eval_return": 7.0, "eval_step": 20},
            {"step": 30, "episode_return": 6.0, "eval_return": 7.0, "eval_step": 20},  # the same evaluation again
            {"step": 40, "episode_return": float("nan"), "eval_return": 9.5, "eval_step": 40}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    evals, train = curve_points(f)
    assert evals == [(20, 7.0), (40, 9.5)] and train == [(20, 5.0), (30, 6.0)]
    assert curve_points(tmp_path / "none.jsonl") == ([], [])


def test_svg_is_well_formed_and_scales_the_points_into_its_frame():
    svg = ET.fromstring(curve_svg([(0, -3.0), (500, 997.0)], [(250, 100.0)], "dmc:cartpole<balance>"))
    polylines = [e for e in svg if e.tag.endswith("polyline")]
    xs = [float(p.split(",")[0]) for e in polylines for p in e.get("points").split()]
    ys = [float(p.split(",")[1]) for e in polylines for p in e.get("points").split()]
    width, height = float(svg.get("width")), float(svg.get("height"))
    assert all(0 <= x <= width for x in xs) and all(0 <= y <= height for y in ys)
    assert min(ys) < max(ys)  # the higher return is drawn higher (smaller y)
    flat = ET.fromstring(curve_svg([(10, 5.0)], []))  # one point, no range: still a drawing
    assert flat.tag.endswith("svg")


def test_the_card_shows_the_curve_and_at_most_20_evaluations(tmp_path):
    from worldflux_cli.config.run import RunConfig

    run = RunConfig.from_dict({"run": 1, "env": "gym:Pendulum-v1", "model": "tdmpc2:tiny"})
    counters = {"step": 100, "episode": 2, "updates": 50, "last_eval": 1.0, "last_eval_step": 100, "last_return": 2}
    evals = [(i * 10, float(i)) for i in range(1, 51)]
    text = training_section(run, counters, 100, evals, "return_curve.svg")
    assert "![return curve" in text and "(return_curve.svg)" in text
    table = [line for line in text.splitlines() if re.match(r"^\| [\d,]+ \| [\d.]+ \|$", line)]
    assert len(table) == 20 and table[0].startswith("| 10 |") and table[-1].startswith("| 500 |")
