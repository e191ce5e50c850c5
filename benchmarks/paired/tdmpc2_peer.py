"""Building the official TD-MPC2 (nicklashansen/tdmpc2) on the CPU from a checkout, for the paired drivers.

Our code; the public code is imported from ``--peer PATH`` (a checkout of nicklashansen/tdmpc2, e.g. at
e9f5932) and not modified on disk. Its ``tdmpc2/`` folder goes on ``sys.path``. What is done at run time:

- **The config** is built from the checkout's ``tdmpc2/config.yaml`` with the steps their ``parse_cfg``
  and ``make_env`` apply (model size, bin size, task_dim 0 for a single task, obs_shape, action_dim,
  episode_length, seed_steps), without hydra/omegaconf (not installed): the YAML is read with ruamel
  (YAML 1.2), and values YAML 1.1 reads as numbers (``10_000_000``) are converted as omegaconf would.
  The result is an object with attribute access and ``get``, as their ``cfg_to_dataclass`` returns.
- **CUDA-only pieces mapped to the CPU:** the name ``torch`` in their ``tdmpc2.py``, ``common/scale.py``,
  ``common/buffer.py`` and ``common/seed.py`` is bound to a shim that maps ``torch.device('cuda...')``
  and ``device='cuda...'`` arguments (hard-coded there) to the CPU, creates ``torch.optim.Adam`` with
  ``capturable=False`` (capturable Adam needs a CUDA device), and answers ``torch.cuda.mem_get_info()``
  with (0, 0) so that their buffer keeps its storage in CPU memory (which it does when CUDA memory is
  short). Everything else is the real torch and their unmodified code.
- ``LAZY_LEGACY_OP=0`` as their train.py sets it; their ``set_float32_matmul_precision('high')`` and
  ``cudnn.benchmark`` are not applied (fp32 "highest" on both sides, no cuDNN on a CPU).
- tensordict (and, for the training loop, torchrl) must be importable: ``--deps DIR`` puts a folder
  made with ``pip install --no-deps --target DIR tensordict==0.8.3 torchrl==0.8.1 cloudpickle
  importlib_metadata zipp orjson pyvers`` (the versions their docker/environment.yaml pins) on sys.path.
"""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path


def add_paths(peer: Path, deps: Path | None) -> None:
    os.environ.setdefault("LAZY_LEGACY_OP", "0")
    if deps is not None:
        sys.path.insert(0, str(deps))
    sys.path.insert(0, str(Path(peer) / "tdmpc2"))


def _cpu(spec):
    return "cpu" if isinstance(spec, str) and spec.startswith("cuda") else spec


def torch_shim():
    """A module that is torch except for the CUDA-only calls of the official code (see the module docstring)."""
    import torch

    class Shim(types.ModuleType):
        def __getattr__(self, name):
            return getattr(torch, name)

    class OptimShim(types.ModuleType):
        def __getattr__(self, name):
            return getattr(torch.optim, name)

    class CudaShim(types.ModuleType):
        def __getattr__(self, name):
            return getattr(torch.cuda, name)

    shim = Shim("torch")
    optim = OptimShim("torch.optim")
    optim.Adam = lambda *a, capturable=False, **k: torch.optim.Adam(*a, capturable=False, **k)
    cuda = CudaShim("torch.cuda")
    cuda.mem_get_info = lambda *a, **k: (0, 0)
    cuda.manual_seed_all = lambda seed: None
    shim.optim, shim.cuda = optim, cuda
    shim.device = lambda spec=None, *a: torch.device(_cpu(spec), *a)

    def with_cpu(fn):
        def call(*a, **k):
            if "device" in k:
                k["device"] = _cpu(str(k["device"])) if not isinstance(k["device"], torch.device) else k["device"]
            return fn(*a, **k)
        return call

    for name in ("tensor", "zeros", "ones", "full", "empty", "arange", "randn", "rand"):
        setattr(shim, name, with_cpu(getattr(torch, name)))
    return shim


def patch_modules(*modules) -> None:
    shim = torch_shim()
    for m in modules:
        m.torch = shim


class Cfg(types.SimpleNamespace):
    def get(self, key, default=None):
        return getattr(self, key, default)


def _number(v):
    if isinstance(v, str):
        if re.fullmatch(r"[+-]?[0-9][0-9_]*", v):
            return int(v.replace("_", ""))
        if re.fullmatch(r"[+-]?[0-9_]*\.?[0-9_]*(e[+-]?[0-9]+)?", v, re.I) and any(c.isdigit() for c in v):
            return float(v.replace("_", ""))
    return v


def make_cfg(peer: Path, *, model_size: int, obs_dim: int, action_dim: int, episode_length: int, task: str,
             batch_size: int = 256, **overrides) -> Cfg:
    """The official cfg after parse_cfg + make_env for a single state-based task (see the module docstring)."""
    import ruamel.yaml as yaml

    raw = yaml.YAML(typ="safe", pure=True).load((Path(peer) / "tdmpc2" / "config.yaml").read_text())
    values = {k: _number(v) for k, v in raw.items() if k != "defaults"}
    from common import MODEL_SIZE  # their table

    values.update(task=task, model_size=model_size, compile=False, batch_size=batch_size, **overrides)
    values.update(MODEL_SIZE[model_size])
    values["bin_size"] = (values["vmax"] - values["vmin"]) / (values["num_bins"] - 1)
    values.update(multitask=False, task_dim=0, tasks=[task], task_title=task.replace("-", " ").title(),
                  work_dir="/tmp/tdmpc2-paired", obs_shape={values.get("obs", "state"): (obs_dim,)},
                  action_dim=action_dim, episode_length=episode_length,
                  seed_steps=max(1000, 5 * episode_length))
    values.update(overrides)
    return Cfg(**values)
