"""The CUDA paths of `worldflux bench` (skipped without a GPU)."""

from __future__ import annotations

import json

import pytest
import torch

from worldflux_cli.bench import results as R

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

FAST = ["--device", "cuda", "--steps", "3", "--warmup", "1", "--format", "json"]


@pytest.mark.parametrize("preset,workloads", [("tdmpc2:tiny", "train,plan"), ("dreamer:tiny", "train,imagine,agent")])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_workloads(cli, preset, workloads, dtype):
    r = cli("bench", preset, *FAST, "--batch", "4", "--seq", "8" if preset.startswith("dreamer") else "3",
            "-w", workloads, "--dtype", dtype)
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert R.check_contract(result) == []
    env = result["environment"]
    assert env["device_type"] == "cuda" and env["device"].startswith("cuda:") and env["dtype"] == dtype
    assert env["peak_tflops"] is None or env["peak_tflops"] > 0
    for w in result["workloads"].values():
        assert w["peak_memory"]["kind"] == "cuda_allocator" and w["peak_memory"]["peak_bytes"] > 0
        assert all(t > 0 for t in w["times_s"]) and w["flops_per_step"] > 0
        if env["peak_tflops"]:
            assert 0 < w["utilisation"] < 1


def test_cuda_compile(cli):
    r = cli("bench", "tdmpc2:tiny", *FAST, "--batch", "16", "-w", "train", "--compile")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["environment"]["compile"] is True
    train = result["workloads"]["train"]
    assert train["first_step_s"] >= train["median_s"]  # compilation happens in the first warm-up step


def test_cuda_bad_index(cli):
    r = cli("bench", "tdmpc2:tiny", "--device", f"cuda:{torch.cuda.device_count()}")
    assert r.exit_code == 2 and "does not exist" in r.stderr
