"""`worldflux bench`: instantiate the real PyTorch model of a config and measure it (imports torch).

Modules, each small and testable on its own:

- ``devices``     resolve --device, name the device, known dense peak TFLOP/s per dtype
- ``timing``      warm-up, synchronised per-step timers (CUDA events on GPU), median / p90
- ``memory``      peak memory of a workload (CUDA allocator peak; RSS high-water mark on CPU)
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


class BenchError(Exception):
    """A benchmark that cannot run as asked: message, hint, exit code (2 = could not run)."""

    def __init__(self, message: str, hint: str = "", code: int = 2):
        super().__init__(message)
        self.message, self.hint, self.code = message, hint, code
