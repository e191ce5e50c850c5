"""``worldflux train --nproc N``: data-parallel training on torch.distributed, launched as ``bench --nproc`` is.

``launch`` starts N local ranks with torch's elastic launcher (c10d rendezvous on a free localhost port, no
restarts; the same agent torchrun uses). Each rank joins the process group (gloo on CPU, nccl on CUDA: rank r
on cuda:r), and runs ``loop.train`` with a :class:`Ranks`: the model is broadcast from rank 0, gradients are
averaged across ranks inside ``model.update`` (its ``grad_hook``: after backward, before clipping and the
optimizer step, one all-reduce of all of an optimizer's gradients), and the model's buffers follow rank 0's
after each update (TD-MPC2's running Q scale), so every rank holds the same weights. On CPU each rank gets
threads // N intra-op threads.

Ctrl-C reaches every rank (the launcher's process ignores it while they run): the ranks agree to stop at the
same step, each writes its checkpoint, and the command exits with 130.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from worldflux_cli.errors import WorldfluxError


@dataclass
class Ranks:
    """This process's place in a data-parallel run, and the collective operations the loop needs."""

    rank: int
    world: int
    device: torch.device

    def _flag(self, value: bool, op: Any) -> bool:
        import torch.distributed as dist

        flag = torch.tensor([int(value)], device=self.device)
        dist.all_reduce(flag, op=op)
        return bool(flag.item())

    def any(self, value: bool) -> bool:
        """Whether ``value`` is true on any rank."""
        import torch.distributed as dist

        return self._flag(value, dist.ReduceOp.MAX)

    def all(self, value: bool) -> bool:
        """Whether ``value`` is true on every rank."""
        import torch.distributed as dist

        return self._flag(value, dist.ReduceOp.MIN)

    def reduce_grads(self, params: list[torch.nn.Parameter]) -> None:
        """Average the gradients of ``params`` over the ranks (one all-reduce of them flattened together)."""
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast(self, model: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank."""
        import torch.distributed as dist

        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor.data, 0)

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Rank 0's buffers on every rank (as DistributedDataParallel's broadcast_buffers)."""
        import torch.distributed as dist

        for buffer in model.buffers():
            dist.broadcast(buffer.data, 0)

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()


def _worker(payload: dict) -> dict:
    """One rank: join the group, train, leave; a picklable result (or the error a rank met)."""
    import torch.distributed as dist

    from worldflux_cli.config.run import RunConfig
    from worldflux_cli.models.device import join_rank
    from worldflux_cli.training.loop import train

    rank, device = join_rank(payload["device_type"], payload["threads"])
    ranks = Ranks(rank, int(os.environ["WORLD_SIZE"]), device)
    try:
        run = RunConfig.from_dict(payload["run"])
        result = train(run, Path(payload["output"]), resume=payload["resume"], total_steps=payload["steps"],
                       save_replay=payload["save_replay"], ranks=ranks, tensorboard=payload["tensorboard"],
                       log=_printer() if rank == 0 and payload["progress"] else None)
    except WorldfluxError as exc:
        return {"rank": rank, "error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
    except Exception as exc:
        if payload["debug"]:
            raise
        return {"rank": rank, "error": f"{type(exc).__name__}: {str(exc).strip()[:500]}",
                "hint": "rerun with WORLDFLUX_DEBUG=1 for the traceback", "exit_code": 3}
    finally:
        dist.destroy_process_group()
    return {"rank": rank, "step": result.step, "episodes": result.episodes, "last_return": result.last_return,
            "last_eval": result.last_eval, "resumed_from": result.resumed_from, "notes": result.notes,
            "weights_sha256": result.weights_sha256}


def _printer():
    import sys

    return lambda line: print(line, file=sys.stderr, flush=True)


def launch(run: Any, output: Path, nproc: int, *, resume: bool, steps: int | None, save_replay: bool,
           tensorboard: bool, progress: bool, threads: int | None = None) -> list[dict]:
    """Train ``run`` on ``nproc`` ranks; every rank's result in rank order (step, episodes, returns, notes, the
    sha256 of its final weights). A rank's failure is raised as the WorldfluxError it met (its exit code),
    Ctrl-C as loop.Interrupted (exit code 130); ranks whose final weights differ as a WorldfluxError (exit 3)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from worldflux_cli.bench.distributed import free_port
    from worldflux_cli.training.loop import Interrupted

    t = run.resolved_training()
    device = torch.device(t["device"] if t["device"] not in (None, "auto") else
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    if cuda and torch.cuda.device_count() < nproc:
        raise WorldfluxError(f"--nproc {nproc} on CUDA needs {nproc} GPUs; this machine has "
                             f"{torch.cuda.device_count()}", f"use --nproc {max(1, torch.cuda.device_count())}")
    payload = {"run": run.to_dict(), "output": str(output), "resume": resume, "steps": steps,
               "save_replay": save_replay, "tensorboard": tensorboard, "progress": progress,
               "device_type": device.type,
               "threads": None if cuda else (threads or max(1, torch.get_num_threads() // nproc)),
               "debug": os.environ.get("WORLDFLUX_DEBUG", "").lower() not in ("", "0", "false", "no")}
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"worldflux-train-{uuid.uuid4().hex}",
                          rdzv_backend="c10d", rdzv_endpoint=f"127.0.0.1:{free_port()}", max_restarts=0,
                          monitor_interval=0.1, start_method="spawn", signals_to_handle="SIGTERM,SIGHUP,SIGQUIT")
    quiet = ("torch.distributed.elastic", "torch.distributed.launcher")
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the ranks get Ctrl-C and stop together
    try:
        outputs = elastic_launch(config, _worker)(payload)
    except ChildFailedError as exc:
        from worldflux_cli.models.device import failed_rank_reason

        raise WorldfluxError(f"a rank of the --nproc {nproc} run failed: {failed_rank_reason(exc)}",
                             "rerun with WORLDFLUX_DEBUG=1 for the ranks' tracebacks") from None
    finally:
        signal.signal(signal.SIGINT, previous)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    results = [outputs[i] for i in sorted(outputs)]
    failed = [r for r in results if r.get("error")]
    if failed:
        first = failed[0]
        cls = Interrupted if first["exit_code"] == Interrupted.exit_code else WorldfluxError
        raise cls(first["error"] if cls is Interrupted else f"rank {first['rank']}: {first['error']}", first["hint"],
                  exit_code=first["exit_code"])
    if len({r["weights_sha256"] for r in results}) != 1:
        raise WorldfluxError(f"the {nproc} ranks ended with different weights (a bug in worldflux)",
                             "please report it with the run file", exit_code=3)
    return results
