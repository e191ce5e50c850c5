"""One benchmark in this process: build the model, check its parameter count, run each workload.

``run_bench(spec, progress)`` returns the result dict of the JSON contract (results.py);
``--nproc N`` adds the distributed block (distributed.py). Failures the user can act on
(device absent, out of memory, a workload of the other family) raise BenchError.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass

import torch

from worldflux_cli.bench import BenchError
from worldflux_cli.bench.devices import describe, peak_tflops
from worldflux_cli.bench.flops import count_flops
from worldflux_cli.bench.oom import is_oom, oom_error
from worldflux_cli.bench.peak_memory import PeakMemory
from worldflux_cli.bench.results import SCHEMA_ID, workload_result
from worldflux_cli.bench.timing import summarize, time_steps, warm_up
from worldflux_cli.bench.workloads import DEFAULT_BATCH, DEFAULT_SEQ, FAMILY_TITLE, Context, prepare, resolve_workloads
from worldflux_cli.models import kernels

MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX")


@dataclass
class BenchSpec:
    """What to measure; ``None`` batch / seq / workloads mean the family's defaults, ``None`` device and dtype
    the config's."""

    config: object  # a DreamerV3Config or TDMPC2Config
    label: str = "config"
    device: str | None = None
    dtype: str | None = None
    batch: int | None = None
    seq: int | None = None
    steps: int = 10
    warmup: int = 2
    compile: bool = False
    workloads: list[str] | None = None
    seed: int = 0
    nproc: int = 1
    threads: int | None = None  # torch intra-op threads; None: torch's default
    force_memory: bool = False  # build even when the estimate is over the device's free memory


class Progress:
    """Progress callbacks (no-ops here; the CLI passes a rich progress bar)."""

    def start(self, workload: str, total: int) -> None: ...

    def advance(self) -> None: ...

    def note(self, text: str) -> None: ...

    def stop(self) -> None: ...


def effective_config(config, family: str, seq: int | None):
    """TD-MPC2's --seq is its horizon: the config rebuilt (and revalidated) with it."""
    if family == "tdmpc2" and seq is not None and seq != config.horizon:
        from worldflux_cli.config.errors import ConfigurationError

        try:
            return dataclasses.replace(config, horizon=seq)
        except ConfigurationError as exc:
            raise BenchError(f"--seq {seq} is not a valid TD-MPC2 horizon: {str(exc).splitlines()[-1].strip()}",
                             "TD-MPC2 horizons run from 1 to 256") from None
    return config


def environment(device: torch.device, dtype: str, compile: bool, threads: int) -> dict:
    info = describe(device)
    precision = torch.get_float32_matmul_precision()
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": info.device,
        "device_type": info.type,
        "device_name": info.name,
        "device_memory_bytes": info.total_memory_bytes,
        "capability": info.capability,
        "known_gpu": info.known_gpu,
        "peak_tflops": peak_tflops(info.name, dtype, precision) if info.type == "cuda" else None,
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "dtype": dtype,
        "precision": "float32" if dtype == "float32" else f"autocast {dtype} (float32 parameters)",
        "float32_matmul_precision": precision,
        "compile": compile,
        "malloc_env": {k: os.environ[k] for k in MALLOC_ENV if k in os.environ},
        "load_average": _load_average(),
        "kernels": kernels.mode(),
    }


