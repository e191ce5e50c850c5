"""`worldflux bench` on CPU with the tiny presets: JSON contract, output shapes, -o, --compare, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from worldflux_cli.bench import results as R

FAST = ["--device", "cpu", "--steps", "2", "--warmup", "1"]


@pytest.fixture(scope="module")
def tdmpc2_result(tmp_path_factory):
    """One small TD-MPC2 run (train + plan) shared by the contract tests."""
    from typer.testing import CliRunner

    from worldflux_cli.cli.app import app

    out = tmp_path_factory.mktemp("bench") / "tdmpc2.json"
    r = CliRunner().invoke(app, ["bench", "tdmpc2:tiny", *FAST, "--batch", "8", "--format", "json", "-o", str(out)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), out


@pytest.fixture(scope="module")
def dreamer_result():
    from typer.testing import CliRunner

    from worldflux_cli.cli.app import app

    r = CliRunner().invoke(app, ["bench", "--model", "dreamer", "--size", "tiny", *FAST, "--batch", "2", "--seq",
                                 "6", "-w", "train,imagine,agent", "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _exact_keys(result: dict) -> None:
    """Every object has exactly the contract's keys: a new key must be added to the contract too."""
    assert set(result) - {"comparison"} == set(R.TOP_KEYS)
    for key, spec in (("config", R.CONFIG_KEYS), ("settings", R.SETTINGS_KEYS), ("environment", R.ENV_KEYS),
                      ("params", R.PARAMS_KEYS)):
        assert set(result[key]) == set(spec), key
    for w in result["workloads"].values():
        assert set(w) == set(R.WORKLOAD_KEYS)
        assert set(w["peak_memory"]) == set(R.MEMORY_KEYS)


def test_json_contract_tdmpc2(tdmpc2_result):
    result, written = tdmpc2_result
    assert R.check_contract(result) == []
    _exact_keys(result)
    assert json.loads(written.read_text()) == result  # -o holds the same JSON as stdout
    assert result["schema"] == "worldflux.bench/1"
    assert list(result["workloads"]) == ["train", "plan"]
    assert result["params"]["matches"] is True and result["params"]["trainable"] > 0
    assert result["environment"]["device_type"] == "cpu" and result["environment"]["peak_tflops"] is None
    train, plan = result["workloads"]["train"], result["workloads"]["plan"]
    for w in (train, plan):
        assert len(w["times_s"]) == w["steps"] == 2 and w["warmup"] == 1
        assert all(t > 0 for t in w["times_s"])
        assert 0 < w["min_s"] <= w["median_s"] <= w["p90_s"] <= w["max_s"]
        assert w["samples_per_s"] == pytest.approx(w["samples_per_step"] / w["median_s"])
        assert w["flops_per_step"] > 0 and w["achieved_tflops"] > 0 and w["utilisation"] is None
        mem = w["peak_memory"]
        assert mem["kind"] == "cpu_rss" and mem["peak_bytes"] >= mem["baseline_bytes"] > 0
    assert train["batch"] == plan["batch"] == 8 and train["seq"] == 3  # the config's horizon
    assert train["env_steps_per_step"] == 8 * 3 and train["env_step_unit"] == "transitions"
    assert plan["env_steps_per_s"] is None
    assert result["distributed"] is None


def test_json_contract_dreamer(dreamer_result):
    result = dreamer_result
    assert R.check_contract(result) == []
    _exact_keys(result)
    assert list(result["workloads"]) == ["train", "imagine", "agent"]
    assert result["config"]["label"] == "dreamer:tiny" and result["settings"]["seq"] == 6
    assert result["params"]["matches"] is True
    train, imagine = result["workloads"]["train"], result["workloads"]["imagine"]
    assert train["samples_per_step"] == 2 and train["env_steps_per_step"] == 12
    assert train["env_steps_per_s"] == pytest.approx(12 / train["median_s"])
    horizon = result["config"]["values"]["imagination_horizon"]
    assert imagine["samples_per_step"] == 12 and imagine["env_steps_per_step"] == 12 * horizon
    assert "no actor-critic" in train["includes"] and "actor" in result["workloads"]["agent"]["includes"]
    # the agent step does strictly more work than the world-model step
    assert result["workloads"]["agent"]["flops_per_step"] > train["flops_per_step"]


