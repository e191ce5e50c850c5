"""TD-MPC2 parameter counts from a config, without torch (mirrors worldflux_cli/models/tdmpc2.py).

A normed layer (Linear -> LayerNorm -> activation) from i to o features has i*o + o weights and
biases plus 2*o LayerNorm parameters; a plain Linear has i*o + o.
"""

from __future__ import annotations

import itertools
import math
from typing import Any


def _normed(i: int, o: int) -> int:
    return i * o + 3 * o


def _linear(i: int, o: int) -> int:
    return i * o + o


def _mlp(in_dim: int, hidden: list[int], out_dim: int, normed_out: bool = False) -> int:
    dims = [in_dim, *hidden]
    body = sum(_normed(i, o) for i, o in itertools.pairwise(dims))
    return body + (_normed if normed_out else _linear)(dims[-1], out_dim)


#: The smallest image side the official unpadded convolutions take (models.tdmpc2.MIN_UNPADDED_SIDE).
_MIN_UNPADDED_SIDE = 39


def _conv_encoder(obs_shape: tuple[int, ...], channels: int, latent: int, task: int) -> int:
    """Convolutions 7/2, 5/2, 3/2, 3/1 (padded below 39 pixels), then a Linear unless the features are
    the latent (channels x h x w == latent and no task embedding: the official encoder)."""
    c, h, w = obs_shape
    convs = (c * 49 + 1) * channels + (channels * 25 + 1) * channels + 2 * (channels * 9 + 1) * channels
    padded = min(h, w) < _MIN_UNPADDED_SIDE
    for k, stride in ((7, 2), (5, 2), (3, 2), (3, 1)):
        pad = k // 2 if padded else 0
        h, w = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    features = channels * h * w
    return convs + (_linear(features + task, latent) if features != latent or task else 0)


def count(config: Any) -> tuple[dict[str, int], dict[str, int]]:
    """(trainable parameters per component, frozen parameters per component) of ``config``.

    Components: encoder, dynamics, reward, policy, q_ensemble, and termination (episodic),
    task_embedding (num_tasks > 1) and decoder (use_decoder) when present; frozen: target_qs (the EMA copy
    of the Q ensemble).
    """
    c = config
    a, d, hd, layers = c.action_dim, c.latent_dim, c.hidden_dim, c.num_hidden_layers
    task = c.task_dim if c.num_tasks > 1 else 0
    shape = tuple(c.obs_shape)
    enc_hidden = [c.encoder_dim] * max(c.num_encoder_layers - 1, 1)  # official: 1 layer keeps one hidden
    if len(shape) == 3:
        encoder = _conv_encoder(shape, c.cnn_channels, d, task)
    else:
        encoder = _mlp(math.prod(shape) + task, enc_hidden, d, normed_out=True)
    q_one = _mlp(d + task + a, [hd] * layers, c.num_bins)
    parts = {
        "encoder": encoder,
        "dynamics": _mlp(d + task + a, [hd] * layers, d, normed_out=True),
        "reward": _mlp(d + task + a, [hd] * layers, c.num_bins),
        "policy": _mlp(d + task, [hd] * layers, 2 * a),
        "q_ensemble": c.num_q_networks * q_one,
    }
    if c.episodic:
        parts["termination"] = _mlp(d + task, [hd] * layers, 1)
    if c.num_tasks > 1:
        parts["task_embedding"] = c.num_tasks * c.task_dim
    if c.use_decoder:
        parts["decoder"] = _mlp(d, enc_hidden, math.prod(shape))
    return parts, {"target_qs": c.num_q_networks * q_one}
