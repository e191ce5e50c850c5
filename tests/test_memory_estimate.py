"""`worldflux info`'s activation estimate against what the real model saves for backward."""

from __future__ import annotations

import pytest
import torch

from worldflux_cli.config import DreamerV3Config, TDMPC2Config
from worldflux_cli.memory_estimate import dreamer_activation_floats, model_info, tdmpc2_activation_floats
from worldflux_cli.models import build_model


def saved_bytes(model, run) -> int:
    """Bytes of the distinct non-parameter tensors autograd keeps while ``run()`` builds the graph."""
    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and t.device.type != "meta":
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return sum(seen.values())


CASES = [
    DreamerV3Config.from_size("tiny"),
    DreamerV3Config(obs_shape=(3, 32, 32), deter_dim=128, stoch_discrete=8, stoch_classes=8, hidden_dim=64,
                    gru_blocks=4, mlp_units=64, cnn_depth=8),
    DreamerV3Config(obs_shape=(17,), action_type="continuous", deter_dim=128, stoch_discrete=8, stoch_classes=8,
                    hidden_dim=64, gru_blocks=4, mlp_units=64),
    TDMPC2Config.from_size("tiny"),
    TDMPC2Config(obs_shape=(39,), latent_dim=128, hidden_dim=256, encoder_dim=128, num_q_networks=5),
    TDMPC2Config(obs_shape=(3, 32, 32), latent_dim=64, hidden_dim=64, num_samples=64, num_elites=8),
]


@pytest.mark.parametrize("config", CASES, ids=lambda c: f"{c.family}-{'x'.join(map(str, c.obs_shape))}")
def test_activation_estimate_is_within_a_factor_of_two(config):
    torch.manual_seed(0)
    model = build_model(config)
    gen = torch.Generator().manual_seed(0)
    # TD-MPC2 also saves gathered Q weights (a per-step constant); a larger batch makes it small
    batch_size = 4 if config.family == "dreamer" else 32
    if config.family == "dreamer":
        seq = 16
        batch = model.random_batch(batch_size, seq, generator=gen)
        measured = saved_bytes(model, lambda: model.world_model_loss(batch))
        estimate = dreamer_activation_floats(config, seq) * 4 * batch_size
    else:
        batch = model.random_batch(batch_size, generator=gen)
        measured = saved_bytes(model, lambda: model.loss(batch))
        estimate = tdmpc2_activation_floats(config, config.horizon) * 4 * batch_size
    assert measured > 0
    assert 0.5 <= estimate / measured <= 2.0, f"estimate {estimate:,} B vs measured {measured:,} B"


def test_model_info_memory_figures_are_consistent():
    config = DreamerV3Config.from_size("size12m")
    info = model_info(config, batch=8)
    mem, params = info["memory"], info["params"]
    assert info["preset"] == "dreamer:size12m"
    assert mem["weights_fp32_bytes"] == 4 * params["total"] == 2 * mem["weights_bf16_bytes"]
    assert mem["training_state_bytes"] == 16 * params["trainable"] + 4 * (params["total"] - params["trainable"])
    assert mem["training_total_bytes"] == mem["training_state_bytes"] + 8 * mem["activations_per_sample_bytes"]
    assert sum(params["components"].values()) == params["trainable"]
