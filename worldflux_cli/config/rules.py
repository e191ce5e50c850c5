"""Rules a JSON Schema cannot say: divisibility, shapes, derived fields, size presets.

Each rule reads a config dict whose defaults are filled and returns Problems. A rule skips
fields of the wrong type: the schema check already reports those.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from worldflux_cli.config.env_ids import rule_env
from worldflux_cli.config.fields import field_default, resolve_coders
from worldflux_cli.config.presets import presets_of
from worldflux_cli.config.problems import Problem, error, warning
from worldflux_cli.config.training_rules import rule_training

if TYPE_CHECKING:  # pragma: no cover
    from worldflux_cli.config.base import WorldModelConfig

Rule = Callable[[dict[str, Any], "type[WorldModelConfig]"], Iterator[Problem]]


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _shape(v: Any) -> bool:
    return isinstance(v, list) and all(_int(x) and x > 0 for x in v) and 1 <= len(v) <= 3


def filled_values(values: dict[str, Any], cls: type[WorldModelConfig]) -> dict[str, Any]:
    """``values`` over the class defaults, derived fields computed where absent."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        default = field_default(f)
        out[f.name] = list(default) if isinstance(default, tuple) else getattr(default, "value", default)
    out.update(values)
    for name, derived in cls.derived_values(out).items():
        if name not in values or values[name] is None:
            out[name] = derived
    return out


def image_stride(values: dict[str, Any], family: str) -> int | None:
    """Total downsampling of the family's CNN encoder (None when it has none)."""
    if family == "dreamer":
        kernels = values.get("cnn_kernels")
        return 2 ** len(kernels) if isinstance(kernels, list) else None
    if family == "tdmpc2":
        return 8
    return None


def rule_obs_shape(v: dict[str, Any], cls: type[WorldModelConfig]) -> Iterator[Problem]:
    shape = v.get("obs_shape")
    if not _shape(shape):
        return
    if len(shape) == 2:
        yield error("WF201", f"obs_shape {shape} has 2 dimensions",
                    "use (C, H, W) for images, e.g. [1, 64, 64], or (D,) for vectors, e.g. [39]", ("obs_shape",))
        return
    if len(shape) != 3:
        return
    c, h, w = shape
    if c > 4 and shape[2] in (1, 3, 4):
        yield warning("WF301", f"obs_shape {shape} looks like (H, W, C); images are (C, H, W)",
                      f"write [{shape[2]}, {shape[0]}, {shape[1]}] and transpose your observations", ("obs_shape",))
    stride = image_stride(v, cls.family)
    uses_cnn = cls.family != "dreamer" or "cnn" in resolve_coders(shape, v.get("encoder_type"), v.get("decoder_type"))
    if stride and uses_cnn:
        for index, size, axis in ((1, h, "H"), (2, w, "W")):
            if size % stride:
                lo, hi = max(stride, size - size % stride), size - size % stride + stride
                yield error("WF202", f"image {axis} = {size} is not divisible by the CNN's total stride {stride}",
                            f"resize observations to {lo} or {hi}" + (
                                ", or use fewer cnn_kernels" if cls.family == "dreamer" else ""),
                            ("obs_shape", index))


def rule_derived(v: dict[str, Any], cls: type[WorldModelConfig]) -> Iterator[Problem]:
    for f in dataclasses.fields(cls):
        formula = f.metadata.get("derived")
        if not formula:
            continue
        expected = cls.derived_values(v).get(f.name)
        given = v.get(f.name)
        if expected is not None and _int(given) and given != expected:
            yield error("WF203", f"{f.name} is {given}, but {formula} = {expected}",
                        f"remove {f.name!r} (the tool writes it) or set it to {expected}", (f.name,))


def rule_encoder_fit(v: dict[str, Any], cls: type[WorldModelConfig]) -> Iterator[Problem]:
    shape = v.get("obs_shape")
    if cls.family != "dreamer" or not _shape(shape) or len(shape) == 2:
        return
    kinds = resolve_coders(shape, v.get("encoder_type"), v.get("decoder_type"))
    for key, kind in zip(("encoder_type", "decoder_type"), kinds, strict=True):
        if kind == "cnn" and len(shape) != 3:
            yield error("WF204", f"{key} 'cnn' needs an image obs_shape (C, H, W), got {shape}",
                        f"set {key} to 'mlp' or 'auto'", (key,))
        elif kind == "mlp" and len(shape) != 1:
            yield error("WF204", f"{key} 'mlp' needs a vector obs_shape (D,), got {shape}",
                        f"set {key} to 'cnn' or 'auto'", (key,))


def rule_dreamer(v: dict[str, Any], cls: type[WorldModelConfig]) -> Iterator[Problem]:
    if cls.family != "dreamer":
        return
    deter, blocks = v.get("deter_dim"), v.get("gru_blocks")
    if _int(deter) and _int(blocks) and blocks > 0 and deter % blocks:
        near = _divisors_near(deter, blocks, _maximum(cls, "gru_blocks"))
        yield error("WF206", f"gru_blocks = {blocks} does not divide deter_dim = {deter}",
                    f"use gru_blocks in {near}", ("gru_blocks",))
    kernels, mults = v.get("cnn_kernels"), v.get("cnn_multipliers")
    if isinstance(kernels, list) and isinstance(mults, list) and len(kernels) != len(mults):
        yield error("WF207", f"cnn_kernels has {len(kernels)} stages but cnn_multipliers has {len(mults)}",
                    "give one kernel size and one channel multiplier per CNN stage", ("cnn_multipliers",))
    yield from _decoder_blocks(v, cls)


