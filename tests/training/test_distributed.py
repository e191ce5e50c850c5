"""`worldflux train --nproc 2`: data-parallel TD-MPC2 on gloo (CPU), ranks' weights identical after updates."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from tests.training.helpers import write_run


@pytest.mark.slow
def test_two_ranks_update_in_step_write_one_folder_and_resume(cli, tmp_path):
    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.training.distributed import launch

    run_file = write_run(cli, tmp_path / "run.json", total_steps=80, prefill_steps=40, log_interval=20,
                         eval_interval=80, checkpoint_interval=0)
    run, out = RunConfig.load(run_file), tmp_path / "out"
    out.mkdir()
    ranks = launch(run, out, 2, resume=False, steps=60, save_replay=True, tensorboard=False, progress=False,
                   threads=1)
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["step"] == 60 for r in ranks)
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]  # gradients averaged, buffers from rank 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [20, 40, 60]  # steps of both ranks, written once (rank 0)
    assert lines[-1]["updates"] == 10  # (60 - 40) steps past prefill, 2 ranks: 10 updates of each
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["checkpoint.safetensors", "rank1.safetensors", "replay-rank1.safetensors",
                     "replay.safetensors"]
    replay0 = load_file(str(out / "checkpoints" / "replay.safetensors"))
    replay1 = load_file(str(out / "checkpoints" / "replay-rank1.safetensors"))
    assert not (replay0["obs"] == replay1["obs"]).all()  # each rank acts in its own environments
    first = load_file(str(out / "model.safetensors"))
    r = cli("train", str(run_file), "--output", str(out), "--resume", "--nproc", "2", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["resumed_from"] == 60 and data["steps"] == 80 and data["nproc"] == 2
    after = load_file(str(out / "model.safetensors"))
    assert any(not (first[k] == after[k]).all() for k in first)  # it went on training


def test_ranks_that_fail_report_the_error_without_a_traceback(cli, tmp_path):
    run_file = write_run(cli, tmp_path / "run.json")
    r = cli("train", str(run_file), "--output", str(tmp_path / "empty"), "--resume", "--nproc", "2")
    assert r.exit_code == 2 and "no checkpoint" in r.stderr and "Traceback" not in r.output


def test_a_run_resumes_only_on_the_number_of_processes_it_was_trained_on(cli, tmp_path):
    run_file = write_run(cli, tmp_path / "run.json", total_steps=60, eval_interval=60)
    out = tmp_path / "out"
    assert cli("train", str(run_file), "--output", str(out), "--steps", "20").exit_code == 0
    r = cli("train", str(run_file), "--output", str(out), "--resume", "--nproc", "2")
    assert r.exit_code == 2 and "trained on 1 process(es), not 2" in r.stderr and "--nproc 1" in r.stderr
    assert "Traceback" not in r.output


@pytest.mark.slow
def test_ctrl_c_stops_every_rank_at_one_step_with_a_checkpoint(cli, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from safetensors import safe_open

    from tests.conftest import ROOT

    run_file = write_run(cli, tmp_path / "run.json", total_steps=100_000, eval_interval=100_000, log_interval=20)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "worldflux_cli", "train", str(run_file), "-o", str(out),
                             "--nproc", "2", "--no-tensorboard"], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        for line in proc.stderr:
            if line.startswith("step 60/"):
                os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: every process of the group
                break
        rest = proc.stderr.read()
        assert proc.wait(timeout=120) == 130, rest
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "interrupted at step" in rest and "Traceback" not in rest
    steps = []
    for name in ("checkpoint", "rank1"):
        with safe_open(str(out / "checkpoints" / f"{name}.safetensors"), "pt") as fh:
            steps.append(json.loads(fh.metadata()["worldflux_checkpoint"])["counters"]["step"])
    assert steps[0] == steps[1] >= 60  # both ranks stopped after the same step


@pytest.mark.slow
def test_dreamer_ranks_update_in_step(cli, tmp_path):
    """DreamerV3 through the same data-parallel path: one update's gradients averaged inside model.update (its
    grad_hook), the return normaliser's buffers from rank 0: equal weights on both ranks."""
    from tests.training.test_dreamer_agent import write_dreamer_run
    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.training.distributed import launch

    run_file = write_dreamer_run(cli, tmp_path / "run.json", total_steps=60, prefill_steps=40, log_interval=60,
                                 eval_interval=60, checkpoint_interval=0)
    out = tmp_path / "out"
    out.mkdir()
    ranks = launch(RunConfig.load(run_file), out, 2, resume=False, steps=60, save_replay=True, tensorboard=False,
                   progress=False, threads=1)
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["updates"] == 2  # 0.2 updates per step of each rank's 10 steps past prefill
