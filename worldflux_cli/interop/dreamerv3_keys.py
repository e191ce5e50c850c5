"""The key map between an official DreamerV3 parameter tree (danijar/dreamerv3 e3f0224) and a worldflux DreamerV3.

The official tree is flat, ``<module>/<layer>/<kernel|bias|scale>``: Linear kernels are (in, out), block
kernels (blocks, in/blocks, out/blocks), convolution kernels (kh, kw, cin, cout) (HWIO, NHWC maps). Each rule
here names the official keys and the worldflux ``state_dict`` keys of one layer and converts in both
directions with exact re-layouts only (transposes, slices, concatenations), so a round trip gives the same
bits. Where worldflux stores one official layer in several tensors (the core's block hidden layer as its
block, state and action parts; the posterior layer as its deter and token parts) or several official layers
in one (the continuous actor's mean and stddev; the vector decoder's per-key heads), the rule splits or joins.

The same rules convert the optimizer's moments (``opt/state/1/1/<param>`` nu, ``opt/state/2/1/<param>`` mu),
which have the parameters' shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Rule:
    """official keys <-> ours: ``to_ours(arrays in official order) -> arrays in ours order`` and back."""

    official: tuple[str, ...]
    ours: tuple[str, ...]
    to_ours: Callable[[list[np.ndarray]], list[np.ndarray]]
    to_official: Callable[[list[np.ndarray]], list[np.ndarray]]


def _same(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(a) for a in arrays]


def _t(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [np.ascontiguousarray(a.T) for a in arrays]


def _conv_in(arrays: list[np.ndarray]) -> list[np.ndarray]:  # (kh, kw, cin, cout) -> (cout, cin, kh, kw)
    return [np.ascontiguousarray(a.transpose(3, 2, 0, 1)) for a in arrays]


def _conv_out(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [np.ascontiguousarray(a.transpose(2, 3, 1, 0)) for a in arrays]


def _one(official: str, ours: str, fwd=_same, back=_same) -> Rule:
    return Rule((official,), (ours,), fwd, back)


def linear(official: str, ours: str, bias: bool = True) -> list[Rule]:
    rules = [_one(f"{official}/kernel", f"{ours}.weight", _t, _t)]
    return rules + [_one(f"{official}/bias", f"{ours}.bias")] if bias else rules


def norm(official: str, ours: str) -> list[Rule]:
    return [_one(f"{official}/scale", f"{ours}.weight")]


def dense(official_linear: str, official_norm: str, ours: str) -> list[Rule]:
    """Linear -> Norm (-> SiLU): worldflux's Dense ``ours`` (``ours.linear``, ``ours.norm``)."""
    return linear(official_linear, f"{ours}.linear") + norm(official_norm, f"{ours}.norm")


def block(official: str, ours: str, bias: bool = True) -> list[Rule]:
    rules = [_one(f"{official}/kernel", f"{ours}.weight")]  # the same (blocks, in/blocks, out/blocks) layout
    return rules + [_one(f"{official}/bias", f"{ours}.bias")] if bias else rules


def conv(official: str, ours: str) -> list[Rule]:
    return [_one(f"{official}/kernel", f"{ours}.weight", _conv_in, _conv_out), _one(f"{official}/bias", f"{ours}.bias")]


def mlp(official: str, ours: str, layers: int) -> list[Rule]:
    """The official nets.MLP ``official/linear{i}``, ``official/norm{i}`` as worldflux's mlp ``ours.{i}``."""
    return [r for i in range(layers) for r in dense(f"{official}/linear{i}", f"{official}/norm{i}", f"{ours}.{i}")]


