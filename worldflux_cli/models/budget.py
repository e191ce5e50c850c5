"""A memory budget before any allocation: the torch-free estimate against what the device has free.

``bench`` and ``save`` (and anything else that builds a model for real) call ``check_budget`` first:
a config whose estimate is over the device's free memory is refused at once, with the figures and what
to change, instead of filling the machine's memory and being killed.
"""

from __future__ import annotations

import os

import torch

from worldflux_cli.errors import InvalidInput

#: Share of the free memory a run may plan to use (the estimate is not exact; the rest is headroom).
USABLE_SHARE = 0.9


def free_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: the GPU's free memory; on the CPU the RAM the kernel says is available,
    lowered to the process's address-space limit (ulimit -v) and its cgroup's memory limit when those are
    smaller."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "meta":
        return None
    limits = [n for n in (_meminfo_available(), _rlimit_as(), _cgroup_free()) if n is not None]
    return min(limits) if limits else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _rlimit_as() -> int | None:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _cgroup_free() -> int | None:
    """memory.max - memory.current of this process's cgroup (v2), when it has a limit."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as fh:
            rel = next((line.split(":", 2)[2].strip() for line in fh if line.startswith("0::")), None)
        if rel is None:
            return None
        base = os.path.join("/sys/fs/cgroup", rel.lstrip("/"))
        with open(os.path.join(base, "memory.max"), encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(base, "memory.current"), encoding="ascii") as fh:
            return max(0, int(limit) - int(fh.read().strip()))
    except (OSError, ValueError, StopIteration):
        return None


def gib(n: float) -> str:
    return f"{n / 2**30:,.2f} GiB" if n >= 2**27 else f"{n / 2**20:,.1f} MiB"


def check_budget(needed: int, device: torch.device, what: str, hint: str, *, force: bool = False,
                 available: int | None = None) -> None:
    """InvalidInput (exit code 1) when ``needed`` bytes exceed the usable share of ``device``'s free memory.

    ``what`` says what needs the memory ("training dreamer:size200m at --batch 16"); ``hint`` what to lower.
    ``force`` skips the check (the CLI's --force-memory). ``available`` overrides the measured free memory.
    """
    if force:
        return
    free = free_bytes(device) if available is None else available
    if free is None or needed <= free * USABLE_SHARE:
        return
    raise InvalidInput(f"{what} needs about {gib(needed)} (estimate), but {device} has {gib(free)} free",
                       f"{hint}; or pass --force-memory to try anyway")
