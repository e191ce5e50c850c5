"""`worldflux train` and `worldflux eval` on a tiny TD-MPC2 run (gym:Pendulum-v1, 120 steps)."""

from __future__ import annotations

import functools
import json
import os
import signal

import pytest

from tests.training.helpers import ENV, cli_invoker, train_small, write_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run file, folder) of one uninterrupted 120-step run."""
    cli = cli_invoker()
    root = tmp_path_factory.mktemp("trained")
    run = write_run(cli, root / "run.json")
    return run, train_small(cli, root / "out", run)


def _no_traceback(r) -> str:
    assert "Traceback" not in r.output
    return r.stderr


def test_train_writes_a_model_folder_metrics_and_checkpoint(trained):
    import torch

    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.hub.pretrained import load_pretrained
    from worldflux_cli.hub.push import check_push_folder
    from worldflux_cli.models import build_model
    from worldflux_cli.training.checkpoint import load_checkpoint
    from worldflux_cli.training.layout import tdmpc2_layout
    from worldflux_cli.training.replay import Replay

    run_file, out = trained
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
                   and not p.relative_to(out).as_posix().startswith("tensorboard/"))
    assert names == ["README.md", "checkpoints/checkpoint.safetensors", "checkpoints/replay.safetensors",
                     "config.json", "metrics.jsonl", "model.safetensors", "return_curve.svg", "run.json"]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [20, 40, 60, 80, 100, 120]
    assert all({"fps", "episode_return", "losses", "updates", "env_frames"} <= line.keys() for line in lines)
    assert lines[-1]["updates"] == 70 and "world_model_loss" in lines[-1]["losses"]
    assert lines[-1]["episode_return"] is not None and lines[-1]["eval_return"] is not None
    card = (out / "README.md").read_text()
    assert "## Training" in card and "gym:Pendulum-v1" in card and "120 of 120" in card
    assert f"{lines[-1]['eval_return']:.2f}" in card
    assert "![return curve" in card and "(return_curve.svg)" in card and "| 120 |" in card  # the curve, the table
    import xml.etree.ElementTree as ET

    svg = ET.fromstring((out / "return_curve.svg").read_text())  # well-formed: the Hub renders it
    lines_drawn = [e for e in svg if e.tag.endswith("polyline")]
    assert len(lines_drawn) == 2  # training episodes and evaluations
    check_push_folder(out)  # config, weights, the checkpoint files: sound, nothing pickled
    model, config = load_pretrained(out, device="cpu")
    run = RunConfig.load(run_file)
    fresh = build_model(run.model, device="cpu")
    replay = Replay(tdmpc2_layout((3,), 1), 1000)
    counters, extra = load_checkpoint(out, fresh, replay)
    assert counters["step"] == 120 and counters["replay_restored"] and replay.total[0] == 120 + counters["episode"] + 1
    assert extra["agent/plan_mean"].shape == (1, 3, 1) and extra["episode_actions/0"].shape == (20, 1)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, fresh.state_dict()[name]), name


def test_interrupted_then_resumed_equals_uninterrupted(cli, trained, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    import worldflux_cli.training.loop as loop

    run_file, reference = trained

    def interrupt_at_60(step):
        if step == 60:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: handled between steps

    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(loop, "train", functools.partial(loop.train, on_step=interrupt_at_60))
        r = cli("train", str(run_file), "--output", str(out))
    assert r.exit_code == 130, r.output
    assert "interrupted at step 60" in _no_traceback(r)
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [20, 40, 60]
    r = cli("train", str(run_file), "--output", str(out), "--resume", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["resumed_from"] == 60
    want, got = load_file(str(reference / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert want.keys() == got.keys()
    assert all((want[k] == got[k]).all() for k in want)
    assert (reference / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    ref_lines = [json.loads(x) for x in (reference / "metrics.jsonl").read_text().splitlines()]
    out_lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(x["step"], x["losses"]) for x in ref_lines] == [(x["step"], x["losses"]) for x in out_lines]


def test_eval_is_deterministic_with_a_seed(cli, trained):
    _, out = trained
    args = ("eval", str(out), "--env", ENV, "--episodes", "2", "--seed", "3", "--format", "json")
    first, second = cli(*args), cli(*args)
    assert first.exit_code == 0, first.output
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a == b and len(a["returns"]) == 2 and a["episodes"] == 2 and a["seed"] == 3
    assert a["mean"] == pytest.approx(sum(a["returns"]) / 2)
    text = cli("eval", str(out), "--env", ENV, "--episodes", "1", "--seed", "3")
    assert text.exit_code == 0 and "mean return" in text.stdout


def test_eval_refuses_a_model_that_does_not_fit_the_env(cli, trained):
    _, out = trained
    r = cli("eval", str(out), "--env", "gym:MountainCarContinuous-v0", "--episodes", "1")
    assert r.exit_code == 1
    assert "does not fit" in _no_traceback(r)


@pytest.mark.parametrize("case", ["missing", "invalid", "precision", "model-config", "not-empty", "no-checkpoint",
                                  "resume-other-model"])
def test_train_bad_input_exits_1_or_2_without_traceback(cli, tmp_path, trained, case):
    run_file, out = trained
    data = json.loads(run_file.read_text())
    path, extra, code, says = tmp_path / "run.json", [], 2, ""
    if case == "missing":
        path, says = tmp_path / "nope.json", "nope.json"
    elif case == "invalid":
        data["training"]["batch_size"] = 0
        code, says = 1, "not a valid config"
    elif case == "precision":
        data["training"]["precision"] = "float16-mixed"
        says = "not supported yet"
    elif case == "model-config":
        data = data["model"]
        says = "not a run file"
    elif case == "not-empty":
        extra, says = ["--output", str(out)], "not empty"
    elif case == "no-checkpoint":
        extra, says = ["--output", str(tmp_path / "empty"), "--resume"], "no checkpoint"
    else:
        data["model"]["num_samples"] = 32
        extra, says = ["--output", str(out), "--resume"], "not the one"
    if case != "missing":
        path.write_text(json.dumps(data))
    r = cli("train", str(path), *(extra or ["--output", str(tmp_path / "o")]))
    assert r.exit_code == code, r.output
    assert says in _no_traceback(r)


def test_eval_of_a_missing_folder_exits_2(cli, tmp_path):
    r = cli("eval", str(tmp_path / "nope"), "--env", ENV)
    assert r.exit_code == 2 and "no such model folder" in _no_traceback(r)
