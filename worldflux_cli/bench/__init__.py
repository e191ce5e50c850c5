"""`worldflux bench`: instantiate the real PyTorch model of a config and measure it (imports torch).

Modules, each small and testable on its own:

- ``devices``     name the device, known dense peak TFLOP/s per dtype
- ``timing``      warm-up, synchronised per-step timers (CUDA events on GPU), median / p90
- ``peak_memory`` measured peak memory of a workload (CUDA allocator peak; RSS high-water mark on CPU)
- ``oom``         telling out-of-memory failures apart, and the message that says what to lower
- ``flops``       FLOPs of one step from torch.utils.flop_counter
- ``workloads``   the train / imagine / plan / agent step closures of each family
- ``runner``      one process: build, check parameter counts, run each workload
- ``distributed`` --nproc N: the train workload data-parallel (DDP) through torch's elastic launcher
- ``results``     the JSON contract (see its docstring), text rendering and --compare

Example::

    from worldflux_cli.bench.runner import BenchSpec, run_bench
    result = run_bench(BenchSpec(config, label="dreamer:tiny", device="cpu", steps=5))
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():  # a torch wheel without numpy warns on import; irrelevant here
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch  # noqa: F401

from worldflux_cli.errors import WorldfluxError


class BenchError(WorldfluxError):
    """A benchmark that cannot run as asked (exit code 2): message, hint."""
