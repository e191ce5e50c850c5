"""Convert a `worldflux train` run folder's metrics.jsonl into the learning-curve CSV kept here.

    python benchmarks/learning/convert.py RUN_DIR OUT.csv

Columns, one row per metrics line (every ``log_interval`` agent steps):

- ``step``: agent steps (after action repeat), as in metrics.jsonl;
- ``eval_return``: mean return of the evaluation episodes run at this step (blank where no evaluation
  ran at this step; metrics.jsonl repeats the last one, this file does not);
- ``episode_return``: return of the last finished training episode (exploration noise on);
- ``wall_s``: seconds since the run started (step / fps of metrics.jsonl, whose fps is the average
  since the start; evaluation time included);
- ``steps_per_s``: agent steps per second over the interval since the previous row (evaluation
  time included, so the intervals with an evaluation are slower);
- ``updates``: gradient updates so far.

Runs resumed with ``--resume`` are not handled (their fps restarts at the resume point).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def convert(run_dir: Path, out: Path) -> int:
    rows, prev_step, prev_wall = [], 0, 0.0
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        m = json.loads(line)
        step = int(m["step"])
        wall = step / m["fps"] if m["fps"] else 0.0
        fresh = m.get("eval_step") == step and m.get("eval_return") is not None
        rate = (step - prev_step) / (wall - prev_wall) if wall > prev_wall else ""
        rows.append({"step": step,
                     "eval_return": f"{m['eval_return']:.2f}" if fresh else "",
                     "episode_return": "" if m["episode_return"] is None else f"{m['episode_return']:.2f}",
                     "wall_s": f"{wall:.1f}",
                     "steps_per_s": f"{rate:.2f}" if rate != "" else "",
                     "updates": m.get("updates", "")})
        prev_step, prev_wall = step, wall
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    n = convert(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {sys.argv[2]} ({n} rows)")