def test_text_output_shape(dreamer_result):
    text = R.render_text(dreamer_result)
    lines = text.splitlines()
    assert lines[0].startswith("worldflux bench: dreamer:tiny (DreamerV3 tiny): ")
    assert "analytic count matches" in lines[0]
    assert lines[1].startswith("environment: torch ") and "threads" in lines[2] and "eager" in lines[2]
    header = next(i for i, line in enumerate(lines) if line.startswith("workload"))
    for col in ("batch", "median", "p90", "samples/s", "env-steps/s", "peak memory", "FLOP/step", "TFLOP/s"):
        assert col in lines[header]
    assert [line.split()[0] for line in lines[header + 1:header + 4]] == ["train", "imagine", "agent"]
    assert any(line.startswith("train: one step = world_model_loss forward") for line in lines)


def test_text_is_default_format(cli):
    r = cli("bench", "tdmpc2:tiny", *FAST, "--batch", "4", "-w", "train")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("worldflux bench: tdmpc2:tiny") and "train: one step = model.loss" in r.stdout
    assert r.stderr == ""  # no progress bar when stderr is not a terminal


def test_output_is_atomic_and_not_overwritten(cli, tdmpc2_result, tmp_path, monkeypatch):
    _, written = tdmpc2_result
    before = written.read_text()
    r = cli("bench", "tdmpc2:tiny", *FAST, "-w", "train", "--batch", "4", "-o", str(written))
    assert r.exit_code == 2 and "exists" in r.stderr and "--force" in r.stderr
    assert written.read_text() == before
    target = tmp_path / "res.json"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("worldflux_cli.fileio.os.replace", broken_replace)
    r = cli("bench", "tdmpc2:tiny", *FAST, "-w", "train", "--batch", "4", "-o", str(target), "--force")
    assert r.exit_code == 2 and "No space left" in r.stderr and "Traceback" not in r.stderr
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["res.json"]
    monkeypatch.undo()
    r = cli("bench", "tdmpc2:tiny", *FAST, "-w", "train", "--batch", "4", "-o", str(target), "--force")
    assert r.exit_code == 0 and R.check_contract(json.loads(target.read_text())) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.json"]


def test_compare(cli, tdmpc2_result, tmp_path):
    result, _ = tdmpc2_result
    old = json.loads(json.dumps(result))
    for w in old["workloads"].values():  # an old run twice as slow
        w["median_s"] *= 2
        w["samples_per_s"] /= 2
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(old))
    r = cli("bench", "tdmpc2:tiny", *FAST, "--batch", "8", "-w", "train", "--compare", str(old_path))
    assert r.exit_code == 0, r.output
    assert f"compared with {old_path} (ratio = new / old)" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.startswith("train") and "median_s" in line)
    assert row.split()[-1] in ("better", "worse", "same") and "x" in row
    assert "workload 'plan' is only in the old result" in r.stdout
    r = cli("bench", "tdmpc2:tiny", *FAST, "--batch", "8", "-w", "train", "--compare", str(old_path), "-f", "json")
    cmp = json.loads(r.stdout)["comparison"]
    rows = {(x["workload"], x["metric"]): x for x in cmp["rows"]}
    med = rows["train", "median_s"]
    assert med["ratio"] == pytest.approx(med["new"] / med["old"]) and med["better"] == "lower"
    assert rows["-", "params.trainable"]["ratio"] == 1.0


def test_compare_function_verdicts(tdmpc2_result):
    new, _ = tdmpc2_result
    old = json.loads(json.dumps(new))
    old["workloads"]["train"]["median_s"] = new["workloads"]["train"]["median_s"] * 2
    old["settings"]["batch"] = 16
    cmp = R.compare(new, old, "old.json")
    row = next(x for x in cmp["rows"] if x["workload"] == "train" and x["metric"] == "median_s")
    assert row["ratio"] == pytest.approx(0.5) and row["verdict"] == "better"
    assert "settings differ: batch 16 (old) -> 8 (new)" in cmp["notes"]
    assert "ratio = new / old" in R.render_comparison(cmp)