def core_hidden(deter: int, hidden: int, blocks: int) -> list[Rule]:
    """The official ``dyn/dynhid0`` block layer (blocks, deter/g + 3 hidden, deter/g): per block, rows
    [deter block | x0 | x1 | x2]; worldflux keeps the deter rows as ``hid_block`` (blocks, deter/g, deter/g),
    the x0, x1 rows as the dense ``hid_state`` (deter, 2 hidden), the x2 rows as ``hid_action`` (deter, hidden),
    whose bias is the layer's."""
    k = deter // blocks

    def to_ours(arrays: list[np.ndarray]) -> list[np.ndarray]:
        kernel, bias = arrays
        dense_rows = kernel[:, k:, :]  # (g, 3 hidden, k): output unit j of block b is column j of block b
        state = dense_rows[:, :2 * hidden, :].transpose(0, 2, 1).reshape(deter, 2 * hidden)
        action = dense_rows[:, 2 * hidden:, :].transpose(0, 2, 1).reshape(deter, hidden)
        return [np.ascontiguousarray(kernel[:, :k, :]), np.ascontiguousarray(state), np.ascontiguousarray(action),
                np.asarray(bias)]

    def to_official(arrays: list[np.ndarray]) -> list[np.ndarray]:
        blockw, state, action, bias = arrays
        state = state.reshape(blocks, k, 2 * hidden).transpose(0, 2, 1)
        action = action.reshape(blocks, k, hidden).transpose(0, 2, 1)
        return [np.ascontiguousarray(np.concatenate([blockw, state, action], 1)), np.asarray(bias)]

    return [Rule(("dyn/dynhid0/kernel", "dyn/dynhid0/bias"),
                 ("rssm.hid_block.weight", "rssm.hid_state.weight", "rssm.hid_action.weight", "rssm.hid_action.bias"),
                 to_ours, to_official)]


def posterior(deter: int) -> list[Rule]:
    """The official ``dyn/obs0`` Linear on [deter, tokens] as worldflux's ``post_deter`` (no bias) and
    ``post_token`` (with the bias)."""

    def to_ours(arrays: list[np.ndarray]) -> list[np.ndarray]:
        kernel, bias = arrays
        return [np.ascontiguousarray(kernel[:deter].T), np.ascontiguousarray(kernel[deter:].T), np.asarray(bias)]

    def to_official(arrays: list[np.ndarray]) -> list[np.ndarray]:
        w_deter, w_token, bias = arrays
        return [np.ascontiguousarray(np.concatenate([w_deter.T, w_token.T], 0)), np.asarray(bias)]

    return [Rule(("dyn/obs0/kernel", "dyn/obs0/bias"), ("rssm.post_deter.weight", "rssm.post_token.weight",
                                                        "rssm.post_token.bias"), to_ours, to_official)]


def joined_linear(officials: list[str], ours: str, sizes: list[int]) -> list[Rule]:
    """Several official Linear layers on one input (the continuous actor's mean and stddev; the vector decoder's
    per-key heads, in sorted key order) as one worldflux Linear ``ours`` whose outputs are theirs in order."""
    cuts = np.cumsum(sizes)[:-1]

    def to_ours(arrays: list[np.ndarray]) -> list[np.ndarray]:
        kernels, biases = arrays[0::2], arrays[1::2]
        return [np.ascontiguousarray(np.concatenate(kernels, 1).T), np.concatenate(biases)]

    def to_official(arrays: list[np.ndarray]) -> list[np.ndarray]:
        weight, bias = arrays
        out: list[np.ndarray] = []
        for w, b in zip(np.split(weight, cuts, 0), np.split(bias, cuts), strict=True):
            out += [np.ascontiguousarray(w.T), np.ascontiguousarray(b)]
        return out

    official = tuple(k for name in officials for k in (f"{name}/kernel", f"{name}/bias"))
    return [Rule(official, (f"{ours}.weight", f"{ours}.bias"), to_ours, to_official)]


