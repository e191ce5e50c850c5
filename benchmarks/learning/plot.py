"""Plot our learning curves beside the official published ones: one PNG per (family, task).

    python benchmarks/learning/plot.py            # every benchmarks/learning/<family>/<task>/seed*.csv
    python benchmarks/learning/plot.py tdmpc2     # one family

Reads ``<family>/<task>/seed*.csv`` (our seeds, written by convert.py from a run's metrics.jsonl; any other
``*.csv`` there is drawn grey, as a variant) and
``official/{tdmpc2,dreamerv3}/<task>.csv`` (the tdmpc2 repository's results/, columns step,reward,seed);
writes ``<family>/<task>.png`` with two panels:

- left, the steps we ran: our evaluation returns per seed (markers: the evaluation points; faint: the
  training episodes' returns) and the official seeds' published points inside that range (the
  published curves have a point at step 0 and every 100k steps only, so that is their step-0 point);
  the official score at their first point after our range (100k) is the dotted line, mean of the
  seeds, with the seeds' range shaded; no interpolation is drawn (it would be a guess);
- right, the same to that official point, with the official points joined by straight lines.

matplotlib is a benchmark tool here, not a worldflux dependency: ``pip install matplotlib``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
OFFICIAL = {"tdmpc2": ("official TD-MPC2", "tab:green"), "dreamerv3": ("official DreamerV3", "tab:purple")}
OURS = {"tdmpc2": "worldflux TD-MPC2", "dreamerv3": "worldflux DreamerV3"}
SEED_COLORS = ["tab:blue", "tab:orange", "tab:red", "tab:brown", "tab:cyan"]


def read_ours(path: Path) -> dict[str, list[tuple[float, float]]]:
    evals, episodes = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            step = float(row["step"])
            if row["eval_return"]:
                evals.append((step, float(row["eval_return"])))
            if row["episode_return"]:
                episodes.append((step, float(row["episode_return"])))
    return {"eval": evals, "episode": episodes}


def read_official(family: str, task: str) -> dict[str, list[tuple[float, float]]]:
    path = HERE / "official" / family / f"{task}.csv"
    seeds: dict[str, list[tuple[float, float]]] = {}
    if not path.is_file():
        return seeds
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            seeds.setdefault(row["seed"], []).append((float(row["step"]), float(row["reward"])))
    return {s: sorted(points) for s, points in sorted(seeds.items())}


def official_at(seeds: dict[str, list[tuple[float, float]]], step: float) -> list[float]:
    return [r for points in seeds.values() for s, r in points if s == step]


def plot_task(family: str, task_dir: Path) -> Path | None:
    task = task_dir.name
    runs = {p.stem: read_ours(p) for p in sorted(task_dir.glob("seed*.csv"))}
    extras = {p.stem: read_ours(p) for p in sorted(task_dir.glob("*.csv")) if not p.stem.startswith("seed")}
    if not runs:
        return None
    last = max(max(s for s, _ in r["eval"] + r["episode"]) for r in [*runs.values(), *extras.values()])
    official = {fam: read_official(fam, task) for fam in OFFICIAL}
    after = [s for seeds in official.values() for pts in seeds.values() for s, _ in pts if s >= last]
    wide = min(after) if after else last
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    for ax, xmax, zoom in ((axes[0], last, True), (axes[1], wide, False)):
        for fam, (label, color) in OFFICIAL.items():
            seeds = official[fam]
            labelled = False
            for points in seeds.values():
                shown = [p for p in points if p[0] <= (last if zoom else wide)]
                if not shown:  # some published seeds have no step-0 point
                    continue
                xs, ys = zip(*shown, strict=True)
                ax.plot(xs, ys, ls="none" if zoom else "-", marker="s", ms=5, color=color, alpha=0.55, lw=1.2,
                        label=f"{label} ({len(seeds)} seeds; published at 0 and every 100k)" if not labelled else None)
                labelled = True
            at = official_at(seeds, wide)
            if zoom and at and wide > last:
                mean = sum(at) / len(at)
                ax.axhspan(min(at), max(at), color=color, alpha=0.12, lw=0)
                ax.axhline(mean, color=color, ls=":", lw=1.4,
                           label=f"{label} at {wide / 1000:.0f}k: mean {mean:.0f} (band: seed range)")
        for i, (name, r) in enumerate(runs.items()):
            color = SEED_COLORS[i % len(SEED_COLORS)]
            if r["episode"] and zoom:
                xs, ys = zip(*r["episode"], strict=True)
                ax.plot(xs, ys, color=color, alpha=0.25, lw=1,
                        label="training episodes (exploration noise)" if i == 0 else None)
            if r["eval"]:
                xs, ys = zip(*r["eval"], strict=True)
                ax.plot(xs, ys, color=color, marker="o", ms=4 if zoom else 3, lw=2,
                        label=f"{OURS.get(family, family)} {name} (eval)")
        for name, r in extras.items():
            if r["eval"]:
                xs, ys = zip(*r["eval"], strict=True)
                ax.plot(xs, ys, color="0.45", marker="^", ms=4, lw=1.2, ls="-.",
                        label=f"{name} (eval; other settings, see README)")
        ax.set_xlim(0, xmax * 1.02)
        ax.set_ylim(0, 1050)
        ax.set_xlabel("agent steps (action repeat 2)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("episode return")
    axes[0].set_title(f"{task}: the steps we ran (official curves have no point inside this range but step 0)",
                      fontsize=9)
    axes[1].set_title(f"{task}: to the first published official point after ours ({wide / 1000:.0f}k)", fontsize=9)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{OURS.get(family, family)} on DMC {task} (state)", fontsize=11)
    fig.tight_layout()
    out = HERE / family / f"{task}.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str]) -> None:
    families = argv or [p.name for p in sorted(HERE.iterdir()) if p.is_dir() and p.name != "official"]
    for family in families:
        for task_dir in sorted(p for p in (HERE / family).iterdir() if p.is_dir()):
            out = plot_task(family, task_dir)
            if out is not None:
                print(f"wrote {out.relative_to(HERE)}")


if __name__ == "__main__":
    main(sys.argv[1:])
