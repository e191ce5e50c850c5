"""Official DreamerV3 checkpoints (danijar/dreamerv3 e3f0224, elements layout) in and out.

An official run folder (its logdir) holds::

    config.yaml                         the run's whole config
    ckpt/latest                         the name of the newest complete save, e.g. 20261208T012841F186698
    ckpt/<name>/agent.pkl               {'params': {key: ndarray}, 'counters': {updates, batches, actions}}
                                        (or shards agent-0000.pkl, agent-0001.pkl, ... of such dicts)
    ckpt/<name>/step.pkl, replay.pkl    the env step counter (an int); None (the replay lives in replay/)
    ckpt/<name>/done                    empty: the save is complete

``params`` is the agent's whole state, keyed by module path: the weights (dreamerv3_keys.rules_for maps each),
the slow value copy, the return normaliser, the optimizer's moments and counters. Pickles are read with
interop.safe_pickle (numeric numpy arrays and plain containers only; anything else is refused by name).

``import_checkpoint`` builds the worldflux model: its config from config.yaml (when the folder has it) and
the weights' shapes, plus what neither holds (options); every key is accounted for (an unknown, missing or
mis-shaped key is an error listing them all). What a worldflux model folder does not hold (the optimizer's
moments and counters, the slow value's counter, the observation and action key names, config.yaml, the step
counters) goes into ``official.safetensors`` beside it, so ``export_checkpoint`` writes the same tensors back,
bit for bit. A model folder without that file exports with a fresh optimizer state (zeros).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from worldflux_cli.errors import EXIT_FAILED, EXIT_INVALID
from worldflux_cli.interop.dreamerv3_keys import COUNTER_KEYS, MOMENT_PREFIXES, rules_for
from worldflux_cli.interop.safe_load import CheckpointError
from worldflux_cli.interop.safe_pickle import dump_pickle, load_pickle

#: The file of an imported model folder that keeps what the official checkpoint held beside the weights.
EXTRA_NAME = "official.safetensors"
_META_KEY = "worldflux_dreamerv3_official"


def _refuse(path: Any, message: str, problems: list[str], hint: str) -> CheckpointError:
    shown = problems[:50] + ([f"... and {len(problems) - 50} more"] if len(problems) > 50 else [])
    return CheckpointError(f"{path}: {message}", hint, details=shown, exit_code=EXIT_INVALID)


# ------------------------------------------------------------------------------------------ reading
def find_checkpoint(path: str | Path) -> tuple[Path, Path | None]:
    """(the save folder holding agent.pkl, the run folder holding config.yaml or None) for ``path``: a run folder
    (with ckpt/latest), its ckpt folder (with latest), a save folder, or an agent.pkl file."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{path}: no such file or folder", "give an official DreamerV3 run folder (its "
                              "logdir, holding ckpt/latest) or one of its checkpoint folders", exit_code=EXIT_FAILED)
    if p.is_file():
        if not p.name.startswith("agent"):
            raise CheckpointError(f"{path}: not an official DreamerV3 checkpoint (a file named {p.name})",
                                  "give the run folder, its ckpt/<name>/ folder or its agent.pkl; TD-MPC2 .pt files "
                                  "are read as TD-MPC2", exit_code=EXIT_INVALID)
        save = p.parent
    elif (p / "ckpt" / "latest").is_file():
        save = _latest(p / "ckpt")
    elif (p / "latest").is_file():
        save = _latest(p)
    else:
        save = p
    if not any(save.glob("agent.pkl")) and not any(save.glob("agent-0000.pkl")):
        raise CheckpointError(f"{save}: no agent.pkl (or agent-0000.pkl shards)",
                              "give an official DreamerV3 run folder (holding ckpt/latest) or a save folder",
                              exit_code=EXIT_FAILED)
    if not (save / "done").exists():
        raise CheckpointError(f"{save}: the save is incomplete (no 'done' marker)",
                              "the official code writes 'done' last; use a complete save", exit_code=EXIT_INVALID)
    run = save.parent.parent if (save.parent / "latest").exists() else None
    return save, run if run is not None and (run / "config.yaml").is_file() else None


