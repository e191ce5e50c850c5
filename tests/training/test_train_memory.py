"""The memory budget of `worldflux train` (replay buffer + model, before anything is built) and `info RUN`."""

from __future__ import annotations

import json
import re

from tests.training.helpers import write_run

FREE = 64 * 2**20  # the free memory the budget tests pretend the machine has


def _pixels_run(cli, path, **training):
    return write_run(cli, path, env="dmc:cartpole-balance?obs=pixels", **training)


def test_info_of_a_run_gives_the_replay_buffer_and_the_total(cli, tmp_path):
    run = _pixels_run(cli, tmp_path / "run.json", replay_size=1000, num_envs=2)
    r = cli("info", str(run), "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    replay = data["run"]["replay"]
    assert replay["obs_dtype"] == "uint8" and replay["fields"]["obs"] == 3 * 64 * 64
    assert replay["bytes_per_step"] == 3 * 64 * 64 + 4 * 3 + 8 and replay["capacity_steps"] == 1000
    assert replay["bytes"] == 1000 * replay["bytes_per_step"]
    assert data["memory"]["batch"] == 16  # the run's batch_size, not info's default
    assert data["run"]["total_bytes"] == replay["bytes"] + data["memory"]["training_total_bytes"]
    text = cli("info", str(run))
    assert "replay buffer (1,000 steps x 12,308 bytes, obs uint8, 2 envs)" in text.stdout
    assert "run total" in text.stdout
    model_only = cli("info", "tdmpc2:5m", "--format", "json")
    assert "run" not in json.loads(model_only.stdout)


def test_an_over_budget_run_is_refused_with_the_figures_and_a_replay_size_that_fits(cli, tmp_path, monkeypatch):
    import worldflux_cli.training.memory as memory

    monkeypatch.setattr(memory, "free_bytes", lambda device: FREE)
    run = _pixels_run(cli, tmp_path / "run.json", replay_size=100_000)
    r = cli("train", str(run), "--output", str(tmp_path / "out"))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "replay buffer 1.15 GiB = 100,000 steps x 12,308 bytes (obs uint8)" in r.stderr
    assert "64.0 MiB free" in r.stderr and "--force-memory" in r.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was made
    fits = int(re.search(r"about ([\d,]+) fits", r.stderr).group(1).replace(",", ""))
    data = json.loads(run.read_text())
    data["training"]["replay_size"] = fits  # the hint is right: that many steps pass the check
    run.write_text(json.dumps(data))
    from worldflux_cli.config.run import RunConfig

    memory.check_run_memory(RunConfig.load(run), "run", __import__("torch").device("cpu"))


def test_force_memory_trains_anyway(cli, tmp_path, monkeypatch):
    import worldflux_cli.training.memory as memory

    monkeypatch.setattr(memory, "free_bytes", lambda device: 2**20)
    run = write_run(cli, tmp_path / "run.json", total_steps=60, eval_interval=60)
    assert cli("train", str(run), "--output", str(tmp_path / "a")).exit_code == 1
    r = cli("train", str(run), "--output", str(tmp_path / "b"), "--force-memory")
    assert r.exit_code == 0, r.output
