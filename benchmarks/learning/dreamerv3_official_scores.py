"""Extract the official DreamerV3 repository's own DMC-proprio curves (10k-step resolution) into CSVs.

    python benchmarks/learning/dreamerv3_official_scores.py DREAMERV3/scores/dmc_proprio-dreamerv3.json.gz

danijar/dreamerv3 publishes its runs' scores in ``scores/dmc_proprio-dreamerv3.json.gz``: a list of
``{"task": "dmc_cartpole_balance", "method": "dreamerv3", "seed": 0, "xs": [...], "ys": [...]}``, 5 seeds per
task, a point every 10,000 steps (10k..490k; ``xs`` is the official step counter, which counts policy steps,
each of which is 2 simulator steps in DMC: the same unit as our agent steps), ``ys`` the mean training-episode
score in each 10k bin (the official agent samples its actions in training, as ours does in evaluation). These are
the runs of the code this project follows (danijar/dreamerv3, variant "official"), so they are the closest
reference; the tdmpc2 repository's results/dreamerv3/ CSVs (official/dreamerv3/, a point every 100k) are another
group's DreamerV3 runs.

Writes ``official/dreamerv3-repo/<task>.csv`` (columns step,reward,seed, as the files in official/dreamerv3/)
for the tasks named on the command line after the path (default: cartpole-balance walker-stand).
"""

from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TASKS = ("cartpole-balance", "walker-stand")


def extract(scores: Path, tasks: list[str]) -> list[Path]:
    runs = json.loads(gzip.decompress(scores.read_bytes()))
    out_dir = HERE / "official" / "dreamerv3-repo"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for task in tasks:
        name = "dmc_" + task.replace("-", "_").replace("cup_catch", "ball_in_cup_catch")
        rows = sorted((int(x), float(y), int(r["seed"])) for r in runs if r["task"] == name
                      for x, y in zip(r["xs"], r["ys"], strict=True))
        if not rows:
            raise SystemExit(f"{scores}: no runs for {name}")
        out = out_dir / f"{task}.csv"
        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "reward", "seed"])
            writer.writerows([step, f"{reward:.1f}", seed] for step, reward, seed in rows)
        written.append(out)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in extract(Path(sys.argv[1]), sys.argv[2:] or list(DEFAULT_TASKS)):
        print(f"wrote {path.relative_to(HERE)}")