def _latest(ckpt: Path) -> Path:
    name = ckpt.joinpath("latest").read_text(encoding="utf-8").strip()
    if not name or "/" in name or name in (".", ".."):
        raise CheckpointError(f"{ckpt / 'latest'} does not name a save folder ({name[:80]!r})",
                              "the file should hold the name of a folder beside it", exit_code=EXIT_INVALID)
    if not (ckpt / name).is_dir():
        raise CheckpointError(f"{ckpt / 'latest'} names the save {name[:80]!r}, which is not a folder in {ckpt}",
                              "the save was deleted or not copied with the run; give one of the save folders "
                              "that are there (ckpt/<name>/)", exit_code=EXIT_FAILED)
    return ckpt / name


def read_agent(save: Path) -> dict[str, Any]:
    """The agent's saved dict ({'params', 'counters'}), its shards merged; every array checked to be numeric."""
    import numpy as np

    files = [save / "agent.pkl"] if (save / "agent.pkl").is_file() else sorted(save.glob("agent-[0-9]*.pkl"))
    params: dict[str, Any] = {}
    counters: dict[str, Any] = {}
    for f in files:
        data = load_pickle(f)
        if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
            raise CheckpointError(f"{f}: not an official DreamerV3 agent save (expected {{'params': {{...}}, "
                                  f"'counters': {{...}}}}, found {type(data).__name__})",
                                  "give a checkpoint written by the official DreamerV3 training script",
                                  exit_code=EXIT_INVALID)
        twice = sorted(set(params) & set(data["params"]))
        if twice:
            raise _refuse(f, "keys saved in two shards", twice, "the checkpoint is corrupt")
        bad = [str(k)[:80] for k, v in data["params"].items()
               if not isinstance(k, str) or not isinstance(v, np.ndarray)]
        if bad:
            raise _refuse(f, "entries that are not arrays", bad, "the checkpoint is corrupt or not DreamerV3's")
        params.update(data["params"])
        counters.update(data.get("counters") or {})
    return {"params": params, "counters": {k: int(v) for k, v in counters.items() if isinstance(v, int)}}