def _load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages when the run starts: other work on the machine skews CPU timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def param_check(config, model: torch.nn.Module) -> dict:
    """Built trainable / frozen counts beside the analytic ones (params.count_params)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    out = {"trainable": trainable, "frozen": frozen, "total": trainable + frozen, "analytic_trainable": None,
           "analytic_frozen": None, "matches": None}
    try:
        from worldflux_cli.params import count_params

        counts = count_params(config)
    except (ImportError, ValueError, KeyError):
        return out
    out.update(analytic_trainable=counts.trainable, analytic_frozen=counts.frozen_total,
               matches=counts.trainable == trainable and counts.frozen_total == frozen)
    return out


def measure(ctx: Context, name: str, steps: int, warmup: int, progress: Progress, flops: bool = True,
            peak: float | None = None) -> dict:
    """Prepare, warm up, count FLOPs, time ``steps`` steps and measure peak memory of one workload."""
    progress.start(name, warmup + steps + (1 if flops else 0))
    try:
        with PeakMemory(ctx.device) as mem:
            wl = prepare(ctx, name)
            first = warm_up(wl.step, warmup, ctx.device, progress.advance)
            n_flops = None
            if flops:
                n_flops = count_flops(wl.eager_step)
                progress.advance()
            times = time_steps(wl.step, steps, ctx.device, progress.advance)
        wl.teardown()
    except Exception as exc:
        if is_oom(exc):
            raise oom_error(name, ctx.batch, ctx.seq, ctx.family, ctx.device) from None
        if ctx.compile and type(exc).__module__.startswith(("torch._dynamo", "torch._inductor")):
            raise BenchError(f"torch.compile failed in workload {name!r}: {str(exc).splitlines()[0][:300]}",
                             "run without --compile") from None
        raise
    finally:
        gc.collect()
    return workload_result(wl, ctx, summarize(times), times, first, mem.result(), n_flops, peak, steps, warmup)


def _threads(spec: BenchSpec, device: torch.device) -> int:
    if spec.threads:
        torch.set_num_threads(spec.threads)
    elif spec.nproc > 1 and device.type == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads() // spec.nproc))
    return torch.get_num_threads()


def _check_memory(spec: BenchSpec, config, family: str, names: list[str], seq: int, device: torch.device) -> None:
    """Refuse, before anything is allocated, a run whose estimate is over the device's free memory."""
    from worldflux_cli.memory_estimate import training_bytes
    from worldflux_cli.models.budget import check_budget

    batch = max(spec.batch or DEFAULT_BATCH[family, name] for name in names)
    copies = spec.nproc if device.type == "cpu" else 1  # DDP on CPU: every process holds the model
    needed = training_bytes(config, batch, seq if family == "dreamer" else None) * copies
    what = f"benchmarking {spec.label} at batch {batch}" + (f" on {copies} processes" if copies > 1 else "")
    hint = f"lower --batch (now {batch})" + (" or --seq" if family == "dreamer" else "") + ", or use a smaller preset"
    check_budget(needed, device, what, hint, force=spec.force_memory)


def run_bench(spec: BenchSpec, progress: Progress | None = None,
              distributed_runner: Callable | None = None) -> dict:
    """Run the benchmark ``spec`` describes; the result dict (see results.py)."""
    from worldflux_cli.models import build_model, resolve_device, resolve_dtype

    progress = progress or Progress()
    family = spec.config.family
    if family not in FAMILY_TITLE:
        raise BenchError(f"bench measures DreamerV3 and TD-MPC2 models, not model_type {family!r}",
                         "use a dreamer or tdmpc2 config")
    spec = dataclasses.replace(spec, device=spec.device or spec.config.device, dtype=spec.dtype or spec.config.dtype)
    compute_dtype = resolve_dtype(spec.dtype)
    names = resolve_workloads(family, spec.workloads, spec.nproc)
    device = resolve_device(spec.device)
    if spec.nproc > 1 and device.type == "cuda" and spec.nproc > torch.cuda.device_count():
        raise BenchError(f"--nproc {spec.nproc} needs {spec.nproc} GPUs; {torch.cuda.device_count()} visible",
                         f"use --nproc {torch.cuda.device_count()} or fewer, or --device cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    config = effective_config(spec.config, family, spec.seq)
    seq = spec.seq or DEFAULT_SEQ.get(family) or config.horizon
    threads = _threads(spec, device)
    env = environment(device, spec.dtype, spec.compile, threads)

    _check_memory(spec, config, family, names, seq, device)

    torch.manual_seed(spec.seed)
    progress.note("building the model")
    try:
        model = build_model(config, device=device, dtype=torch.float32)  # float32 weights; dtype is autocast's
    except Exception as exc:
        if is_oom(exc):
            raise BenchError(f"out of memory building {spec.label} on {device}",
                             "pick a smaller preset, or a device with more memory") from None
        raise
    params = param_check(config, model)
    ctx = Context(model, family, device, compute_dtype, 0, seq, spec.compile, spec.seed)

    results = {}
    for name in names:
        torch.manual_seed(spec.seed)
        wl_ctx = dataclasses.replace(ctx, batch=spec.batch or DEFAULT_BATCH[family, name])
        results[name] = measure(wl_ctx, name, spec.steps, spec.warmup, progress, peak=env["peak_tflops"])
    del model, ctx, wl_ctx
    gc.collect()

    result = {
        "schema": SCHEMA_ID,
        "config": {"label": spec.label, "model_type": family, "model_name": config.model_name,
                   "values": config.to_dict()},
        "settings": {"device": spec.device, "dtype": spec.dtype, "batch": spec.batch, "seq": seq, "steps": spec.steps,
                     "warmup": spec.warmup, "compile": spec.compile, "workloads": names, "seed": spec.seed,
                     "nproc": spec.nproc},
        "environment": env,
        "params": params,
        "workloads": results,
        "distributed": None,
    }
    if spec.nproc > 1:
        from worldflux_cli.bench.distributed import run_distributed

        progress.note(f"train on {spec.nproc} processes")
        runner = distributed_runner or run_distributed
        result["distributed"] = runner(config, spec, device, results["train"]["batch"], seq, threads,
                                       results["train"])
    return result

