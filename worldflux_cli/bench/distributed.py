"""--nproc N: the train workload data-parallel on N processes (DDP), launched by torch's elastic API.

torch.distributed.launcher.api.elastic_launch starts N local worker processes (the same agent
torchrun uses: c10d rendezvous on a free localhost port, no restarts). Each worker joins the
process group (gloo on CPU, nccl on CUDA; rank r uses cuda:r), builds the model with the same
seed, wraps the loss in DistributedDataParallel (parameters broadcast from rank 0; gradients
all-reduced in buckets during backward) and times the same train step as a single process,
on its own batch of --batch samples (weak scaling: the global batch is N x --batch). On CPU
each rank gets threads // N intra-op threads.

Scaling efficiency = total samples/s / (N x samples/s of one process with the same per-rank
settings), the one-process figure being the train workload measured in the parent process.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from typing import Any

import torch
from torch import nn

from worldflux_cli.bench import BenchError

LAUNCHER = "torch.distributed.launcher.api.elastic_launch"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _LossModule(nn.Module):
    """Makes model.<method>(batch) the forward of a module, so DDP can wrap it."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, batch):
        return getattr(self.model, self.method)(batch)


def _ddp_wrapper(device: torch.device, unused: list[str]):
    """loss_wrapper for workloads.Context: model.<method> through DistributedDataParallel."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    cache: dict[str, Any] = {}

    def wrap(model: nn.Module, method: str):
        if method not in cache:
            module = _LossModule(model, method)
            # trainable parameters this loss gives no gradient (DreamerV3's actor and critic) stay out of DDP
            DDP._set_params_and_buffers_to_ignore_for_model(module, [f"model.{n}" for n in unused])
            cache[method] = DDP(module, device_ids=[device.index] if device.type == "cuda" else None)
        return cache[method]

    return wrap


def _unused_parameters(model: nn.Module, family: str, device: torch.device) -> list[str]:
    """Names of trainable parameters the train loss gives no gradient (one backward on a tiny batch)."""
    model.train()
    gen = torch.Generator(device=device).manual_seed(0)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # the forward may update buffers
    if family == "dreamer":
        out = model.world_model_loss(model.random_batch(1, 2, generator=gen, device=device))
    else:
        out = model.loss(model.random_batch(1, generator=gen, device=device))
    out[0].backward()
    names = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return names


def _worker(payload: dict) -> dict:
    """One rank: join the group, build, wrap in DDP, time the train step; a picklable result dict."""
    import torch.distributed as dist

    from worldflux_cli.bench.oom import is_oom
    from worldflux_cli.bench.peak_memory import PeakMemory
    from worldflux_cli.bench.timing import summarize, time_steps, warm_up
    from worldflux_cli.bench.workloads import Context, prepare
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.models import build_model
    from worldflux_cli.models.device import join_rank

    rank, device = join_rank(payload["device_type"], payload["threads"])
    try:
        config = FAMILIES[payload["model_type"]].from_dict(payload["config"])
        torch.manual_seed(payload["seed"])
        model = build_model(config, device=device, dtype=torch.float32)
        wrapper = _ddp_wrapper(device, _unused_parameters(model, config.family, device))
        ctx = Context(model, config.family, device, getattr(torch, payload["dtype"]), payload["batch"],
                      payload["seq"], payload["compile"], payload["seed"] + rank, loss_wrapper=wrapper)
        with PeakMemory(device) as mem:
            wl = prepare(ctx, "train")
            warm_up(wl.step, payload["warmup"], device)
            times = time_steps(wl.step, payload["steps"], device)
    except Exception as exc:
        if payload["debug"]:
            raise
        kind = "oom" if is_oom(exc) else "exception"
        return {"rank": rank, "error": kind, "message": f"{type(exc).__name__}: {str(exc).strip()[:500]}"}
    finally:
        dist.destroy_process_group()
    stats = summarize(times)
    return {"rank": rank, "device": str(device), "pid": os.getpid(), "times_s": times, "median_s": stats["median_s"],
            "p90_s": stats["p90_s"], "samples": wl.samples, "env_steps": wl.env_steps, "peak_memory": mem.result()}


def run_distributed(config, spec, device: torch.device, batch: int, seq: int, threads: int, baseline: dict) -> dict:
    """Launch ``spec.nproc`` ranks of the train workload; the DISTRIBUTED block of the result."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    nproc = spec.nproc
    cuda = device.type == "cuda"
    payload = {"model_type": config.family, "config": config.to_dict(), "device_type": device.type,
               "threads": None if cuda else threads, "dtype": spec.dtype, "batch": batch, "seq": seq,
               "steps": spec.steps, "warmup": spec.warmup, "compile": spec.compile, "seed": spec.seed,
               "debug": os.environ.get("WORLDFLUX_DEBUG", "").lower() not in ("", "0", "false", "no")}
    launch = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"worldflux-bench-{uuid.uuid4().hex}",
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{free_port()}", max_restarts=0,
                          monitor_interval=0.1, start_method="spawn")
    quiet = ("torch.distributed.elastic", "torch.distributed.launcher")
    levels = {name: logging.getLogger(name).level for name in quiet}
    env_before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = "ignore:Failed to initialize NumPy"
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        outputs = elastic_launch(launch, _worker)(payload)
    except ChildFailedError as exc:
        from worldflux_cli.models.device import failed_rank_reason

        raise BenchError(f"a rank of the --nproc {nproc} run failed: {failed_rank_reason(exc)}",
                         "rerun with WORLDFLUX_DEBUG=1 for the workers' tracebacks") from None
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if env_before is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = env_before
    ranks = [outputs[i] for i in sorted(outputs)]
    failed = [r for r in ranks if r.get("error")]
    if any(r["error"] == "oom" for r in failed):
        from worldflux_cli.bench.oom import oom_error

        raise oom_error(f"train (--nproc {nproc})", batch, seq, config.family, device)
    if failed:
        raise BenchError(f"rank {failed[0]['rank']} of the --nproc {nproc} run failed: {failed[0]['message']}",
                         "rerun with WORLDFLUX_DEBUG=1 for the traceback")
    return summarize_ranks(ranks, nproc, "nccl" if cuda else "gloo", device.type,
                           None if cuda else threads, batch, baseline)


def summarize_ranks(ranks: list[dict], nproc: int, backend: str, device_type: str, threads: int | None,
                    batch: int, baseline: dict) -> dict:
    import statistics

    samples, env_steps = ranks[0]["samples"], ranks[0]["env_steps"]
    per_rank = [{"rank": r["rank"], "device": r["device"], "pid": r["pid"], "median_s": r["median_s"],
                 "p90_s": r["p90_s"], "samples_per_s": r["samples"] / r["median_s"],
                 "env_steps_per_s": r["env_steps"] / r["median_s"] if r["env_steps"] else None,
                 "peak_memory": r["peak_memory"]} for r in ranks]
    slowest = [max(step) for step in zip(*(r["times_s"] for r in ranks), strict=True)]
    step = statistics.median(slowest)
    total = nproc * samples / step
    base = baseline["samples_per_s"]
    return {
        "nproc": nproc, "backend": backend, "launcher": LAUNCHER, "device_type": device_type,
        "threads_per_rank": threads, "batch_per_rank": batch, "global_batch": nproc * batch,
        "per_rank": per_rank, "step_median_s": step, "total_samples_per_s": total,
        "total_env_steps_per_s": nproc * env_steps / step if env_steps else None,
        "baseline_samples_per_s": base, "scaling_efficiency": total / (nproc * base),
    }