def rules_for(c: Any, obs_keys: list[tuple[str, tuple[int, ...]]], action_key: str) -> list[Rule]:
    """Every rule of the model ``c`` (a DreamerV3Config) builds, for observations ``obs_keys`` ((name, shape)
    in the official sorted order: one image key, or vector keys) and the action key."""
    image = len(c.obs_shape) == 3
    out: list[Rule] = []
    if image:
        n = len(c.cnn_kernels)
        for i in range(n):
            out += conv(f"enc/cnn{i}", f"encoder.convs.{i}") + norm(f"enc/cnn{i}norm", f"encoder.norms.{i}")
        out += block("dec/sp0", "decoder.space_deter")
        out += dense("dec/sp1", "dec/sp1norm", "decoder.space_stoch") + linear("dec/sp2", "decoder.space_stoch_out")
        out += norm("dec/spnorm", "decoder.space_norm")
        for j, i in enumerate(range(n - 2, -1, -1)):  # official conv{n-2} .. conv0, then imgout
            out += conv(f"dec/conv{i}", f"decoder.convs.{j}") + norm(f"dec/conv{i}norm", f"decoder.norms.{j}")
        out += conv("dec/imgout", "decoder.out")
    else:
        layers = c.mlp_layers
        out += [r for i in range(layers) for r in dense(f"enc/mlp{i}", f"enc/mlp{i}norm", f"encoder.net.{i}")]
        out += mlp("dec/mlp", "decoder.net.net", layers)
        out += joined_linear([f"dec/vec/{k}/pred" for k, _ in obs_keys], "decoder.net.out",
                             [int(np.prod(s)) for _, s in obs_keys])
    for i, part in enumerate(("deter", "stoch", "action")):
        out += dense(f"dyn/dynin{i}", f"dyn/dynin{i}norm", f"rssm.in_{part}")
    out += core_hidden(c.deter_dim, c.hidden_dim, c.gru_blocks) + norm("dyn/dynhid0norm", "rssm.hid_norm")
    out += block("dyn/dyngru", "rssm.gru")
    from worldflux_cli.config.dreamer import PRIOR_LAYERS

    out += [r for i in range(PRIOR_LAYERS) for r in dense(f"dyn/prior{i}", f"dyn/prior{i}norm", f"rssm.prior.{i}")]
    out += linear("dyn/priorlogit", "rssm.prior_logits")
    out += posterior(c.deter_dim) + norm("dyn/obs0norm", "rssm.post_norm") + linear("dyn/obslogit", "rssm.post_logits")
    out += mlp("rew/mlp", "reward_head.net", c.head_layers) + linear("rew/head/logits", "reward_head.out")
    out += mlp("con/mlp", "continue_head.net", c.head_layers) + linear("con/head/logit", "continue_head.out")
    out += mlp("pol/mlp", "actor.net.net", c.mlp_layers)
    if c.action_type == "discrete":
        out += linear(f"pol/head/{action_key}/logits", "actor.net.out")
    else:
        out += joined_linear([f"pol/head/{action_key}/mean", f"pol/head/{action_key}/stddev"], "actor.net.out",
                             [c.action_dim, c.action_dim])
    for official, ours in (("val", "critic"), ("slowval", "slow_critic")):
        out += mlp(f"{official}/mlp", f"{ours}.net", c.mlp_layers) + linear(f"{official}/head/logits", f"{ours}.out")
    out += [_one("retnorm/lo/value", "return_norm.low"), _one("retnorm/hi/value", "return_norm.high")]
    return out


#: The official optimizer's moments of parameter P, by the chain's position (scale_by_rms, scale_by_momentum).
MOMENT_PREFIXES = {"nu": "opt/state/1/1/", "mu": "opt/state/2/1/"}
#: The official optimizer's and slow value's counters (int32 scalars), kept as they are.
COUNTER_KEYS = ("opt/state/1/0", "opt/state/2/0", "opt/state/3/count", "opt/step/value", "slowval_count/value")

__all__ = ["COUNTER_KEYS", "MOMENT_PREFIXES", "Rule", "rules_for"]