def test_errors_are_one_line(cli, tmp_path):
    import torch

    if not torch.cuda.is_available():
        r = cli("bench", "tdmpc2:tiny", "--device", "cuda")
        assert r.exit_code == 2
        assert r.stderr.splitlines()[0].startswith("worldflux: error: CUDA was asked for but is not available")
        assert "--device cpu" in r.stderr and len(r.stderr.splitlines()) == 2 and r.stdout == ""
        r = cli("bench", "tdmpc2:tiny", "--device", "cuda:1")
        assert r.exit_code == 2 and "CUDA was asked for" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "tdmpc2", "latent_dim": 100, "hidden_dim": "wide"}')
    r = cli("bench", str(bad), "--device", "cpu")
    assert r.exit_code == 1 and "WF210" in r.stderr and "WF102" in r.stderr and "nothing was measured" in r.stderr
    checks = [
        (["tdmpc2:tiny", "-w", "trian"], "unknown workload 'trian'; did you mean 'train'?"),
        (["tdmpc2:tiny", "-w", "train,imagine"], "workload 'imagine' does not apply to TD-MPC2"),
        (["dreamer:tiny", "-w", "plan"], "workload 'plan' does not apply to DreamerV3"),
        (["dreamer:tiny", "--nproc", "2", "-w", "train,imagine"], "--nproc measures the train workload only"),
        (["tdmpc2:tiny", "--device", "gpu"], "unknown device 'gpu'"),
        (["tdmpc2:tiny", "--seq", "300"], "--seq 300 is not a valid TD-MPC2 horizon"),
        (["--model", "dreamer"], "no config to measure"),
        (["dreamer:tiny", "--model", "dreamer"], "either CONFIG or --model/--size"),
        (["dreamer:size51m"], "did you mean 'size50m'"),
        (["tdmpc2:tiny", "--compare", str(tmp_path / "none.json")], "no such file"),
        (["tdmpc2:tiny", "--compare", str(bad)], "is not a worldflux bench result"),
    ]
    for args, message in checks:
        r = cli("bench", *args, "--device", "cpu") if "--device" not in args else cli("bench", *args)
        assert r.exit_code == 2, (args, r.output)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == ""


def test_out_of_memory_names_the_batch(cli, monkeypatch):
    import torch

    def oom(ctx, name):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr("worldflux_cli.bench.runner.prepare", oom)
    r = cli("bench", "dreamer:tiny", "--device", "cpu", "--batch", "64", "--seq", "32", "-w", "train")
    assert r.exit_code == 2
    assert "out of memory in workload 'train' at --batch 64 x --seq 32 on cpu" in r.stderr
    assert "try --batch 32" in r.stderr and "Traceback" not in r.stderr


def test_nproc_2_gloo_runs_two_processes(tmp_path):
    out = tmp_path / "ddp.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "worldflux_cli", "bench", "tdmpc2:tiny", *FAST, "--batch", "16",
                           "--nproc", "2", "-o", str(out)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(out.read_text())
    assert R.check_contract(result) == []
    d = result["distributed"]
    assert d["nproc"] == 2 and d["backend"] == "gloo" and d["launcher"].endswith("elastic_launch")
    assert [r["rank"] for r in d["per_rank"]] == [0, 1]
    pids = {r["pid"] for r in d["per_rank"]}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes
    assert all(r["samples_per_s"] > 0 and r["median_s"] > 0 for r in d["per_rank"])
    assert d["global_batch"] == 32 and d["threads_per_rank"] == max(1, (os.cpu_count() or 1) // 2)
    assert d["total_samples_per_s"] > 0 and d["scaling_efficiency"] > 0
    assert d["baseline_samples_per_s"] == result["workloads"]["train"]["samples_per_s"]
    assert "distributed train: 2 processes, DDP over gloo" in proc.stdout
    assert "scaling efficiency" in proc.stdout


def test_help_does_not_import_torch(tmp_path):
    code = ("import sys\nfrom worldflux_cli.cli.app import app\ntry:\n    app(['bench', '--help'])\n"
            "except SystemExit:\n    pass\nprint('TORCH=' + str('torch' in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    assert "TORCH=False" in proc.stdout, proc.stdout + proc.stderr
    assert "worldflux bench dreamer:tiny --device cpu" in proc.stdout  # help ends with examples
