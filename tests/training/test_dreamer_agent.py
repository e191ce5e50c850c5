"""`worldflux train` / `eval` with DreamerV3: sequences across episodes, the posterior filter and the actor, the
replay context stored while acting and rewritten after updates, exact resume, pixels, discrete actions."""

from __future__ import annotations

import functools
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.training.helpers import cli_invoker, train_small

ENV = "gym:Pendulum-v1?episode_length=50"
TRAINING = {"total_steps": 120, "prefill_steps": 50, "batch_size": 4, "sequence_length": 8, "train_ratio": 0.2,
            "replay_size": 1000, "eval_interval": 120, "eval_episodes": 1, "log_interval": 20,
            "checkpoint_interval": 0, "seed": 0}


def write_dreamer_run(cli, path: Path, env: str = ENV, model_sets: tuple[str, ...] = (), **training) -> Path:
    """A run file: dreamer:tiny fitted to ``env`` with TRAINING and ``training``."""
    sets = [a for s in ("device=cpu", *model_sets) for a in ("--set", s)]
    r = cli("new", "--model", "dreamer", "--size", "tiny", "--env", env, *sets, "-o", str(path), "--force")
    assert r.exit_code == 0, r.output
    run = json.loads(path.read_text())
    run["training"].update({**TRAINING, **training})
    path.write_text(json.dumps(run, indent=1))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cli = cli_invoker()
    root = tmp_path_factory.mktemp("dreamer")
    run = write_dreamer_run(cli, root / "run.json")
    return run, train_small(cli, root / "out", run)


def test_train_writes_a_model_folder_with_the_dreamer_losses(trained):
    import torch

    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.hub.push import check_push_folder
    from worldflux_cli.models import build_model
    from worldflux_cli.training.checkpoint import load_checkpoint
    from worldflux_cli.training.layout import layout_of
    from worldflux_cli.training.replay import Replay

    run_file, out = trained
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [20, 40, 60, 80, 100, 120]
    assert lines[-1]["updates"] == 14  # 0.2 updates per step after the 50 prefill steps
    assert {"reconstruction", "kl_dyn", "policy", "value", "repval", "grad_norm_world"} <= set(lines[-1]["losses"])
    assert lines[-1]["eval_return"] is not None
    check_push_folder(out)
    run = RunConfig.load(run_file)
    model = build_model(run.model, device="cpu")
    replay = Replay(layout_of(run.model), 1000)
    counters, extra = load_checkpoint(out, model, replay)
    assert counters["step"] == 120 and counters["replay_restored"]
    assert {"agent/deter", "agent/stoch", "agent/action"} <= set(extra)
    n = int(replay.total[0])
    zero = np.abs(replay.data["deter"][0, :n]).sum(-1) == 0  # every stored step has its posterior state: only an
    starts = replay.data["is_first"][0, :n]  # episode's first one at untrained weights is exactly 0, and the newest
    assert not (zero[:-1] & ~starts[:-1]).any() and zero.sum() < 4  # step (never observed) is still empty
    assert replay.data["stoch"].dtype == np.uint8 and replay.data["stoch"].max() < run.model.stoch_classes
    assert replay.data["is_last"][0, :replay.total[0]].sum() == replay.data["is_first"][0, 1:replay.total[0]].sum()
    assert extra["agent/deter"].shape == (1, run.model.deter_dim) and extra["agent/action"].shape == (1, 1)
    for name, tensor in build_model(run.model, device="cpu").state_dict().items():  # trained: not the initial ones
        if name.startswith("rssm.gru"):
            assert not torch.equal(tensor, model.state_dict()[name]), name


