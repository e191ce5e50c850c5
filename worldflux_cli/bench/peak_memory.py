"""Peak memory of a workload.

CUDA: the caching allocator's peak (``torch.cuda.max_memory_allocated``) after
``reset_peak_memory_stats``, plus the reserved peak. The baseline is what was allocated
when the workload started (the model and inputs).

CPU: the process's resident set size high-water mark (VmHWM in /proc/self/status). The
kernel lets a process reset it (writing "5" to /proc/self/clear_refs), so on Linux it is
reset when the workload starts and the peak is the workload's own: ``scope`` "workload".
Where that is not possible the peak is process-wide and monotonic since the process
started (``resource.getrusage``): ``scope`` "process", and a later workload can only show
the highest figure so far. Either way RSS counts the whole process (Python, torch, the
model); ``increase_bytes`` is the peak minus the RSS when the workload started. Memory the
allocator kept from earlier work is reused without a new increase.
"""

from __future__ import annotations

import re
import resource
import sys

import torch


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            m = re.search(rf"^{field}:\s+(\d+)\s+kB", fh.read(), re.MULTILINE)
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _ru_maxrss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def current_rss() -> int:
    return _status_kib("VmRSS") or 0


class PeakMemory:
    """Context manager: ``with PeakMemory(device) as m: ...``; then ``m.result()``."""

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = "cuda_allocator" if device.type == "cuda" else "cpu_rss"
        self.scope = "workload"
        self.baseline = self.peak = 0
        self.reserved_peak: int | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline = torch.cuda.memory_allocated(self.device)
        else:
            self.baseline = current_rss()
            if not (_reset_hwm() and _status_kib("VmHWM") is not None):
                self.scope = "process"
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
            self.reserved_peak = torch.cuda.max_memory_reserved(self.device)
        elif self.scope == "workload":
            self.peak = _status_kib("VmHWM") or 0
        else:
            self.peak = _ru_maxrss()

    def result(self) -> dict:
        return {"kind": self.kind, "scope": self.scope, "peak_bytes": int(self.peak),
                "baseline_bytes": int(self.baseline), "increase_bytes": max(0, int(self.peak - self.baseline)),
                "reserved_peak_bytes": None if self.reserved_peak is None else int(self.reserved_peak)}
