"""Out-of-memory failures: telling them apart from other errors, and the message that says what to lower."""

from __future__ import annotations

import torch

from worldflux_cli.bench import BenchError


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text.lower() or "CUBLAS_STATUS_ALLOC_FAILED" in text
                                              or "DefaultCPUAllocator: can't allocate memory" in text
                                              or "DefaultCPUAllocator: not enough memory" in text)


def oom_error(workload: str, batch: int, seq: int, family: str, device: torch.device) -> BenchError:
    smaller = max(1, batch // 2)
    seq_part = f" x --seq {seq}" if family == "dreamer" else f" (horizon {seq})"
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB)"
    hint = f"try --batch {smaller}" if batch > 1 else "try a smaller preset or --seq"
    if family == "dreamer" and seq > 16:
        hint += f" or --seq {max(1, seq // 2)}"
    return BenchError(f"out of memory in workload {workload!r} at --batch {batch}{seq_part} on {where}",
                      hint + (", or --dtype bfloat16" if device.type == "cuda" else ""))
