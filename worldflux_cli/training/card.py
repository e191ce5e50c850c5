"""The training section appended to a trained model folder's README.md (the model card). Torch-free."""

from __future__ import annotations

from typing import Any


def _number(value: float | None) -> str:
    return "not evaluated" if value is None else f"{value:.2f}"


def training_section(run: Any, counters: dict[str, Any], total: int) -> str:
    """Markdown: the environment, the steps trained, the last evaluation and training returns."""
    t = run.resolved_training()
    rows = [("environment", f"`{run.env.ref()}`"), ("agent steps trained", f"{counters['step']:,} of {total:,}"),
            ("episodes", f"{counters['episode']:,}"), ("gradient updates", f"{counters['updates']:,}"),
            ("last evaluation (mean return)", _number(counters.get("last_eval"))
             + (f" at step {counters['last_eval_step']:,}, {t['eval_episodes']} episode(s)"
                if counters.get("last_eval_step") is not None else "")),
            ("last training episode return", _number(counters.get("last_return"))),
            ("seed", str(t["seed"])), ("batch", f"{t['batch_size']} x {t['sequence_length']}")]
    lines = ["## Training", "", "Trained with `worldflux train` (the run file is `run.json`; metrics per log "
             "interval in `metrics.jsonl`; the checkpoint to resume from in `checkpoints/`, safetensors only).",
             "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines) + "\n"