def read_step(save: Path) -> int | None:
    f = save / "step.pkl"
    if not f.is_file():
        return None
    value = load_pickle(f)
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def read_config_yaml(run: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """(the run's config.yaml as data, its text), or (None, None) without one. Read with yaml.safe_load."""
    if run is None:
        return None, None
    import yaml

    from worldflux_cli.fileio import read_bounded

    text = read_bounded(run / "config.yaml", 1 << 20, "config file").decode("utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CheckpointError(f"{run / 'config.yaml'}: not valid YAML ({str(exc).splitlines()[0][:160]})",
                              "restore the run's config.yaml, or give the save folder alone (ckpt/<name>/)",
                              exit_code=EXIT_INVALID) from None
    return (_numbers(data) if isinstance(data, dict) else None), text


_NUMBER = __import__("re").compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _numbers(node: Any) -> Any:
    """YAML 1.2 numbers that PyYAML (YAML 1.1) reads as strings ('4e-05', '5e6': no dot) made floats again,
    as the official ruamel loader reads them."""
    if isinstance(node, dict):
        return {k: _numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_numbers(v) for v in node]
    return float(node) if isinstance(node, str) and _NUMBER.match(node) else node


# ------------------------------------------------------------------------------------- the config
def _spaces(params: dict[str, Any], path: Any) -> tuple[list[tuple[str, tuple[int, ...]]], bool, str, str, int]:
    """(vector obs keys with their shapes, whether the obs is an image, the action key, its type, its size)."""
    vec = sorted({k.split("/")[2] for k in params if k.startswith("dec/vec/") and k.endswith("/pred/kernel")})
    image = "enc/cnn0/kernel" in params
    if image and vec:
        raise _refuse(path, "the checkpoint has image and vector observations", [f"image + {', '.join(vec)}"],
                      "worldflux's DreamerV3 takes one observation: an image or a vector")
    if not image and not vec:
        raise _refuse(path, "no encoder weights", ["enc/cnn0/kernel or dec/vec/<key>/pred/kernel"],
                      "is it an official DreamerV3 checkpoint?")
    heads = sorted({k.split("/")[2] for k in params if k.startswith("pol/head/")})
    if len(heads) != 1:
        raise _refuse(path, f"{len(heads)} action keys" if heads else "no policy head", heads or ["pol/head/*"],
                      "worldflux's DreamerV3 takes one action space")
    key = heads[0]
    if f"pol/head/{key}/logits/kernel" in params:
        return [(k, tuple(params[f"dec/vec/{k}/pred/bias"].shape)) for k in vec], image, key, "discrete", int(
            params[f"pol/head/{key}/logits/kernel"].shape[-1])
    if f"pol/head/{key}/mean/kernel" in params:
        return [(k, tuple(params[f"dec/vec/{k}/pred/bias"].shape)) for k in vec], image, key, "continuous", int(
            params[f"pol/head/{key}/mean/kernel"].shape[-1])
    raise _refuse(path, "the policy head is neither categorical nor bounded normal", [f"pol/head/{key}/*"],
                  "worldflux reads the official categorical and bounded_normal policies")


def _layers(params: dict[str, Any], prefix: str) -> int:
    return len({k.split("/")[len(prefix.split("/"))] for k in params if k.startswith(prefix + "/linear")
                and k.endswith("/kernel")})


def _get(tree: dict[str, Any] | None, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def infer_config(params: dict[str, Any], official: dict[str, Any] | None, path: Any = "checkpoint",
                 **given: Any) -> tuple[Any, dict[str, Any]]:
    """(the DreamerV3Config, the interop facts: obs keys, action key) of an official state.

    The architecture comes from the weights' shapes, the training settings from the run's config.yaml
    (``official``; without it the official defaults) and ``given`` holds what neither says: obs_shape (an
    image's H x W; default square), stoch_discrete (without config.yaml: 32, the official value), cnn_strided
    (without config.yaml: False), model_name; any other field too. Settings the official config may hold that
    worldflux's DreamerV3 cannot build are refused with a list.
    """
    from worldflux_cli.config import DreamerV3Config

    def shape(key: str) -> tuple[int, ...]:
        if key not in params:
            raise _refuse(path, "missing key", [key], "the file is incomplete or not a DreamerV3 checkpoint")
        return tuple(params[key].shape)

    agent = _get(official, "agent") or {}
    problems: list[str] = []

    def want(dotted: str, expected: Any) -> None:
        value = _get(agent, dotted)
        if value is not None and value != expected:
            problems.append(f"agent.{dotted} = {value!r} (worldflux builds {expected!r})")

    obs_keys, image, action_key, action_type, action_dim = _spaces(params, path)
    g, _, gru_out = shape("dyn/dyngru/kernel")
    deter = shape("dyn/dyngru/bias")[0] // 3
    hidden = shape("dyn/dynin0/bias")[0]
    latent = shape("dyn/obslogit/bias")[0]
    stoch = _get(agent, "dyn.rssm.stoch") or given.pop("stoch_discrete", None) or 32
    if latent % stoch:
        raise _refuse(path, f"the latent has {latent} units, not a multiple of {stoch} categoricals",
                      [f"dyn/obslogit/bias {latent}"], "give the number of categoricals with --stoch")
    units = shape("rew/mlp/linear0/bias")[0]
    values: dict[str, Any] = {
        "model_type": "dreamer", "deter_dim": deter, "hidden_dim": hidden, "gru_blocks": g, "stoch_discrete": stoch,
        "stoch_classes": latent // stoch, "mlp_units": units, "mlp_layers": _layers(params, "pol/mlp"),
        "head_layers": _layers(params, "rew/mlp"), "reward_num_bins": shape("rew/head/logits/bias")[0],
        "action_type": action_type, "action_dim": action_dim,
    }
    if image:
        n = len({k.split("/")[1] for k in params if k.startswith("enc/cnn") and k.endswith("/kernel")})
        outs = [shape(f"enc/cnn{i}/kernel")[3] for i in range(n)]
        kernels = [shape(f"enc/cnn{i}/kernel")[0] for i in range(n)]
        depth = _get(agent, "enc.simple.depth") or (outs[0] // 2 if outs[0] % 2 == 0 else math.gcd(*outs))
        channels = shape("enc/cnn0/kernel")[2]
        pixels = shape("dec/sp0/bias")[0] // outs[-1]
        side = math.isqrt(pixels)
        default_shape = (channels, side << n, side << n) if side * side == pixels else None
        obs_shape = tuple(given.pop("obs_shape", None) or default_shape or ())
        if not obs_shape:
            raise _refuse(path, "the image is not square: its height and width are not in the weights",
                          [f"final map {pixels} pixels"], "give --obs-shape C,H,W")
        values.update(obs_shape=obs_shape, cnn_depth=depth, cnn_kernels=tuple(kernels),
                      cnn_multipliers=tuple(o // depth for o in outs), decoder_blocks=shape("dec/sp0/kernel")[0])
        if any(o % depth for o in outs):
            problems.append(f"CNN channels {outs} are not multiples of the depth {depth}")
        strided = _get(agent, "enc.simple.strided")
        values["cnn_strided"] = bool(given.pop("cnn_strided", False) if strided is None else strided)
        if _get(agent, "dec.simple.strided") not in (None, values["cnn_strided"]):
            problems.append("the encoder and decoder differ in 'strided' (worldflux uses one CNN form)")
        for side_ in ("enc", "dec"):
            want(f"{side_}.simple.outer", False)
    else:
        values["obs_shape"] = (sum(math.prod(s) for _, s in obs_keys),)
        if any(len(s) != 1 for _, s in obs_keys):
            problems.append(f"vector observations with shapes {[s for _, s in obs_keys]} (worldflux reads (D,) ones)")
    # the settings the config.yaml holds
    if agent:
        scales = agent.get("loss_scales") or {}
        dyn, rep = float(scales.get("dyn", 1.0)), float(scales.get("rep", 0.1))
        values["loss_scales"] = {"reconstruction": float(scales.get("rec", 1.0)),
                                 "reward": float(scales.get("rew", 1.0)),
                                 "continue": float(scales.get("con", 1.0)), "kl": dyn + rep,
                                 "policy": float(scales.get("policy", 1.0)), "value": float(scales.get("value", 1.0)),
                                 "repval": float(scales.get("repval", 0.3)) if agent.get("repval_loss", True) else 0.0}
        values["kl_balance"] = dyn / (dyn + rep) if dyn + rep else 0.5
        for ours, dotted in (("unimix", "dyn.rssm.unimix"), ("kl_free", "dyn.rssm.free_nats"),
                             ("use_symlog", "enc.simple.symlog"), ("imagination_horizon", "imag_length"),
                             ("return_lambda", "imag_loss.lam"), ("actor_entropy", "imag_loss.actent"),
                             ("continue_discount", "contdisc"), ("learning_rate", "opt.lr"),
                             ("grad_clip", "opt.agc"), ("optimizer_eps", "opt.eps"), ("warmup_steps", "opt.warmup")):
            value = _get(agent, dotted)
            if value is not None:
                values[ours] = value
        for part in ("actor", "critic"):
            if "learning_rate" in values:
                values[f"{part}_learning_rate"] = values["learning_rate"]
        if agent.get("horizon"):
            values["discount"] = 1.0 - 1.0 / float(agent["horizon"])
        rate = _get(agent, "slowvalue.rate")
        if rate is not None:
            values["critic_ema_decay"] = 1.0 - float(rate)
        rate = _get(agent, "retnorm.rate")
        if rate is not None:
            values["return_norm_decay"] = 1.0 - float(rate)
        if official is not None and official.get("replay_context") is not None:
            values["replay_context"] = int(official["replay_context"])
        values["optimizer"] = "laprop"
        for dotted, expected in (("dyn.typ", "rssm"), ("enc.typ", "simple"), ("dec.typ", "simple"),
                                 ("dyn.rssm.imglayers", 2), ("dyn.rssm.obslayers", 1), ("dyn.rssm.dynlayers", 1),
                                 ("dyn.rssm.absolute", False), ("dyn.rssm.act", "silu"), ("dyn.rssm.norm", "rms"),
                                 ("dyn.rssm.outscale", 1.0), ("rewhead.output", "symexp_twohot"),
                                 ("value.output", "symexp_twohot"), ("rewhead.outscale", 0.0), ("value.outscale", 0.0),
                                 ("policy.outscale", 0.01), ("policy.minstd", 0.1), ("policy.maxstd", 1.0),
                                 ("policy_dist_disc", "categorical"), ("policy_dist_cont", "bounded_normal"),
                                 ("opt.beta1", 0.9), ("opt.beta2", 0.999), ("opt.momentum", True), ("opt.wd", 0.0),
                                 ("opt.schedule", "const"), ("imag_loss.slowtar", False), ("imag_loss.slowreg", 1.0),
                                 ("repl_loss.slowtar", False), ("repl_loss.slowreg", 1.0), ("slowvalue.every", 1),
                                 ("retnorm.impl", "perc"), ("retnorm.limit", 1.0), ("retnorm.perclo", 5.0),
                                 ("retnorm.perchi", 95.0), ("retnorm.debias", False), ("valnorm.impl", "none"),
                                 ("advnorm.impl", "none"), ("imag_last", 0), ("ac_grads", False),
                                 ("reward_grad", True), ("repval_grad", True), ("dec.simple.bspace",
                                                                                values.get("decoder_blocks"))):
            if expected is not None:
                want(dotted, expected)
        if _get(agent, "repl_loss.lam") not in (None, _get(agent, "imag_loss.lam")):
            problems.append("repl_loss.lam differs from imag_loss.lam (worldflux uses one return_lambda)")
        mlps = ("policy", "value") if image else ("enc.simple", "dec.simple", "policy", "value")  # (used ones)
        for name in ("rewhead", "conhead", *mlps):
            for key, expected in (("act", "silu"), ("norm", "rms"), ("units", units)):
                want(f"{name}.{key}", expected)
        layers = {name: _get(agent, f"{name}.layers") for name in mlps}
        if len({v for v in layers.values() if v is not None} | {values["mlp_layers"]}) > 1:
            problems.append(f"layers {layers} differ (worldflux uses one mlp_layers for encoder, decoder, actor, "
                            "critic)")
        if _get(agent, "conhead.layers") not in (None, values["head_layers"]):
            problems.append("conhead.layers differs from rewhead.layers (worldflux uses one head_layers)")
    if problems:
        raise _refuse(path, "the checkpoint uses settings worldflux's DreamerV3 does not build", problems,
                      "worldflux follows the official defaults in these; see benchmarks/PARITY.md")
    conflicts = [f"{k}: the checkpoint says {_jsonish(values[k])}, the option says {_jsonish(v)}"
                 for k, v in given.items() if k in values and v is not None and _jsonish(v) != _jsonish(values[k])]
    if conflicts:
        raise _refuse(path, "the options disagree with the checkpoint", conflicts,
                      "drop the options, or give the checkpoint they describe")
    values.update({k: v for k, v in given.items() if v is not None})
    try:
        config = DreamerV3Config.from_dict({k: _jsonish(v) for k, v in values.items()})
    except Exception as exc:  # ConfigurationError lists the problems
        details = [f"{'.'.join(map(str, p.where))}: {p.message}" for p in getattr(exc, "problems", [])] or [str(exc)]
        raise _refuse(path, "the weights and options make an invalid DreamerV3 config", details,
                      "check --obs-shape and the other options against the checkpoint") from None
    keys = obs_keys if not image else [(str(given.get("image_key") or "image"), tuple(config.obs_shape))]
    return config, {"obs_keys": [[k, list(s)] for k, s in keys], "action_key": action_key}


def _jsonish(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


# ------------------------------------------------------------------------------------ conversion
def convert_state(params: dict[str, Any], model: Any, facts: dict[str, Any], path: Any = "checkpoint"
                  ) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """(our state_dict, our optimizer moments {"nu"|"mu": {our name: tensor}}, the official counters) from an
    official ``params`` tree; every key accounted for (CheckpointError lists the unknown, missing and mis-shaped)."""
    import numpy as np
    import torch

    obs_keys = [(k, tuple(s)) for k, s in facts["obs_keys"]]
    rules = rules_for(model.config, obs_keys, facts["action_key"])
    ours = model.state_dict()
    result: dict[str, Any] = {}
    moments: dict[str, dict[str, Any]] = {"nu": {}, "mu": {}}
    problems: list[str] = []
    used: set[str] = set()

    def convert(rule, source: dict[str, Any], prefix: str) -> list[np.ndarray] | None:
        keys = [prefix + k for k in rule.official]
        missing = [k for k in keys if k not in source]
        if missing:
            problems.extend(f"{k}: missing" for k in missing)
            return None
        used.update(keys)
        try:
            return rule.to_ours([np.asarray(source[k]) for k in keys])
        except (ValueError, IndexError) as exc:
            problems.append(f"{', '.join(keys)}: shapes {[tuple(source[k].shape) for k in keys]} do not fit this "
                            f"config ({exc})")
            return None

    # An official save always holds the optimizer's state; when a file has any of it, every moment and counter
    # must be there (a file with none of it is read as weights only: the optimizer starts at zeros).
    has_opt = any(k.startswith("opt/") for k in params)
    for rule in rules:
        arrays = convert(rule, params, "")
        if arrays is None:
            continue
        for name, array in zip(rule.ours, arrays, strict=True):
            want = tuple(ours[name].shape)
            if tuple(array.shape) != want:
                problems.append(f"{'/'.join(rule.official)}: gives {name} the shape {tuple(array.shape)}, this config "
                                f"builds {want}")
            elif array.dtype.kind != "f":
                problems.append(f"{'/'.join(rule.official)}: dtype {array.dtype} is not a floating-point type")
            else:
                result[name] = torch.from_numpy(np.array(array)).to(ours[name].dtype)
        if any(rule.official[0].startswith(p) for p in ("slowval/", "retnorm/")):
            continue  # the slow value and the return normaliser are not trained: no moments
        for moment, prefix in MOMENT_PREFIXES.items():
            if has_opt:
                arrays = convert(rule, params, prefix)
                if arrays is not None:
                    for name, array in zip(rule.ours, arrays, strict=True):
                        if tuple(array.shape) != tuple(ours[name].shape) or array.dtype.kind != "f":
                            problems.append(f"{'/'.join(prefix + k for k in rule.official)}: {array.dtype} "
                                            f"{tuple(array.shape)} for {name} ({tuple(ours[name].shape)}, float)")
                        else:
                            moments[moment][name] = torch.from_numpy(np.array(array, dtype=np.float32))
    counters = {}
    for key in COUNTER_KEYS:
        if key not in params and has_opt:
            problems.append(f"{key}: missing")
        elif key in params:
            used.add(key)
            value = np.asarray(params[key])
            if value.shape != () or value.dtype.kind not in "iu":
                problems.append(f"{key}: {value.dtype} {tuple(value.shape)} (an integer scalar)")
            else:
                counters[key] = int(value)
    problems += [f"{k}: unknown key" for k in sorted(set(params) - used)]
    problems += [f"{k}: missing (worldflux {k!r} has no official source)" for k in sorted(set(ours) - set(result))]
    if problems:
        raise _refuse(path, f"the checkpoint does not match a DreamerV3 model ({len(problems)} problem(s))", problems,
                      "is it an official DreamerV3 checkpoint (not a TD-MPC2 or other file), complete, and are the "
                      "options right?")
    return result, moments, counters


def export_params(model: Any, facts: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """The official ``params`` tree of ``model``: weights, slow value, return normaliser, and the optimizer's
    moments and counters from ``extra`` (an imported folder's official.safetensors) or zeros."""
    import numpy as np

    obs_keys = [(k, tuple(s)) for k, s in facts["obs_keys"]]
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    out: dict[str, Any] = {}
    moments = (extra or {}).get("moments", {})
    for rule in rules_for(model.config, obs_keys, facts["action_key"]):
        arrays = rule.to_official([state[name].float().numpy() for name in rule.ours])
        for key, array in zip(rule.official, arrays, strict=True):
            out[key] = np.asarray(array, dtype=np.float32)
        if rule.official[0].startswith(("slowval/", "retnorm/")):
            continue
        for moment, prefix in MOMENT_PREFIXES.items():
            given = moments.get(moment, {})
            source = [given[name].numpy() if name in given else np.zeros(tuple(state[name].shape), np.float32)
                      for name in rule.ours]
            for key, array in zip(rule.official, rule.to_official(source), strict=True):
                out[prefix + key] = np.asarray(array, dtype=np.float32)
    counters = (extra or {}).get("counters", {})
    for key in COUNTER_KEYS:
        out[key] = np.array(int(counters.get(key, 0)), dtype=np.int32)
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------------ the entry points
def import_checkpoint(path: str | Path, dtype: Any = None, **given: Any) -> tuple[Any, Any, dict[str, Any]]:
    """(model, config, extra) from an official DreamerV3 checkpoint: see ``infer_config`` for ``given``; ``extra``
    holds what a model folder does not (``write_extra`` saves it beside the folder's files)."""
    from worldflux_cli.models import build_model

    save, run = find_checkpoint(path)
    agent = read_agent(save)
    official, text = read_config_yaml(run)
    config, facts = infer_config(agent["params"], official, str(path), **given)
    model = build_model(config, device="cpu", dtype=dtype)
    state, moments, counters = convert_state(agent["params"], model, facts, str(path))
    model.load_state_dict(state, strict=True)
    if not model.image_obs and len(facts["obs_keys"]) > 1:  # the official decoder's per-key heads (LaProp's clipping)
        model.vector_obs_sizes = [math.prod(s) for _, s in facts["obs_keys"]]
    extra = {"facts": facts, "moments": moments, "counters": counters, "agent_counters": agent["counters"],
             "step": read_step(save), "config_yaml": text, "save_name": save.name}
    return model, config, extra


def write_extra(folder: Path, extra: dict[str, Any]) -> str:
    """Write ``extra`` as ``folder``/official.safetensors (moments as tensors, the rest in its metadata)."""
    from safetensors.torch import save as save_torch

    from worldflux_cli.fileio import write_atomic

    tensors = {f"{m}/{name}": t.contiguous() for m, named in extra["moments"].items() for name, t in named.items()}
    meta = {k: extra[k] for k in ("facts", "counters", "agent_counters", "step", "config_yaml", "save_name")}
    write_atomic(folder / EXTRA_NAME, save_torch(tensors, metadata={_META_KEY: json.dumps(meta)}))
    return EXTRA_NAME


def read_extra(folder: Path) -> dict[str, Any] | None:
    """What ``write_extra`` wrote, or None when the folder has no official.safetensors."""
    from safetensors import safe_open

    f = folder / EXTRA_NAME
    if not f.is_file():
        return None
    try:
        with safe_open(str(f), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})[_META_KEY])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as exc:  # safetensors' own error type, bad JSON, a missing key
        raise CheckpointError(f"{f}: not a worldflux {EXTRA_NAME} ({str(exc)[:160]})",
                              f"remove {EXTRA_NAME} to export with a fresh optimizer state",
                              exit_code=EXIT_INVALID) from None
    moments: dict[str, dict[str, Any]] = {"nu": {}, "mu": {}}
    for key, value in tensors.items():
        moment, _, name = key.partition("/")
        moments.setdefault(moment, {})[name] = value
    return {**meta, "moments": moments}


def default_facts(config: Any) -> dict[str, Any]:
    """The official key names a model folder without official.safetensors exports with: one 'image' or 'vector'
    observation, the 'action' action."""
    kind = "image" if len(config.obs_shape) == 3 else "vector"
    return {"obs_keys": [[kind, list(config.obs_shape)]], "action_key": "action"}


def export_problems(config: Any) -> list[str]:
    """What the official code computes differently from this model (so its weights would mean something else)."""
    s = config.resolved()
    out = []
    if s["twohot_bins"] != "symexp":
        out.append("twohot_bins 'symlog': the official reward and value heads read their logits over symexp bins")
    if config.action_type == "discrete" and s["actor_unimix"]:
        out.append(f"actor_unimix {s['actor_unimix']}: the official discrete policy has no unimix")
    if len(config.obs_shape) == 3 and len(set(config.cnn_kernels)) > 1:
        out.append(f"cnn_kernels {list(config.cnn_kernels)}: the official CNN has one kernel size")
    if config.kl_free < 0 or config.unimix < 0:
        out.append("negative free nats or unimix")
    return out


def official_config(config: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``config`` as the official configs.yaml names them (for a config.yaml beside the export)."""
    s = config.resolved()
    scales = s["loss_scales"]
    dyn, rep = scales["kl"] * s["kl_balance"], scales["kl"] * (1 - s["kl_balance"])
    head = {"units": config.mlp_units, "act": "silu", "norm": "rms"}
    cnn = {"depth": config.cnn_depth, "mults": list(config.cnn_multipliers), "kernel": config.cnn_kernels[0],
           "strided": config.cnn_strided, "layers": config.mlp_layers, "units": config.mlp_units}
    return {
        "agent": {
            "dyn": {"typ": "rssm", "rssm": {"deter": config.deter_dim, "hidden": config.hidden_dim,
                                            "stoch": config.stoch_discrete, "classes": config.stoch_classes,
                                            "blocks": config.gru_blocks, "unimix": config.unimix,
                                            "free_nats": config.kl_free}},
            "enc": {"typ": "simple", "simple": {**cnn, "symlog": config.use_symlog}},
            "dec": {"typ": "simple", "simple": {**cnn, "bspace": config.decoder_blocks}},
            "rewhead": {**head, "layers": config.head_layers, "bins": config.reward_num_bins},
            "conhead": {**head, "layers": config.head_layers},
            "policy": {**head, "layers": config.mlp_layers},
            "value": {**head, "layers": config.mlp_layers, "bins": config.reward_num_bins},
            "loss_scales": {"rec": scales["reconstruction"], "rew": scales["reward"], "con": scales["continue"],
                            "dyn": dyn, "rep": rep, "policy": scales["policy"], "value": scales["value"],
                            "repval": scales["repval"]},
            "repval_loss": bool(scales["repval"]),
            "opt": {"lr": s["learning_rate"], "agc": s["grad_clip"]["world"], "eps": s["optimizer_eps"]["world"],
                    "warmup": s["warmup_steps"]},
            "horizon": round(1 / (1 - s["discount"])) if s["discount"] < 1 else 0,
            "contdisc": bool(s["continue_discount"]), "imag_length": config.imagination_horizon,
            "imag_loss": {"lam": config.return_lambda, "actent": config.actor_entropy},
            "repl_loss": {"lam": config.return_lambda},
            "slowvalue": {"rate": 1 - config.critic_ema_decay}, "retnorm": {"rate": 1 - config.return_norm_decay},
        },
        "replay_context": s["replay_context"],
        "worldflux": {"model_name": config.model_name, "obs_keys": facts["obs_keys"],
                      "action_key": facts["action_key"]},
    }


def export_checkpoint(model: Any, output: Path, extra: dict[str, Any] | None = None, force: bool = False) -> None:
    """Write ``model`` as an official run folder at ``output`` (config.yaml, ckpt/latest, ckpt/<name>/...), whole or
    not at all: built beside it, then renamed into place (an existing folder is replaced only with ``force``)."""
    import shutil
    import tempfile
    import time

    import yaml

    problems = export_problems(model.config)
    if problems:
        raise CheckpointError("this model computes what the official DreamerV3 computes differently: "
                              + "; ".join(problems), "export models of the official variant (variant 'official')",
                              exit_code=EXIT_INVALID)
    facts = (extra or {}).get("facts") or default_facts(model.config)
    params = export_params(model, facts, extra)
    counters = {"updates": 0, "batches": 0, "actions": 0, **((extra or {}).get("agent_counters") or {})}
    name = (extra or {}).get("save_name") or time.strftime("%Y%m%dT%H%M%SF000000", time.gmtime())
    text = (extra or {}).get("config_yaml") or yaml.safe_dump(official_config(model.config, facts), sort_keys=True)
    output = Path(output)
    if output.exists() and not force:
        raise CheckpointError(f"{output} exists", "choose a new path, or pass --force to replace it",
                              exit_code=EXIT_FAILED)
    parent = output.parent if str(output.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=parent))
    try:
        save = staging / "ckpt" / name
        save.mkdir(parents=True)
        (staging / "config.yaml").write_text(text, encoding="utf-8")
        (save / "step.pkl").write_bytes(dump_pickle(int((extra or {}).get("step") or 0)))
        (save / "agent.pkl").write_bytes(dump_pickle({"params": params, "counters": counters}))
        (save / "replay.pkl").write_bytes(dump_pickle(None))
        (save / "done").write_bytes(b"")
        (staging / "ckpt" / "latest").write_text(name, encoding="utf-8")
        staging.chmod(0o777 & ~_umask())
        if output.exists():
            old = parent / f".{output.name}.old.{int(time.time() * 1e6)}"
            output.rename(old)
            staging.rename(output)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


__all__ = ["EXTRA_NAME", "convert_state", "export_checkpoint", "export_params", "find_checkpoint", "import_checkpoint",
           "infer_config", "read_agent", "read_extra", "write_extra"]
