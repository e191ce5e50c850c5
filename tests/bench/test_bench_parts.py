"""The harness's parts on their own: percentiles, device peaks, memory, FLOPs, workload resolution."""

from __future__ import annotations

import pytest
import torch

from worldflux_cli.bench import BenchError
from worldflux_cli.bench.devices import known_gpu, peak_tflops
from worldflux_cli.bench.flops import count_flops
from worldflux_cli.bench.peak_memory import PeakMemory
from worldflux_cli.bench.timing import percentile, summarize, time_steps, warm_up
from worldflux_cli.bench.workloads import resolve_workloads
from worldflux_cli.errors import WorldfluxError
from worldflux_cli.models.device import resolve_device, resolve_dtype


def test_percentile_and_summary():
    xs = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(xs, 50) == 3.0 and percentile(xs, 0) == 1.0 and percentile(xs, 100) == 5.0
    assert percentile(xs, 90) == pytest.approx(4.6)  # numpy's linear interpolation
    s = summarize(xs)
    assert s["median_s"] == 3.0 and s["p90_s"] == pytest.approx(4.6) and s["min_s"] == 1.0 and s["max_s"] == 5.0
    assert summarize([2.0])["std_s"] == 0.0


def test_timing_counts_steps_and_excludes_warmup():
    calls = []
    first = warm_up(lambda: calls.append("w"), 2, torch.device("cpu"))
    times = time_steps(lambda: calls.append("t"), 3, torch.device("cpu"))
    assert calls == ["w", "w", "t", "t", "t"] and len(times) == 3 and all(t > 0 for t in times)
    assert first is not None and first > 0
    assert warm_up(lambda: None, 0, torch.device("cpu")) is None


@pytest.mark.parametrize("name,key", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"),
    ("NVIDIA H200 NVL", "H200 NVL"),
    ("NVIDIA GH200 480GB", "GH200"),
    ("NVIDIA A100-SXM4-40GB", "A100"),
    ("NVIDIA A100-SXM4-80GB", "A100"),
    ("NVIDIA A100 80GB PCIe", "A100"),
    ("NVIDIA L4", "L4"),
    ("NVIDIA L40S", "L40S"),
    ("NVIDIA A10G", "A10"),
    ("NVIDIA GeForce RTX 3090", None),
])
def test_known_gpus(name, key):
    assert known_gpu(name) == key


def test_peaks_per_dtype():
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bfloat16") == pytest.approx(989.4)
    assert peak_tflops("NVIDIA H100 80GB HBM3", "float32") == pytest.approx(66.9)
    assert peak_tflops("NVIDIA H100 80GB HBM3", "float32", "high") == pytest.approx(494.7)  # TF32 allowed
    assert peak_tflops("NVIDIA A100-SXM4-40GB", "float16") == pytest.approx(312.0)
    assert peak_tflops("NVIDIA L4", "bfloat16") == pytest.approx(121.0)
    assert peak_tflops("NVIDIA V100-SXM2-16GB", "bfloat16") is None
    assert peak_tflops("Some GPU", "float32") is None


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(" CPU ") == torch.device("cpu") and resolve_device("meta") == torch.device("meta")
    for bad in ("gpu", "cuda:x", "tpu", "cuda:", ""):
        with pytest.raises(WorldfluxError, match="unknown device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(WorldfluxError, match="CUDA was asked for") as err:
            resolve_device("cuda:0")
        assert err.value.exit_code == 2 and "--device cpu" in err.value.hint


def test_resolve_dtype():
    assert resolve_dtype("bfloat16") is torch.bfloat16 and resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(WorldfluxError, match="unknown dtype 'float64'"):
        resolve_dtype("float64")


def test_cpu_peak_memory_sees_an_allocation():
    with PeakMemory(torch.device("cpu")) as mem:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del x
    r = mem.result()
    assert r["kind"] == "cpu_rss" and r["peak_bytes"] >= r["baseline_bytes"]
    if r["scope"] == "workload":
        assert r["increase_bytes"] >= 60 * 2**20


def test_flops_of_a_matmul():
    a, b = torch.randn(32, 64), torch.randn(64, 16)
    assert count_flops(lambda: a @ b) == 2 * 32 * 64 * 16
    w = torch.randn(64, 16, requires_grad=True)
    assert count_flops(lambda: (a @ w).sum().backward()) == 2 * (2 * 32 * 64 * 16)  # forward + grad of w


def test_resolve_workloads():
    assert resolve_workloads("dreamer", None) == ["train", "imagine"]
    assert resolve_workloads("tdmpc2", None) == ["train", "plan"]
    assert resolve_workloads("tdmpc2", None, nproc=2) == ["train"]
    assert resolve_workloads("dreamer", ["agent", " train", "agent"]) == ["agent", "train"]
    with pytest.raises(BenchError, match="does not apply to DreamerV3"):
        resolve_workloads("dreamer", ["plan"])
    with pytest.raises(BenchError, match="no workload"):
        resolve_workloads("dreamer", [""])
