"""The training section appended to a trained model folder's README.md (the model card). Torch-free."""

from __future__ import annotations

from typing import Any


def _number(value: float | None) -> str:
    return "not evaluated" if value is None else f"{value:.2f}"


def training_section(run: Any, counters: dict[str, Any], total: int, evals: list[tuple[int, float]] | None = None,
                     curve: str | None = None) -> str:
    """Markdown: the environment, the steps trained, the last evaluation and training returns, the return curve
    (``curve``: the file name of its image beside the card) and the evaluations (step, mean return) in a table
    (at most 20 rows: the first, the last, evenly between)."""
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
    if curve is not None:
        lines += ["", f"![return curve: evaluation and training episodes over agent steps]({curve})"]
    if evals:
        shown = evals if len(evals) <= 20 else [evals[round(i * (len(evals) - 1) / 19)] for i in range(20)]
        lines += ["", "| agent step | evaluation (mean return) |", "|---|---|"]
        lines += [f"| {step:,} | {value:.2f} |" for step, value in shown]
    return "\n".join(lines) + "\n"