def _decoder_blocks(v: dict[str, Any], cls: type[WorldModelConfig]) -> Iterator[Problem]:
    """WF208: the image decoder's block projection of deter needs decoder_blocks to divide deter_dim and the
    last CNN stage's channels (official 'bspace')."""
    shape, blocks, deter = v.get("obs_shape"), v.get("decoder_blocks"), v.get("deter_dim")
    depth, mults = v.get("cnn_depth"), v.get("cnn_multipliers")
    if not (_shape(shape) and _int(blocks) and blocks > 0 and _int(deter) and _int(depth) and isinstance(mults, list)
            and mults and _int(mults[-1])):
        return
    if resolve_coders(shape, v.get("encoder_type"), v.get("decoder_type"))[1] != "cnn" or len(shape) != 3:
        return
    last = depth * mults[-1]
    if deter % blocks or last % blocks:
        import math

        common = math.gcd(deter, last)
        near = _divisors_near(common, blocks, _maximum(cls, "decoder_blocks"))
        yield error("WF208", f"decoder_blocks = {blocks} does not divide both deter_dim = {deter} and the last CNN "
                             f"stage's channels (cnn_depth x cnn_multipliers[-1] = {last})",
                    f"use decoder_blocks in {near}", ("decoder_blocks",))


def _divisors_near(n: int, k: int, most: int) -> str:
    """The (up to) four divisors of ``n`` closest to ``k`` that a field bounded by ``most`` may take."""
    divs = [d for d in range(1, min(n, most) + 1) if n % d == 0]
    divs.sort(key=lambda d: abs(d - k))
    return "{" + ", ".join(map(str, sorted(divs[:4]))) + "}"


def _maximum(cls: type[WorldModelConfig], name: str) -> int:
    """The largest value the field ``name`` of ``cls`` may take (its declared maximum)."""
    meta = next(f.metadata for f in dataclasses.fields(cls) if f.name == name)
    return meta["maximum"] if meta["maximum"] is not None else 1 << 62


def rule_tdmpc2(v: dict[str, Any], cls: type[WorldModelConfig]) -> Iterator[Problem]:
    if cls.family != "tdmpc2":
        return
    latent, group = v.get("latent_dim"), v.get("simnorm_dim")
    if _int(latent) and _int(group) and group > 0 and latent % group:
        down, up = latent - latent % group, latent - latent % group + group
        sizes = " or ".join(str(n) for n in (down, up) if 0 < n <= _maximum(cls, "latent_dim"))
        yield error("WF210", f"latent_dim = {latent} is not divisible by simnorm_dim = {group}",
                    f"use latent_dim {sizes}, or a simnorm_dim that divides {latent}", ("latent_dim",))
    samples = v.get("num_samples")
    for key, code in (("num_elites", "WF211"), ("num_pi_trajs", "WF212")):
        value = v.get(key)
        if _int(value) and _int(samples) and value > samples:
            yield error(code, f"{key} = {value} is greater than num_samples = {samples}",
                        f"lower {key} to at most {samples} or raise num_samples", (key,))
    if v.get("action_type") == "discrete":
        yield error("WF213", "TD-MPC2 plans continuous actions; action_type is 'discrete'",
                    "set action_type to 'continuous' (actions in [-1, 1]) or use model_type 'dreamer'",
                    ("action_type",))
    for lo_key, hi_key, code, strict in (("vmin", "vmax", "WF214", True), ("min_std", "max_std", "WF215", False)):
        lo, hi = v.get(lo_key), v.get(hi_key)
        if _num(lo) and _num(hi) and (lo >= hi if strict else lo > hi):
            fix = f"swap them ({lo_key} = {hi}, {hi_key} = {lo})" if lo > hi else f"lower {lo_key}, e.g. to {hi - 1}"
            yield error(code, f"{lo_key} = {lo} is not below {hi_key} = {hi}", fix, (lo_key,))


def rule_size_preset(v: dict[str, Any], cls: type[WorldModelConfig]) -> Iterator[Problem]:
    name = v.get("model_name")
    preset = presets_of(cls.family).get(name) if isinstance(name, str) else None
    if preset is None:
        return
    diffs = [(k, preset.fixed[k], v.get(k)) for k in preset.changed_fields(v)]
    if diffs:
        listing = ", ".join(f"{k} is {got} (preset: {want})" for k, want, got in diffs)
        yield error("WF205", f"model_name {name!r} is a {cls.family_title} size preset, but {listing}",
                    f"rename the config (e.g. \"model_name\": \"{preset.custom_name}\") or restore the preset's "
                    f"values ({', '.join(f'{k}={want}' for k, want, _ in diffs)})", ("model_name",))


RULES: tuple[Rule, ...] = (rule_obs_shape, rule_derived, rule_encoder_fit, rule_dreamer, rule_tdmpc2,
                           rule_size_preset)


#: The rules of the run file's other sections, by their ``family`` (the model families use RULES).
SECTION_RULES: dict[str, tuple[Rule, ...]] = {"training": (rule_training,), "env": (rule_env,)}


def rule_problems(values: dict[str, Any], cls: type[WorldModelConfig]) -> list[Problem]:
    filled = filled_values(values, cls)
    return [p for rule in SECTION_RULES.get(cls.family, RULES) for p in rule(filled, cls)]
