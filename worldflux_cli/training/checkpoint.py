"""Checkpoints in safetensors, written atomically; nothing pickled.

``checkpoints/checkpoint.safetensors`` holds, in one file: the model's ``state_dict`` (``model/...``),
both optimizers' tensors (``optim/<name>/<param id>/<key>``), the torch and numpy RNG states, the
planner's warm-start mean and the actions of the episode in progress; its metadata key
``worldflux_checkpoint`` is a JSON document with everything else (step counters, the optimizers'
param groups and non-tensor state, the python and numpy RNG states). ``checkpoints/replay.safetensors``
(optional) holds the replay buffer. Each file is written to a temp file and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from worldflux_cli.errors import WorldfluxError
from worldflux_cli.fileio import write_atomic

CHECKPOINT_DIR = "checkpoints"
STATE_NAME = "checkpoint.safetensors"
REPLAY_NAME = "replay.safetensors"
META_KEY = "worldflux_checkpoint"
VERSION = 1


def flatten_optimizers(states: dict[str, dict]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state dicts -> (tensors by flat name, a JSON skeleton naming where each tensor goes)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton: dict[str, Any] = {}
    for name, sd in states.items():
        state_json: dict[str, dict[str, Any]] = {}
        for pid, entries in sd["state"].items():
            slot: dict[str, Any] = {}
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    flat = f"optim/{name}/{pid}/{key}"
                    tensors[flat] = value.detach().cpu().contiguous()
                    slot[key] = {"tensor": flat}
                else:
                    slot[key] = {"value": value}
            state_json[str(pid)] = slot
        skeleton[name] = {"state": state_json, "param_groups": sd["param_groups"]}
    return tensors, skeleton


def unflatten_optimizers(tensors: dict[str, torch.Tensor], skeleton: dict[str, Any]) -> dict[str, dict]:
    """The inverse of ``flatten_optimizers``."""
    out = {}
    for name, sd in skeleton.items():
        state = {int(pid): {key: tensors[v["tensor"]] if "tensor" in v else v["value"] for key, v in slot.items()}
                 for pid, slot in sd["state"].items()}
        out[name] = {"state": state, "param_groups": sd["param_groups"]}
    return out


def _python_state(state: Any) -> Any:
    return [state[0], list(state[1]), state[2]]


def save_checkpoint(folder: Path, model: Any, counters: dict[str, Any], extra: dict[str, torch.Tensor],
                    replay: Any | None) -> None:
    """Write ``folder``/checkpoints/ (created when missing): the state file, and the replay file when given."""
    import random

    from safetensors.numpy import save as save_numpy
    from safetensors.torch import save as save_torch

    where = folder / CHECKPOINT_DIR
    where.mkdir(parents=True, exist_ok=True)
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_tensors, skeleton = flatten_optimizers(model.optimizer_state_dict())
    tensors.update(opt_tensors)
    np_state = np.random.get_state()
    tensors["rng/torch"] = torch.get_rng_state()
    tensors["rng/numpy"] = torch.from_numpy(np.asarray(np_state[1], dtype=np.int64))
    tensors.update({k: v.detach().cpu().contiguous() for k, v in extra.items()})
    meta = {"version": VERSION, "counters": counters, "optimizers": skeleton,
            "python_rng": _python_state(random.getstate()),
            "numpy_rng": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "replay": replay is not None}
    if replay is not None:
        arrays, replay_counters = replay.state()
        meta["replay_counters"] = replay_counters
        write_atomic(where / REPLAY_NAME, save_numpy(arrays, metadata={"total": str(replay_counters["total"])}))
    write_atomic(where / STATE_NAME, save_torch(tensors, metadata={META_KEY: json.dumps(meta)}))


def has_checkpoint(folder: Path) -> bool:
    return (folder / CHECKPOINT_DIR / STATE_NAME).is_file()


def load_checkpoint(folder: Path, model: Any, replay: Any | None) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore the model, its optimizers, the RNG states and (when saved) the replay buffer.

    Returns (counters, the extra tensors saved with them).
    """
    import random

    from safetensors import safe_open

    path = folder / CHECKPOINT_DIR / STATE_NAME
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})[META_KEY])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as exc:  # OSError, a missing key, bad JSON, or safetensors' own error type
        raise WorldfluxError(f"{path} is not a worldflux checkpoint ({exc})",
                             "train without --resume into a new --output folder") from None
    if meta.get("version") != VERSION:
        raise WorldfluxError(f"{path} has checkpoint version {meta.get('version')}, this worldflux reads {VERSION}",
                             "train without --resume into a new --output folder")
    device = next(model.parameters()).device
    model.load_state_dict({k[len("model/"):]: v.to(device) for k, v in tensors.items() if k.startswith("model/")},
                          strict=True)
    model.load_optimizer_state_dict(unflatten_optimizers(tensors, meta["optimizers"]))
    random.setstate((meta["python_rng"][0], tuple(meta["python_rng"][1]), meta["python_rng"][2]))
    name, pos, has_gauss, cached = meta["numpy_rng"]
    np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng/torch"])
    counters = dict(meta["counters"])
    counters["replay_restored"] = False
    if replay is not None and meta.get("replay") and (folder / CHECKPOINT_DIR / REPLAY_NAME).is_file():
        with safe_open(str(folder / CHECKPOINT_DIR / REPLAY_NAME), framework="np") as fh:
            replay_meta = fh.metadata() or {}
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        if replay_meta.get("total") == str(meta["replay_counters"]["total"]):  # the same moment as the state
            replay.load_state(arrays, meta["replay_counters"])
            counters["replay_restored"] = True
    extra = {k: v for k, v in tensors.items() if k.startswith("extra/")}
    return counters, extra
