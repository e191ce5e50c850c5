"""Official TD-MPC2 checkpoints (nicklashansen/tdmpc2) in and out: ``{"model": WorldModel.state_dict()}``.

The official layout (tdmpc2/common/world_model.py at e9f5932), component by component:

    _encoder.state.{i}.{weight,bias,ln.weight,ln.bias}     vector encoder (normed layers, the last to SimNorm)
    _encoder.rgb.{2,4,6,8}.{weight,bias}                   pixel encoder (convolutions; 0, 1: augmentation,
                                                           preprocessing; odd: ReLU)
    _dynamics.*, _reward.*, _pi.*, _termination.*          MLPs like the encoder's (last layer plain Linear for
                                                           reward, pi, termination)
    _Qs.params.{l}.{weight,bias,ln.weight,ln.bias}         the Q ensemble, stacked (num_q, out, in) / (num_q, out)
    _detach_Qs_params.{l}.*                                the same tensors again (a no-grad view of _Qs)
    _target_Qs_params.{l}.*                                the EMA target Qs
    _Qs.module.*, _detach_Qs.module.*, _target_Qs.module.* shape-only placeholders (meta tensors)
    _task_emb.weight, _action_masks                        multitask only: (tasks, task_dim), (tasks, action_dim)
    log_std_min, log_std_dif                               the policy's log-std bounds (-10 and 12)

The older layout that the official ``api_model_conversion`` converts numbers the Q tensors flat:
``_Qs.params.{4 l + k}`` and ``_target_Qs.params.{4 l + k}`` with k indexing (weight, bias, ln.weight,
ln.bias), and has no ``_detach_Qs_params``. Optional metadata keys of older tensordict versions
(``*.__batch_size``, ``*.__device``) are read and checked. The running Q scale of the official agent is
not in the file: an imported model starts with q_scale 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worldflux_cli.errors import EXIT_FAILED, EXIT_INVALID
from worldflux_cli.interop.safe_load import CheckpointError, load_checkpoint

#: The official policy log-std bounds, which this model fixes (models.tdmpc2.LOG_STD_MIN / MAX).
LOG_STD_MIN, LOG_STD_DIF = -10, 12
_MLPS = {"_dynamics": "dynamics", "_reward": "reward_head", "_pi": "pi", "_termination": "termination_head"}
_Q_NAMES = ("weight", "bias", "ln.weight", "ln.bias")
_PLACEHOLDER = re.compile(r"^_(Qs|detach_Qs|target_Qs)\.module\.")
_META = re.compile(r"^_(Qs\.params|detach_Qs_params|target_Qs_params|Qs|detach_Qs|target_Qs)\."
                   r"(params\.)?__(batch_size|device)$")


def _refuse(path: str, message: str, problems: list[str], hint: str) -> CheckpointError:
    shown = problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else [])
    return CheckpointError(f"{path}: {message}", hint, details=shown, exit_code=EXIT_INVALID)


def _state_of(obj: Any, path: str) -> dict[str, Any]:
    import torch

    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: not a TD-MPC2 checkpoint (expected {{'model': state_dict}}, found "
                              f"{type(obj).__name__})", "give a checkpoint saved by the official TD-MPC2 agent",
                              exit_code=EXIT_INVALID)
    bad = [str(k)[:80] for k, v in state.items() if not isinstance(k, str) or not (
        isinstance(v, torch.Tensor) or _META.match(str(k)))]
    if bad:
        raise _refuse(path, "not a TD-MPC2 state dict: entries that are not tensors", bad,
                      "give a checkpoint saved by the official TD-MPC2 agent")
    if not any(k.startswith("_encoder.") for k in state) or "_pi.0.weight" not in state:
        raise CheckpointError(f"{path}: not a TD-MPC2 checkpoint (no _encoder.* or _pi.* weights)",
                              "give a checkpoint saved by the official TD-MPC2 agent (or, for DreamerV3, "
                              "its own importer)", exit_code=EXIT_INVALID)
    return state


def _normalise_layout(state: dict[str, Any]) -> dict[str, Any]:
    """The older flat-numbered Q layout renamed to the newer one (the other keys as they are)."""
    if not any(re.match(r"^_Qs\.params\.\d+$", k) for k in state):
        return dict(state)
    out: dict[str, Any] = {}
    for key, value in state.items():
        m = re.match(r"^_(Qs|target_Qs)\.params\.(\d+)$", key)
        if m:
            n = int(m.group(2))
            new = f"{n // 4}.{_Q_NAMES[n % 4]}"
            if m.group(1) == "Qs":
                out[f"_Qs.params.{new}"] = value
                out[f"_detach_Qs_params.{new}"] = value
            else:
                out[f"_target_Qs_params.{new}"] = value
        else:
            out[key] = value
    return out


def _layers(state: dict[str, Any], prefix: str) -> int:
    """How many numbered Linear layers ``prefix``.{i}.weight there are."""
    return len({int(m.group(1)) for k in state for m in [re.match(rf"^{re.escape(prefix)}\.(\d+)\.weight$", k)] if m})


def infer_config(state: dict[str, Any], path: str = "checkpoint", **given: Any) -> Any:
    """The TDMPC2Config the official ``state`` (new layout) was made with, from its shapes plus ``given``.

    ``given`` holds what the file cannot: obs_shape (pixels: (3, 64, 64) by default), simnorm_dim (8),
    dropout (0.01), episode_length, task_episode_lengths, discount, model_name; and any other field.
    Fields the file does fix (action_dim, ...) must agree when given.
    """
    from worldflux_cli.config import TDMPC2Config

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise _refuse(path, "missing key", [key], "the file is incomplete or not a TD-MPC2 checkpoint")
        return tuple(state[key].shape)

    multitask = "_task_emb.weight" in state
    num_tasks, task_dim = shape("_task_emb.weight") if multitask else (1, 0)
    n_dyn = _layers(state, "_dynamics")
    hidden, latent = shape("_dynamics.0.weight")[0], shape(f"_dynamics.{n_dyn - 1}.weight")[0]
    action_dim = shape(f"_pi.{_layers(state, '_pi') - 1}.weight")[0] // 2
    num_q = shape("_Qs.params.0.weight")[0]
    values: dict[str, Any] = {
        "model_type": "tdmpc2", "action_dim": action_dim, "latent_dim": latent, "hidden_dim": hidden,
        "num_hidden_layers": n_dyn - 1, "num_q_networks": num_q,
        "num_bins": shape(f"_reward.{_layers(state, '_reward') - 1}.weight")[0],
        "episodic": "_termination.0.weight" in state, "num_tasks": num_tasks,
    }
    if multitask:
        values["task_dim"] = task_dim
    if any(k.startswith("_encoder.state.") for k in state):
        n_enc = _layers(state, "_encoder.state")
        values["obs_shape"] = (shape("_encoder.state.0.weight")[1] - task_dim,)
        values["encoder_dim"] = shape("_encoder.state.0.weight")[0]
        values["num_encoder_layers"] = n_enc  # n_enc - 1 hidden layers (at least 1)
    elif any(k.startswith("_encoder.rgb.") for k in state):
        channels, in_ch = shape("_encoder.rgb.2.weight")[:2]
        values["cnn_channels"] = channels
        values["obs_shape"] = tuple(given.pop("obs_shape", None) or (in_ch, 64, 64))
    else:
        raise _refuse(path, "no encoder weights", ["_encoder.state.* or _encoder.rgb.*"],
                      "the file is not a TD-MPC2 checkpoint")
    if "_action_masks" in state:
        masks = state["_action_masks"]
        dims = []
        for row in masks.float():
            n = int(row.sum())
            if not bool((row[:n] == 1).all()) or bool(row[n:].any()):
                raise _refuse(path, "_action_masks rows are not 1s followed by 0s", [str(row.tolist())[:80]],
                              "the file is corrupt or from another program")
            dims.append(n)
        if any(d != action_dim for d in dims):
            values["task_action_dims"] = tuple(dims)
    values.setdefault("simnorm_dim", 8)
    conflicts = [f"{k}: the file says {values[k]}, the option says {v}" for k, v in given.items()
                 if k in values and k != "simnorm_dim" and v is not None and _jsonish(v) != _jsonish(values[k])]
    if conflicts:
        raise _refuse(path, "the options disagree with the weights", conflicts, "drop the options, or give "
                      "the checkpoint they describe")
    values.update({k: v for k, v in given.items() if v is not None})
    try:
        return TDMPC2Config.from_dict({k: _jsonish(v) for k, v in values.items()})
    except Exception as exc:  # ConfigurationError lists the problems
        details = [str(p) for p in getattr(exc, "problems", [])] or [str(exc)]
        raise _refuse(path, "the weights and options make an invalid TD-MPC2 config", details,
                      "check --obs-shape and the other options against the checkpoint") from None


def _jsonish(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def official_key_map(model: Any) -> dict[str, tuple[str, Callable | None]]:
    """Official key -> (our state_dict key, transform from official to ours or None) for the parameters."""
    out: dict[str, tuple[str, Callable | None]] = {}
    c = model.config
    if len(c.obs_shape) == 3:
        for off, ours in ((2, 0), (4, 2), (6, 4), (8, 6)):
            for name in ("weight", "bias"):
                out[f"_encoder.rgb.{off}.{name}"] = (f"encoder.convs.{ours}.{name}", None)
        if model.encoder.proj is not None:
            for name in ("weight", "bias"):
                out[f"_encoder.rgb.proj.{name}"] = (f"encoder.proj.{name}", None)  # not official: refused on export
    else:
        for key in model.encoder.net.state_dict():
            out[f"_encoder.state.{key}"] = (f"encoder.net.{key}", None)
    for off, ours in _MLPS.items():
        if hasattr(model, ours):
            for key in getattr(model, ours).state_dict():
                out[f"{off}.{key}"] = (f"{ours}.{key}", None)
    if c.num_tasks > 1:
        out["_task_emb.weight"] = ("task_emb.weight", None)
    for layer in range(len(model.qs.weight)):
        names = _Q_NAMES if layer < len(model.qs.weight) - 1 else _Q_NAMES[:2]
        for name in names:
            ours = {"weight": "weight", "bias": "bias", "ln.weight": "ln_weight", "ln.bias": "ln_bias"}[name]
            fn = _from_official_q(name)
            out[f"_Qs.params.{layer}.{name}"] = (f"qs.{ours}.{layer}", fn)
            out[f"_target_Qs_params.{layer}.{name}"] = (f"target_qs.{ours}.{layer}", fn)
    return out


def _from_official_q(name: str) -> Callable:
    if name == "weight":
        return lambda t: t.transpose(1, 2)  # (E, out, in) -> (E, in, out)
    return lambda t: t.unsqueeze(1)  # (E, out) -> (E, 1, out)


def _to_official_q(name: str) -> Callable:
    if name.endswith("weight") and "ln" not in name:
        return lambda t: t.transpose(1, 2)
    return lambda t: t.squeeze(1)


def convert_state(state: dict[str, Any], model: Any, path: str = "checkpoint") -> dict[str, Any]:
    """Our state_dict from an official one (new layout), every key accounted for (CheckpointError lists the rest)."""
    import torch

    mapping = official_key_map(model)
    ours = model.state_dict()
    result: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in state.items():
        if key in mapping:
            target, fn = mapping[key]
            t = fn(value) if fn is not None else value
            if tuple(t.shape) != tuple(ours[target].shape):
                problems.append(f"{key}: shape {tuple(value.shape)} does not fit this config")
            elif not t.is_floating_point():
                problems.append(f"{key}: dtype {value.dtype} is not a floating-point type")
            else:
                result[target] = t.to(ours[target].dtype).contiguous()
        elif key.startswith("_detach_Qs_params."):
            twin = "_Qs.params." + key[len("_detach_Qs_params."):]
            if twin not in state:
                problems.append(f"{key}: no matching {twin}")
            elif not torch.equal(value, state[twin]):
                problems.append(f"{key}: differs from {twin} (they are one tensor in the official model)")
        elif _PLACEHOLDER.match(key) or _META.match(key):
            continue  # shape-only placeholders and tensordict metadata: nothing to load
        elif key in ("log_std_min", "log_std_dif"):
            want = LOG_STD_MIN if key == "log_std_min" else LOG_STD_DIF
            if value.numel() != 1 or float(value) != want:
                problems.append(f"{key}: {value.flatten()[:1].tolist()} (this model fixes {want})")
        elif key == "_action_masks":
            if tuple(value.shape) != (model.config.num_tasks, model.config.action_dim):
                problems.append(f"{key}: shape {tuple(value.shape)} does not fit this config")
        else:
            problems.append(f"{key}: unknown key")
    missing = sorted(set(ours) - set(result) - {"q_scale"})
    problems += [f"{_official_name(mapping, k)}: missing" for k in missing]
    if problems:
        raise _refuse(path, f"the checkpoint does not match a TD-MPC2 model ({len(problems)} problem(s))", problems,
                      "is it a TD-MPC2 checkpoint (not a DreamerV3 or other file), complete, and are the options "
                      "right?")
    result["q_scale"] = torch.ones((), dtype=ours["q_scale"].dtype)
    return result


def _official_name(mapping: dict[str, tuple[str, Any]], ours: str) -> str:
    return next((k for k, (v, _) in mapping.items() if v == ours), ours)


def import_checkpoint(path: str | Path, dtype: Any = None, **given: Any) -> tuple[Any, Any]:
    """(model, config) from an official TD-MPC2 checkpoint: see ``infer_config`` for ``given``.

    ``dtype``: the model's dtype (default: the config's, float32); a torch.float64 keeps float64 weights.
    """
    from worldflux_cli.models import build_model

    obj = load_checkpoint(path)
    state = _normalise_layout(_state_of(obj, str(path)))
    config = infer_config(state, str(path), **given)
    model = build_model(config, device="cpu", dtype=dtype)
    model.load_state_dict(convert_state(state, model, str(path)))
    return model, config


def export_state_dict(model: Any) -> dict[str, Any]:
    """The official ``WorldModel.state_dict()`` (newer layout) of ``model``, placeholders included."""
    import torch

    c = model.config
    if len(c.obs_shape) == 3 and model.encoder.proj is not None:
        raise CheckpointError("this pixel model has a Linear after its convolutions (obs_shape "
                              f"{list(c.obs_shape)}, cnn_channels {c.cnn_channels}, latent_dim {c.latent_dim}"
                              f"{', multitask' if c.num_tasks > 1 else ''}); the official encoder has none",
                              "export single-task 64x64 pixel models with cnn_channels x 16 = latent_dim",
                              exit_code=EXIT_INVALID)
    if c.use_decoder:
        raise CheckpointError("this model has a decoder (use_decoder), which the official TD-MPC2 has not",
                              "export a model without use_decoder", exit_code=EXIT_INVALID)
    ours = model.state_dict()
    out: dict[str, Any] = {"log_std_min": torch.tensor(LOG_STD_MIN), "log_std_dif": torch.tensor(LOG_STD_DIF)}
    q_keys: list[str] = []
    for off, (key, fn) in official_key_map(model).items():
        t = ours[key].detach()
        if fn is not None:
            name = off.split(".", 3)[-1] if off.startswith("_Qs.params.") else off.split(".", 2)[-1]
            t = _to_official_q(name)(t)
            if off.startswith("_Qs.params."):
                q_keys.append(off)
        out[off] = t.contiguous().clone()
    for off in q_keys:
        rest = off[len("_Qs.params."):]
        out[f"_detach_Qs_params.{rest}"] = out[off]
    for off in q_keys:  # shape-only placeholders, as the official state_dict has them
        rest = off[len("_Qs.params."):]
        out[f"_Qs.module.{rest}"] = torch.empty(out[off].shape[1:], device="meta", dtype=out[off].dtype)
        for twin in ("_detach_Qs", "_target_Qs"):
            out[f"{twin}.module.{rest}"] = torch.empty(out[off].shape, device="meta", dtype=out[off].dtype)
    if c.num_tasks > 1:
        out["_action_masks"] = model.action_masks.detach().float().clone()
    return out


def export_checkpoint(model: Any, path: str | Path) -> None:
    """Write ``{"model": export_state_dict(model)}`` to ``path`` with torch.save, atomically (fileio.write_atomic:
    a whole file or none, with the usual permissions)."""
    import io

    import torch

    from worldflux_cli.fileio import write_atomic

    buffer = io.BytesIO()
    torch.save({"model": export_state_dict(model)}, buffer)
    write_atomic(Path(path), buffer.getvalue())


def param_count(state: dict[str, Any]) -> int:
    """Elements of the real (non-placeholder) tensors of an official state dict."""
    return sum(math.prod(v.shape) for k, v in state.items() if not _PLACEHOLDER.match(k) and hasattr(v, "shape"))


__all__ = ["EXIT_FAILED", "convert_state", "export_checkpoint", "export_state_dict", "import_checkpoint",
           "infer_config", "official_key_map"]
