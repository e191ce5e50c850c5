"""DreamerV3 parameter counts from a config, without torch.

Mirrors worldflux_cli/models/dreamer.py layer by layer; tests assert the counts equal the built
model's exactly. Linear layers carry a bias unless noted, norms are RMSNorm with a scale only.
"""

from __future__ import annotations

from worldflux_cli.config.dreamer import PRIOR_LAYERS, DreamerV3Config


def _linear(i: int, o: int, bias: bool = True) -> int:
    return i * o + (o if bias else 0)


def _dense(i: int, o: int) -> int:
    """Linear -> RMSNorm -> SiLU."""
    return _linear(i, o) + o


def _mlp(i: int, units: int, layers: int) -> int:
    return _dense(i, units) + (layers - 1) * _dense(units, units)


def _conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def _cnn(c: DreamerV3Config) -> tuple[list[int], int, int]:
    """(channels per stage, final H * W, final channels)."""
    depths = [c.cnn_depth * m for m in c.cnn_multipliers]
    n = len(c.cnn_kernels)
    _, h, w = c.obs_shape
    return depths, (h >> n) * (w >> n), depths[-1]


def count(config: DreamerV3Config) -> tuple[dict[str, int], dict[str, int]]:
    """(trainable parameters per component, frozen parameters per component) of DreamerV3.

    Components: encoder, rssm, decoder, reward, continue, actor, critic; frozen: slow_critic.
    """
    c = config
    deter, hidden, stoch, units, g = c.deter_dim, c.hidden_dim, c.stoch_dim, c.mlp_units, c.gru_blocks
    feat = deter + stoch

    if c.resolved_encoder() == "cnn":
        depths, area, last = _cnn(c)
        ins = [c.obs_shape[0], *depths[:-1]]
        encoder = sum(_conv(i, o, k) + o for i, o, k in zip(ins, depths, c.cnn_kernels, strict=True))
        tokens = area * last
    else:
        encoder = _mlp(c.obs_shape[0], units, c.mlp_layers)
        tokens = units

    rssm = (
        _dense(deter, hidden) + _dense(stoch, hidden) + _dense(c.action_dim, hidden)  # inputs
        + deter * deter // g + 3 * hidden * deter + deter + deter  # block hidden layer + norm
        + 3 * deter * deter // g + 3 * deter  # block GRU layer
        + _mlp(deter, hidden, PRIOR_LAYERS) + _linear(hidden, stoch)  # prior
        + _linear(deter + tokens, hidden) + hidden + _linear(hidden, stoch)  # posterior
    )

    if c.resolved_decoder() == "cnn":
        depths, area, last = _cnn(c)
        space = area * last
        decoder = (
            deter * space // c.decoder_blocks + space  # block projection of deter
            + _dense(stoch, 2 * units) + _linear(2 * units, space) + last  # stoch MLP + the norm of the sum
            + sum(_conv(depths[i], depths[i - 1], c.cnn_kernels[i]) + depths[i - 1]
                  for i in range(len(depths) - 1, 0, -1))
            + _conv(depths[0], c.obs_shape[0], c.cnn_kernels[0])
        )
    else:
        decoder = _mlp(feat, units, c.mlp_layers) + _linear(units, c.obs_shape[0])

    bins = c.reward_num_bins
    actor_out = c.action_dim if c.action_type == "discrete" else 2 * c.action_dim
    critic = _mlp(feat, units, c.mlp_layers) + _linear(units, bins)
    trainable = {
        "encoder": encoder,
        "rssm": rssm,
        "decoder": decoder,
        "reward": _mlp(feat, units, c.head_layers) + _linear(units, bins),
        "continue": _mlp(feat, units, c.head_layers) + _linear(units, 1),
        "actor": _mlp(feat, units, c.mlp_layers) + _linear(units, actor_out),
        "critic": critic,
    }
    return trainable, {"slow_critic": critic}


__all__ = ["count"]
