"""A run's logs: ``metrics.jsonl`` always, TensorBoard event files when TensorBoard is installed, the progress line.

Every ``log_interval`` the loop writes one JSON line (step, env frames, episodes, updates, fps, the last training
and evaluation returns, every loss the update reported) to ``metrics.jsonl`` and the same figures as scalars to
``tensorboard/`` (``torch.utils.tensorboard``, which needs the ``tensorboard`` package: without it only the
JSON lines are written, and the run says so once). A resumed run first drops the lines and events past its
checkpoint, so each step is logged once.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRICS_NAME = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def truncate_metrics(path: Path, step: int) -> None:
    """Keep the metrics lines up to ``step`` (a resumed run writes the later ones again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except ValueError:
            continue
    from worldflux_cli.fileio import write_atomic

    write_atomic(path, "".join(line + "\n" for line in kept))


def tensorboard_writer(folder: Path, purge_step: int | None) -> Any | None:
    """A SummaryWriter on ``folder``/tensorboard, or None when TensorBoard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch.utils.tensorboard imports the tensorboard package
        return None
    return SummaryWriter(log_dir=str(folder / TENSORBOARD_DIR), purge_step=purge_step)


class RunLog:
    """The metrics file (appended, flushed per line) and the TensorBoard writer of one run (rank 0)."""

    def __init__(self, folder: Path, resumed_at: int | None, tensorboard: bool = True):
        self.path = folder / METRICS_NAME
        if resumed_at is not None:
            truncate_metrics(self.path, resumed_at)
        purge = None if resumed_at is None else resumed_at + 1  # events past the checkpoint are written again
        self.writer = tensorboard_writer(folder, purge) if tensorboard else None
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def write(self, line: dict[str, Any]) -> None:
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()
        if self.writer is None:
            return
        step = line["step"]
        for name in ("episode_return", "eval_return", "fps"):
            if line.get(name) is not None:
                self.writer.add_scalar(f"{'perf' if name == 'fps' else 'return'}/{name}", line[name], step)
        for name, value in line["losses"].items():
            if value is not None:
                self.writer.add_scalar(f"train/{name}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self._file.close()
        if self.writer is not None:
            self.writer.close()


def metrics_line(c: dict[str, Any], fps: float, action_repeat: int) -> dict[str, Any]:
    """One metrics.jsonl line from the loop's counters."""
    return {"step": c["step"], "env_frames": c["step"] * action_repeat, "episode": c["episode"],
            "updates": c["updates"], "fps": round(fps, 2), "episode_return": c["last_return"],
            "eval_return": c["last_eval"], "eval_step": c["last_eval_step"],
            "losses": {k: (v if math.isfinite(v) else None) for k, v in c["losses"].items()}}


def progress_line(line: dict[str, Any], total: int, losses: tuple[str, ...]) -> str:
    """The progress line: steps, speed, updates, returns and the family's main losses."""
    parts = [f"step {line['step']:,}/{total:,}", f"{line['fps']:.1f} steps/s", f"updates {line['updates']:,}"]
    for key, label in (("episode_return", "return"), ("eval_return", "eval")):
        if line[key] is not None:
            parts.append(f"{label} {line[key]:.2f}")
    parts += [f"{name} {line['losses'][name]:.4g}" for name in losses if line["losses"].get(name) is not None]
    return "  ".join(parts)


def tensorboard_writer_available() -> bool:
    """Whether ``torch.utils.tensorboard`` can write event files (the tensorboard package is installed)."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None
