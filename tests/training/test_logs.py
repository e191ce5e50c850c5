"""A run's logs: metrics.jsonl always, TensorBoard event files when tensorboard is installed, the progress line."""

from __future__ import annotations

import json

import pytest

from tests.training.helpers import write_run


def _scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_gets_the_metrics_lines_figures_and_the_progress_line_shows_them(cli, tmp_path):
    pytest.importorskip("tensorboard")
    run = write_run(cli, tmp_path / "run.json", total_steps=80, eval_interval=80, log_interval=40,
                    prefill_steps=30)
    r = cli("train", str(run), "--output", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    scalars = _scalars(tmp_path / "out")
    assert [step for step, _ in scalars["train/world_model_loss"]] == [40, 80]
    assert scalars["train/world_model_loss"][-1][1] == pytest.approx(lines[-1]["losses"]["world_model_loss"])
    assert scalars["return/eval_return"] == [(80, pytest.approx(lines[-1]["eval_return"]))]
    assert "perf/fps" in scalars and "return/episode_return" in scalars
    progress = [x for x in r.stderr.splitlines() if x.startswith("step ")]
    assert progress[0].startswith("step 40/80") and "steps/s" in progress[0] and "updates 10" in progress[0]
    assert "world_model_loss" in progress[-1] and "pi_loss" in progress[-1] and "eval " in progress[-1]
    assert "return " in progress[-1]


def test_a_resumed_run_logs_each_step_once(cli, tmp_path):
    pytest.importorskip("tensorboard")
    run = write_run(cli, tmp_path / "run.json", total_steps=60, eval_interval=60, log_interval=20,
                    checkpoint_interval=40, prefill_steps=10)
    out = tmp_path / "out"
    assert cli("train", str(run), "--output", str(out), "--steps", "50").exit_code == 0  # logs 20, 40, 50
    assert cli("train", str(run), "--output", str(out), "--resume").exit_code == 0
    steps = [step for step, _ in _scalars(out)["train/world_model_loss"]]
    assert steps == [20, 40, 50, 60]  # nothing past the checkpoint (step 50) twice
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [20, 40, 50, 60]


def test_without_tensorboard_the_run_writes_metrics_only_and_says_so(cli, tmp_path, monkeypatch):
    import worldflux_cli.training.logs as logs

    monkeypatch.setattr(logs, "tensorboard_writer", lambda folder, purge_step: None)
    monkeypatch.setattr(logs, "tensorboard_writer_available", lambda: False)
    run = write_run(cli, tmp_path / "run.json", total_steps=60, eval_interval=60, eval_episodes=0)
    r = cli("train", str(run), "--output", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "out" / "tensorboard").exists() and (tmp_path / "out" / "metrics.jsonl").is_file()
    assert "tensorboard is not installed" in r.stderr
    r = cli("train", str(run), "--output", str(tmp_path / "quiet"), "--no-tensorboard")
    assert r.exit_code == 0 and "tensorboard" not in r.stderr
