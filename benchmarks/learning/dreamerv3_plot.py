"""Our DreamerV3 learning curves beside the official DreamerV3 ones, over the steps we ran: one PNG per task.

    python benchmarks/learning/dreamerv3_plot.py          # every dreamerv3/<task>/seed*.csv

Reads ``dreamerv3/<task>/seed*.csv`` (convert.py of a run's metrics.jsonl) and two official sources:

- ``official/dreamerv3-repo/<task>.csv`` (dreamerv3_official_scores.py: danijar/dreamerv3's own published
  scores, 5 seeds, a point every 10k steps): drawn per seed (thin) and as the mean over seeds (thick), up to
  our last step, so the comparison at our steps is between measurements;
- ``official/dreamerv3/<task>.csv`` (the tdmpc2 repository's results/dreamerv3/, a point every 100k only):
  its step-0 points, and its mean at 100k as a dotted line (beyond our steps: the first published point).

Writes ``dreamerv3/<task>-vs-official.png`` (plot.py, shared with TD-MPC2, writes ``dreamerv3/<task>.png``
from the same CSVs with the 100k-resolution curves of both official methods). matplotlib is a benchmark
tool here, not a worldflux dependency: ``pip install matplotlib``.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED_COLORS = ["tab:blue", "tab:orange", "tab:red", "tab:brown", "tab:cyan"]


def read_ours(path: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    evals, episodes = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["eval_return"]:
                evals.append((float(row["step"]), float(row["eval_return"])))
            if row["episode_return"]:
                episodes.append((float(row["step"]), float(row["episode_return"])))
    return evals, episodes


def read_official(path: Path) -> dict[str, list[tuple[float, float]]]:
    seeds: dict[str, list[tuple[float, float]]] = defaultdict(list)
    if path.is_file():
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                seeds[row["seed"]].append((float(row["step"]), float(row["reward"])))
    return {s: sorted(p) for s, p in sorted(seeds.items())}


def mean_by_step(seeds: dict[str, list[tuple[float, float]]]) -> list[tuple[float, float, int]]:
    by: dict[float, list[float]] = defaultdict(list)
    for points in seeds.values():
        for s, r in points:
            by[s].append(r)
    return [(s, sum(v) / len(v), len(v)) for s, v in sorted(by.items())]


def plot_task(task_dir: Path) -> Path | None:
    task = task_dir.name
    runs = {p.stem: read_ours(p) for p in sorted(task_dir.glob("seed*.csv"))}
    if not runs:
        return None
    last = max(s for evals, episodes in runs.values() for s, _ in evals + episodes)
    repo = read_official(HERE / "official" / "dreamerv3-repo" / f"{task}.csv")
    tdmpc2 = read_official(HERE / "official" / "dreamerv3" / f"{task}.csv")
    fig, ax = plt.subplots(figsize=(9, 5))
    for i, points in enumerate(repo.values()):
        pts = [p for p in points if p[0] <= last]
        if pts:
            ax.plot(*zip(*pts, strict=True), color="tab:purple", alpha=0.25, lw=1,
                    label=f"official DreamerV3 (danijar/dreamerv3 scores), {len(repo)} seeds" if i == 0 else None)
    mean = [(s, r) for s, r, _ in mean_by_step(repo) if s <= last]
    if mean:
        ax.plot(*zip(*mean, strict=True), color="tab:purple", lw=2.5, marker="s", ms=4,
                label="official DreamerV3 (danijar/dreamerv3), mean over seeds")
    zero = [r for points in tdmpc2.values() for s, r in points if s == 0]
    if zero:
        ax.scatter([0] * len(zero), zero, color="tab:green", marker="D", s=25, zorder=5,
                   label="official DreamerV3 (tdmpc2 results/), step 0")
    at100 = [r for points in tdmpc2.values() for s, r in points if s == 100_000]
    if at100 and last < 100_000:
        ax.axhline(sum(at100) / len(at100), color="tab:green", ls=":", lw=1.3,
                   label=f"official DreamerV3 (tdmpc2 results/) at 100k: {sum(at100) / len(at100):.0f} "
                         f"({len(at100)} seeds)")
    for i, (name, (evals, episodes)) in enumerate(runs.items()):
        color = SEED_COLORS[i % len(SEED_COLORS)]
        if episodes:
            ax.plot(*zip(*episodes, strict=True), color=color, alpha=0.25, lw=1,
                    label="ours: training episodes" if i == 0 else None)
        if evals:
            ax.plot(*zip(*evals, strict=True), color=color, lw=2, marker="o", ms=5,
                    label=f"worldflux DreamerV3 {name} (eval, 5 episodes)")
    ax.set_xlim(0, last * 1.02)
    ax.set_ylim(0, 1050)
    ax.set_xlabel("agent steps (action repeat 2)")
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left")
    ax.set_title(f"DreamerV3 on DMC {task} (state): worldflux (tiny, 0.25 updates/step) vs official "
                 f"(size1m, 1 update/step)", fontsize=9)
    fig.tight_layout()
    out = task_dir.parent / f"{task}-vs-official.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str]) -> None:
    root = HERE / "dreamerv3"
    tasks = [root / t for t in argv] if argv else sorted(p for p in root.iterdir() if p.is_dir())
    for task_dir in tasks:
        out = plot_task(task_dir)
        if out is not None:
            print(f"wrote {out.relative_to(HERE)}")


if __name__ == "__main__":
    main(sys.argv[1:])
