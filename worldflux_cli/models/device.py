"""Where a model lives: the config's ``device`` / ``dtype`` (or the caller's) as a torch device and dtype."""

from __future__ import annotations

import re
from typing import Any

import torch

from worldflux_cli.errors import WorldfluxError

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|meta)$")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(spec: Any) -> torch.device:
    """'auto' (CUDA when available, else CPU), 'cpu', 'cuda', 'cuda:N', 'meta' or a torch.device -> torch.device.

    WorldfluxError (exit code 2) when the text is malformed or names a CUDA device this machine lacks.
    """
    if isinstance(spec, torch.device):
        return spec
    text = str(spec).strip().lower()
    if not _DEVICE_RE.match(text):
        raise WorldfluxError(f"unknown device {spec!r}", "use cpu, cuda, cuda:N or auto")
    if text == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if text in ("cpu", "meta"):
        return torch.device(text)
    if not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise WorldfluxError(f"CUDA was asked for but is not available ({why}, torch {torch.__version__})",
                             "use --device cpu (or --device auto), or set the config's device to 'auto'")
    index = int(text.split(":")[1]) if ":" in text else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise WorldfluxError(f"{text} does not exist: {count} CUDA device(s) visible (cuda:0..cuda:{count - 1})",
                             "pick an existing index, or check CUDA_VISIBLE_DEVICES")
    return torch.device("cuda", index)


def resolve_dtype(spec: Any) -> torch.dtype:
    """'float32', 'bfloat16', 'float16' or a torch.dtype -> torch.dtype; WorldfluxError otherwise."""
    if isinstance(spec, torch.dtype):
        return spec
    if spec not in DTYPES:
        raise WorldfluxError(f"unknown dtype {spec!r}", "use float32, bfloat16 or float16")
    return DTYPES[spec]


def failed_rank_reason(exc: Exception) -> str:
    """The last line of the first failed rank's message in a ChildFailedError of torch's elastic launch (the
    exception itself when it names none): what a user is told about an ``--nproc`` run that failed."""
    failures = getattr(exc, "failures", None) or {}
    first = next(iter(failures.values()), None)
    message = getattr(first, "message", None)
    why = (message if isinstance(message, str) else str(exc)).strip().splitlines()
    return why[-1] if why else str(exc)


def join_rank(device_type: str, threads: int | None) -> tuple[int, Any]:
    """In a worker of torch's elastic launch: (this process's rank, its device), the process group joined
    (nccl on CUDA, rank r on cuda:LOCAL_RANK; gloo on the CPU, with ``threads`` intra-op threads when given)."""
    import os

    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    cuda = device_type == "cuda"
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    elif threads:
        torch.set_num_threads(threads)
    dist.init_process_group("nccl" if cuda else "gloo")
    return rank, device
