"""Honest step timing: warm-up excluded, device synchronised, per-step times, median and p90.

On CUDA each step is bracketed by CUDA events (recorded on the current stream, read after one
synchronisation at the end), so the times are GPU time from the first kernel of a step to the
last, idle gaps included; on CPU by time.perf_counter (CPU ops run synchronously).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch

from worldflux_cli.bench.devices import synchronize

Step = Callable[[], object]
Tick = Callable[[], None]


def warm_up(step: Step, n: int, device: torch.device, tick: Tick | None = None) -> float | None:
    """Run ``n`` untimed steps; the wall time of the first one (compilation included), or None if n = 0."""
    first = None
    for i in range(n):
        synchronize(device)
        t0 = time.perf_counter()
        step()
        synchronize(device)
        if i == 0:
            first = time.perf_counter() - t0
        if tick:
            tick()
    return first


def time_steps(step: Step, n: int, device: torch.device, tick: Tick | None = None) -> list[float]:
    """Seconds of each of ``n`` steps, synchronised with the device."""
    synchronize(device)
    if device.type == "cuda":
        events = []
        for _ in range(n):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            events.append((start, end))
            if tick:
                tick()
        synchronize(device)
        return [s.elapsed_time(e) / 1000.0 for s, e in events]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        if tick:
            tick()
    return times


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(times: list[float]) -> dict[str, float]:
    """median_s, p90_s, mean_s, min_s, max_s, std_s of per-step times."""
    return {
        "median_s": statistics.median(times),
        "p90_s": percentile(times, 90),
        "mean_s": statistics.fmean(times),
        "min_s": min(times),
        "max_s": max(times),
        "std_s": statistics.stdev(times) if len(times) > 1 else 0.0,
    }
