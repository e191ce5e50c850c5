"""Several environments in lock-step, and pixel observations (TD-MPC2 on dmc pixels, stored as uint8)."""

from __future__ import annotations

import functools
import json
import os
import signal

import numpy as np
import pytest

from tests.training.helpers import train_small, write_run

PIXELS = "dmc:cartpole-balance?obs=pixels&episode_length=25"


def _replay(out):
    from safetensors.numpy import load_file

    return load_file(str(out / "checkpoints" / "replay.safetensors"))


def test_num_envs_counts_steps_over_the_envs_and_keeps_each_envs_episodes_apart(cli, tmp_path):
    run = write_run(cli, tmp_path / "run.json", num_envs=3, total_steps=90, prefill_steps=30, log_interval=30,
                    eval_interval=90)
    out = train_small(cli, tmp_path / "out", run)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [30, 60, 90]
    assert lines[-1]["updates"] == 60  # train_ratio 1: one update per agent step after prefill, all envs counted
    replay = _replay(out)
    assert replay["obs"].shape == (3, 31, 3)  # one ring per env: 30 steps each, plus its first observation
    episodes = replay["episode"]
    assert [sorted(set(row.tolist())) for row in episodes] == [[0], [1], [2]]  # env i plays episode i
    # every env's ring holds its own trajectory: consecutive entries differ (the envs are seeded apart)
    assert not np.array_equal(replay["obs"][0], replay["obs"][1])


def test_num_envs_runs_interrupted_and_resumed_end_with_the_same_weights(cli, tmp_path, monkeypatch):
    import worldflux_cli.training.loop as loop

    run = write_run(cli, tmp_path / "run.json", num_envs=2, total_steps=120)
    reference = train_small(cli, tmp_path / "ref", run)
    out = tmp_path / "out"

    def interrupt_at_60(step):
        if step == 60:
            os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as m:
        m.setattr(loop, "train", functools.partial(loop.train, on_step=interrupt_at_60))
        r = cli("train", str(run), "--output", str(out))
    assert r.exit_code == 130, r.output
    r = cli("train", str(run), "--output", str(out), "--resume")
    assert r.exit_code == 0, r.output
    assert (reference / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    ref_lines = (reference / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["losses"] for x in ref_lines] == \
        [json.loads(x)["losses"] for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_one_env_is_the_default_and_a_different_num_envs_changes_the_run(cli, tmp_path):
    one = train_small(cli, tmp_path / "one", write_run(cli, tmp_path / "one.json", total_steps=60, eval_interval=60))
    two = train_small(cli, tmp_path / "two", write_run(cli, tmp_path / "two.json", total_steps=60, eval_interval=60,
                                                                      num_envs=2))
    assert (one / "model.safetensors").read_bytes() != (two / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_pixels_train_from_uint8_frames_and_evaluate(cli, tmp_path):
    run = write_run(cli, tmp_path / "run.json", env=PIXELS, num_envs=2, total_steps=40, prefill_steps=20,
                    batch_size=8, log_interval=20, eval_interval=40)
    data = json.loads(run.read_text())
    data["model"]["cnn_channels"] = 4
    run.write_text(json.dumps(data))
    out = train_small(cli, tmp_path / "out", run)
    replay = _replay(out)
    assert replay["obs"].dtype == np.uint8 and replay["obs"].shape == (2, 21, 3, 64, 64)
    assert replay["obs"].max() > replay["obs"].min()  # real frames, not zeros
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["updates"] == 20 and lines[-1]["eval_return"] is not None
    assert all(v is not None for v in lines[-1]["losses"].values())
    r = cli("eval", str(out), "--env", PIXELS, "--episodes", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["returns"][0] == pytest.approx(lines[-1]["eval_return"], abs=30)
