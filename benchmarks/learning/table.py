"""Print the README's table of learning runs from the curves kept here (one source: the CSVs and runs.csv).

    python benchmarks/learning/table.py            # print the table
    python benchmarks/learning/table.py --write    # and put it into README.md between its markers

For every row of ``runs.csv`` (which run made which ``<family>/<task>/<name>.csv``, at which commit, with
which settings), reads that curve (convert.py's columns) and prints one Markdown row: the steps run, the
evaluation returns at 10k, 20k and the last evaluation, the best one, the wall time (convert.py's
``wall_s`` of the last row: the run's own clock, evaluation included), and the official score nearest the
same step: for DreamerV3 the mean of danijar/dreamerv3's published seeds at that step
(``official/dreamerv3-repo/``, a point every 10k), for TD-MPC2 the tdmpc2 repository's published points
(``official/tdmpc2/``, at 0 and every 100k only: the 100k mean is given, marked as such).
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _curve(path: Path) -> tuple[dict[int, float], float, int]:
    evals, wall, last = {}, 0.0, 0
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            last = int(row["step"])
            wall = float(row["wall_s"] or 0.0)
            if row["eval_return"]:
                evals[last] = float(row["eval_return"])
    return evals, wall, last


def _official(source: str, task: str) -> dict[int, list[float]]:
    path = HERE / "official" / source / f"{task}.csv"
    points: dict[int, list[float]] = {}
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                points.setdefault(int(float(row["step"])), []).append(float(row["reward"]))
    return points


def _official_near(family: str, task: str, step: int) -> str:
    if family == "dreamerv3":
        points = _official("dreamerv3-repo", task)
        at = max((s for s in points if s <= step), default=None)
        return f"{statistics.mean(points[at]):.0f} at {at // 1000}k (5 seeds)" if at else "—"
    points = _official("tdmpc2", task)
    return f"{statistics.mean(points[100_000]):.0f} at 100k (first point after 0)" if 100_000 in points else "—"


def _at(evals: dict[int, float], step: int) -> str:
    return f"{evals[step]:.0f}" if step in evals else "—"


def rows() -> list[str]:
    out = ["| family | task | curve | seed | preset, settings | commit | steps | eval 10k | eval 20k | last eval "
           "| best eval | wall time | official, same step |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    with open(HERE / "runs.csv", newline="", encoding="utf-8") as f:
        for run in csv.DictReader(f):
            path = HERE / run["family"] / run["task"] / f"{run['curve']}.csv"
            if not path.is_file():
                out.append(f"| {run['family']} | {run['task']} | `{run['curve']}` | {run['seed']} | "
                           f"{run['settings']} | {run['commit']} | no curve yet |" + " |" * 6)
                continue
            evals, wall, last = _curve(path)
            head = (f"| {run['family']} | {run['task']} | `{run['curve']}` | {run['seed']} | {run['settings']} "
                    f"| {run['commit']} | {last:,} |")
            if not evals:
                out.append(head + f" — | — | — | — | {wall / 60:.0f} min | — |")
                continue
            final = max(evals)
            official = _official_near(run["family"], run["task"], last)
            out.append(head + f" {_at(evals, 10_000)} | {_at(evals, 20_000)} | {evals[final]:.0f} at {final // 1000}k "
                       f"| {max(evals.values()):.0f} | {wall / 60:.0f} min | {official} |")
    return out


BEGIN, END = "<!-- table.py output -->\n", "<!-- end of table.py output -->\n"


def write_readme(table: list[str]) -> None:
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    before, rest = text.split(BEGIN)
    _, after = rest.split(END)
    readme.write_text(before + BEGIN + "\n".join(table) + "\n" + END + after, encoding="utf-8")


if __name__ == "__main__":
    table = rows()
    print("\n".join(table))
    if sys.argv[1:] == ["--write"]:
        write_readme(table)
