"""Checkpoints in safetensors, written atomically; nothing pickled.

``checkpoints/checkpoint.safetensors`` holds, in one file: the model's ``state_dict`` (``model/...``),
the optimizers' tensors (``optim/<name>/<param id>/<key>``), the torch and numpy RNG states, the agent's
state (``agent/...``: TD-MPC2's warm-start means) and the actions of each environment's episode in progress
(``episode_actions/<env>``); its metadata key ``worldflux_checkpoint`` is a JSON document with everything else
(step counters, the optimizers' param groups and non-tensor state, the python and numpy RNG states).
``checkpoints/replay.safetensors`` (optional) holds the replay buffer. Each file is written to a temp file
and renamed into place.

A data-parallel run (``--nproc``) has one set per rank: rank 0 writes the files above (with the weights and
optimizer state every rank shares), rank r > 0 ``rank<r>.safetensors`` and ``replay-rank<r>.safetensors``
(its own RNG states, agent state, environments and replay buffer; no weights).
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
VERSION = 2  # 2: a replay ring per environment, the agent's state, ranks


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


def _names(rank: int) -> tuple[str, str]:
    return (STATE_NAME, REPLAY_NAME) if rank == 0 else (f"rank{rank}.safetensors", f"replay-rank{rank}.safetensors")


def save_checkpoint(folder: Path, model: Any, counters: dict[str, Any], extra: dict[str, torch.Tensor],
                    replay: Any | None, rank: int = 0) -> None:
    """Write ``folder``/checkpoints/ (created when missing): this rank's state file, and its replay file when
    given. ``extra``: tensors by name (the agent's state, the episodes' actions). Rank 0 adds the weights and
    optimizer state."""
    import random

    from safetensors.numpy import save as save_numpy
    from safetensors.torch import save as save_torch

    where = folder / CHECKPOINT_DIR
    where.mkdir(parents=True, exist_ok=True)
    state_name, replay_name = _names(rank)
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"version": VERSION, "rank": rank}
    if rank == 0:
        tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        opt_tensors, meta["optimizers"] = flatten_optimizers(model.optimizer_state_dict())
        tensors.update(opt_tensors)
    np_state = np.random.get_state()
    tensors["rng/torch"] = torch.get_rng_state()
    tensors["rng/numpy"] = torch.from_numpy(np.asarray(np_state[1], dtype=np.int64))
    tensors.update({k: v.detach().cpu().contiguous() for k, v in extra.items()})
    meta.update({"counters": counters, "python_rng": _python_state(random.getstate()),
                 "numpy_rng": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
                 "replay": replay is not None})
    if replay is not None:
        arrays, replay_counters = replay.state()
        meta["replay_counters"] = replay_counters
        write_atomic(where / replay_name, save_numpy(arrays, metadata={"step": str(counters["step"])}))
    write_atomic(where / state_name, save_torch(tensors, metadata={META_KEY: json.dumps(meta)}))


def has_checkpoint(folder: Path) -> bool:
    return (folder / CHECKPOINT_DIR / STATE_NAME).is_file()


def _read(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from safetensors import safe_open

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
    return meta, tensors


def load_checkpoint(folder: Path, model: Any, replay: Any | None, rank: int = 0
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore the model and its optimizers (from rank 0's file), this rank's RNG states and (when saved) its
    replay buffer. Returns (counters, the extra tensors saved with them); ``counters["replay_restored"]``
    says whether the replay buffer was restored.
    """
    import random

    from safetensors import safe_open

    state_name, replay_name = _names(rank)
    main_meta, main = _read(folder / CHECKPOINT_DIR / STATE_NAME)
    if rank and not (folder / CHECKPOINT_DIR / state_name).is_file():
        trained = main_meta["counters"].get("nproc", 1)
        raise WorldfluxError(f"--resume: {folder / CHECKPOINT_DIR} holds no checkpoint of rank {rank} (the run was "
                             f"trained on {trained} process(es))", f"resume with --nproc {trained}")
    meta, tensors = (main_meta, main) if rank == 0 else _read(folder / CHECKPOINT_DIR / state_name)
    if meta["counters"]["step"] != main_meta["counters"]["step"]:
        raise WorldfluxError(f"{folder / CHECKPOINT_DIR / state_name} is of step {meta['counters']['step']}, the "
                             f"checkpoint of step {main_meta['counters']['step']}",
                             "resume with the --nproc the run was trained with, or train into a new --output folder")
    device = next(model.parameters()).device
    model.load_state_dict({k[len("model/"):]: v.to(device) for k, v in main.items() if k.startswith("model/")},
                          strict=True)
    model.load_optimizer_state_dict(unflatten_optimizers(main, main_meta["optimizers"]))
    random.setstate((meta["python_rng"][0], tuple(meta["python_rng"][1]), meta["python_rng"][2]))
    name, pos, has_gauss, cached = meta["numpy_rng"]
    np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["rng/torch"])
    counters = dict(meta["counters"])
    counters["replay_restored"] = False
    replay_path = folder / CHECKPOINT_DIR / replay_name
    if replay is not None and meta.get("replay") and replay_path.is_file():
        with safe_open(str(replay_path), framework="np") as fh:
            replay_meta = fh.metadata() or {}
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        if replay_meta.get("step") == str(counters["step"]):  # the same moment as the state
            try:
                replay.load_state(arrays, meta["replay_counters"])
            except (ValueError, KeyError) as exc:
                raise WorldfluxError(f"--resume: {replay_path} does not fit this run: {exc}",
                                     "resume with the run file that started the run") from None
            counters["replay_restored"] = True
    extra = {k: v for k, v in tensors.items() if not k.startswith(("model/", "optim/", "rng/"))}
    return counters, extra