def test_dreamer_interrupted_then_resumed_equals_uninterrupted(cli, trained, tmp_path, monkeypatch):
    import worldflux_cli.training.loop as loop

    run_file, reference = trained

    def interrupt_at_60(step):
        if step == 60:
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "out"
    with monkeypatch.context() as m:
        m.setattr(loop, "train", functools.partial(loop.train, on_step=interrupt_at_60))
        r = cli("train", str(run_file), "--output", str(out))
    assert r.exit_code == 130, r.output
    r = cli("train", str(run_file), "--output", str(out), "--resume", "--format", "json")
    assert r.exit_code == 0, r.output
    assert (reference / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    ref = [json.loads(x)["losses"] for x in (reference / "metrics.jsonl").read_text().splitlines()]
    got = [json.loads(x)["losses"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert ref == got


def test_dreamer_eval_is_deterministic_with_a_seed(cli, trained):
    _, out = trained
    args = ("eval", str(out), "--env", ENV, "--episodes", "2", "--seed", "5", "--format", "json")
    a, b = cli(*args), cli(*args)
    assert a.exit_code == 0, a.output
    assert json.loads(a.stdout) == json.loads(b.stdout)
    c = json.loads(cli("eval", str(out), "--env", ENV, "--episodes", "2", "--seed", "6", "--format", "json").stdout)
    assert c["returns"] != json.loads(a.stdout)["returns"]


def _agent(cli, tmp_path, **training):
    import torch

    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.models import build_model
    from worldflux_cli.training.dreamer_agent import DreamerV3Agent
    from worldflux_cli.training.replay import Replay

    run = RunConfig.load(write_dreamer_run(cli, tmp_path / "run.json", **training))
    torch.manual_seed(0)
    model = build_model(run.model, device="cpu")
    agent = DreamerV3Agent(model, run, 2)
    replay = Replay(agent.layout, 200, 2)
    agent.attach(replay)
    agent.configure_optimizers(run.resolved_training())
    return agent, replay


def test_acting_stores_each_steps_posterior_and_updates_rewrite_the_sampled_ones(cli, tmp_path):
    import torch

    agent, replay = _agent(cli, tmp_path)
    rng = np.random.default_rng(0)
    obs = np.zeros((2, 3), np.float32)
    for i in range(2):
        replay.add(i, i, **agent.first_entry(obs[i]))
    starts = np.ones(2, bool)
    for step in range(30):
        actions = agent.act(obs, starts, random=step < 10, rng=rng)
        assert actions.shape == (2, 1) and np.abs(actions).max() <= 1
        for i in range(2):
            index = replay.latest(i)
            assert np.array_equal(replay.data["deter"][i, index], agent.state_["deter"][i].numpy())
            classes = agent.state_["stoch"][i].view(-1, agent.classes).argmax(-1).numpy()
            assert np.array_equal(replay.data["stoch"][i, index], classes)
        obs = rng.normal(size=(2, 3)).astype(np.float32)
        for i in range(2):
            replay.add(i, i, **agent.entry(obs[i], actions[i], 1.0, False))
        starts = np.zeros(2, bool)
    sample = replay.sample(3, agent.sample_length, rng, one_episode=False)
    assert sample["obs"].shape == (9, 3, 3)  # 1 step of replay context + 8 trained steps, time-major
    metrics = agent.update(sample)
    assert np.isfinite(metrics["loss"])
    post = agent.model.last_posterior
    expected = {}  # (env, position) -> (deter, classes) of the last window that covers it (windows may overlap)
    for b, env in enumerate(sample["_env"]):
        for t, position in enumerate(sample["_index"][1:, b]):
            expected[int(env), int(position)] = (post["deter"][b, t].numpy(),
                                                 post["stoch"][b, t].view(-1, agent.classes).argmax(-1).numpy())
    for (env, position), (deter, classes) in expected.items():
        assert np.array_equal(replay.data["deter"][env, position], deter)
        assert np.array_equal(replay.data["stoch"][env, position], classes)
    assert torch.is_tensor(post["deter"])


def test_the_batch_is_the_models_convention(cli, tmp_path):
    agent, replay = _agent(cli, tmp_path)
    windows = {f.name: np.zeros((9, 3, *f.shape), f.dtype) for f in agent.layout}
    windows["is_terminal"][4, 1] = True
    batch = agent.batch(windows)
    assert batch["obs"].shape == (3, 9, 3) and batch["cont"][1, 4] == 0 and batch["cont"].sum() == 26
    assert batch["stoch"].shape == (3, 9, agent.model.config.stoch_dim) and batch["stoch"].sum() == 3 * 9 * 4


def test_discrete_actions_train_and_evaluate(cli, tmp_path):
    run = write_dreamer_run(cli, tmp_path / "run.json", env="gym:CartPole-v1?episode_length=40", total_steps=60,
                            prefill_steps=30, eval_interval=60, log_interval=60)
    out = train_small(cli, tmp_path / "out", run)
    config = json.loads((out / "config.json").read_text())
    assert config["action_type"] == "discrete" and config["action_dim"] == 2
    r = cli("eval", str(out), "--env", "gym:CartPole-v1?episode_length=40", "--episodes", "1", "--format", "json")
    assert r.exit_code == 0, r.output


@pytest.mark.slow
def test_pixels_train_from_uint8_frames(cli, tmp_path):
    run = write_dreamer_run(cli, tmp_path / "run.json", env="dmc:cartpole-balance?obs=pixels&episode_length=20",
                            total_steps=40, prefill_steps=30, batch_size=2, sequence_length=4, eval_interval=40,
                            eval_episodes=1, log_interval=40, replay_size=200)
    out = train_small(cli, tmp_path / "out", run)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["updates"] == 2 and lines[-1]["eval_return"] is not None
    assert json.loads((out / "config.json").read_text())["obs_shape"] == [3, 64, 64]


def test_bfloat16_mixed_precision_is_dreamers_option_only(cli, tmp_path):
    from tests.training.helpers import write_run

    run = write_dreamer_run(cli, tmp_path / "run.json", total_steps=60, prefill_steps=40, log_interval=60,
                            eval_interval=60, precision="bfloat16-mixed")
    out = train_small(cli, tmp_path / "out", run)
    losses = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][-1]["losses"]
    assert losses and all(v is not None for v in losses.values())
    tdmpc2 = write_run(cli, tmp_path / "t.json", precision="bfloat16-mixed")
    r = cli("train", str(tdmpc2), "--output", str(tmp_path / "t"))
    assert r.exit_code == 2 and "precision bfloat16-mixed (TD-MPC2: float32)" in r.output
