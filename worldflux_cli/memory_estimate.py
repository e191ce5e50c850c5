"""What a config builds and what training it costs in memory, answered without torch.

Weights, gradients and Adam moments are exact (from the torch-free parameter counts).
Activations are an estimate: the tensors autograd keeps for the backward pass of one training
step, summed layer by layer from the config's shapes. A test holds the estimate within a factor
of two of the bytes the real model saves for backward.
"""

from __future__ import annotations

from typing import Any

from worldflux_cli.config import DreamerV3Config, TDMPC2Config, WorldModelConfig
from worldflux_cli.params import count_params

FP32 = 4
DEFAULT_DREAMER_SEQ = 64


def dreamer_activation_floats(c: DreamerV3Config, seq: int) -> int:
    """Floats saved for backward by one world-model training step on one sequence of ``seq`` steps.

    Counted per step from the shapes: each conv stage keeps its input and its normalised activation (the
    official form also its full-resolution output and the pooling's indices, or in the decoder the upsampled
    input), each dense layer its input and output, the block GRU its gates, the heads their two-hot targets.
    """
    stoch, feat = c.stoch_discrete * c.stoch_classes, c.deter_dim + c.stoch_discrete * c.stoch_classes
    per_step = 0
    maps = []  # (channels, height, width) after each CNN stage
    if len(c.obs_shape) == 3:
        ch, h, w = c.obs_shape
        for mult in c.cnn_multipliers:
            h, w = h // 2, w // 2
            maps.append(c.cnn_depth * mult * h * w)
    image = c.obs_shape[0] * c.obs_shape[1] * c.obs_shape[2] if len(c.obs_shape) == 3 else 0
    pooled = 0 if c.cnn_strided else 1  # stride-1 convolutions at twice the size, then 2x2 pooling
    if c.resolved_encoder() == "cnn":
        per_step += image + 2 * sum(maps) + pooled * 6 * sum(maps)  # (+ full-size output, int64 indices)
    else:
        per_step += c.obs_shape[0] + 2 * c.mlp_units * c.mlp_layers
    if c.resolved_decoder() == "cnn":
        per_step += c.deter_dim + 4 * maps[-1] + 2 * sum(maps[:-1]) + 3 * image
        per_step += pooled * 4 * sum(maps)  # the upsampled input of every convolution
    else:
        per_step += feat + 2 * c.mlp_units * c.mlp_layers + 3 * c.obs_shape[0]
    per_step += 12 * c.deter_dim + 8 * c.hidden_dim + 8 * stoch  # block-GRU core and posterior
    per_step += c.deter_dim + 4 * c.hidden_dim + 6 * stoch  # prior and KL
    per_step += 2 * feat + 4 * c.mlp_units * c.head_layers + 4 * c.reward_num_bins  # reward, continue
    return per_step * seq


def tdmpc2_activation_floats(c: TDMPC2Config, horizon: int) -> int:
    """Floats saved for backward by one TD-MPC2 update on one sample of ``horizon`` steps.

    As in the loss: the first observation is encoded with gradients (the targets are not), the
    latent is rolled through the dynamics, reward and every Q head for ``horizon`` steps, and the
    policy and two Q heads run on all horizon + 1 latents. A normed layer keeps its linear output,
    its normalised output and its activation (3 per unit) besides its input.
    """
    layers = 3 * c.hidden_dim * c.num_hidden_layers
    za = c.latent_dim + c.action_dim
    if len(c.obs_shape) == 3:
        ch, h, w = c.obs_shape
        enc = ch * h * w + 2 * c.cnn_channels * (h * w // 4 + h * w // 16 + 2 * (h * w // 64)) + 2 * c.latent_dim
    else:
        enc = c.obs_shape[0] + 3 * c.encoder_dim * (c.num_encoder_layers - 1) + 3 * c.latent_dim
    dyn = horizon * (za + layers + 3 * c.latent_dim)
    heads = (1 + c.num_q_networks) * horizon * (za + layers + 3 * c.num_bins)  # reward head and the Qs
    pi = (horizon + 1) * (c.latent_dim + layers + 8 * c.action_dim)
    q_pi = 2 * (horizon + 1) * (za + layers + 2 * c.num_bins)
    return enc + dyn + heads + pi + q_pi


def key_dims(config: WorldModelConfig) -> dict[str, Any]:
    if isinstance(config, DreamerV3Config):
        return {"deter_dim": config.deter_dim, "stoch": f"{config.stoch_discrete}x{config.stoch_classes}",
                "hidden_dim": config.hidden_dim, "gru_blocks": config.gru_blocks, "mlp_units": config.mlp_units,
                "cnn_depth": config.cnn_depth, "encoder": config.resolved_encoder(),
                "decoder": config.resolved_decoder(), "reward_num_bins": config.reward_num_bins}
    if isinstance(config, TDMPC2Config):
        return {"latent_dim": config.latent_dim, "simnorm_dim": config.simnorm_dim, "hidden_dim": config.hidden_dim,
                "num_hidden_layers": config.num_hidden_layers,
                "encoder": f"{config.num_encoder_layers} x {config.encoder_dim}"
                if len(config.obs_shape) == 1 else f"cnn {config.cnn_channels}",
                "num_q_networks": config.num_q_networks, "num_bins": config.num_bins, "horizon": config.horizon}
    return {"latent_dim": config.latent_dim, "hidden_dim": config.hidden_dim}


def matching_preset(config: WorldModelConfig) -> str | None:
    """The preset id this config is (by name and fixed values), if any."""
    from worldflux_cli.config.presets import presets_of

    preset = presets_of(config.family).get(config.model_name)
    if preset and not preset.changed_fields(config.to_dict()):
        return preset.id
    return None


def model_info(config: WorldModelConfig, batch: int = 16, seq: int | None = None) -> dict[str, Any]:
    """Everything `worldflux info` shows, as JSON-ready data."""
    counts = count_params(config)
    if isinstance(config, DreamerV3Config):
        steps = seq or DEFAULT_DREAMER_SEQ
        act = dreamer_activation_floats(config, steps) * FP32
        unit = f"one sequence of {steps} steps"
    else:
        steps = seq or config.horizon
        act = tdmpc2_activation_floats(config, steps) * FP32
        unit = f"one sample, horizon {steps}"
    state = counts.trainable * 4 * FP32 + counts.frozen_total * FP32  # weights, grads, 2 Adam moments
    return {
        "family": config.family,
        "family_title": config.family_title,
        "model_name": config.model_name,
        "preset": matching_preset(config),
        "obs_shape": list(config.obs_shape),
        "action_dim": config.action_dim,
        "action_type": config.action_type,
        "dims": key_dims(config),
        "params": {"components": counts.components, "frozen": counts.frozen, "trainable": counts.trainable,
                   "total": counts.total},
        "memory": {
            "weights_fp32_bytes": counts.total * FP32,
            "weights_bf16_bytes": counts.total * 2,
            "training_state_bytes": state,
            "activations_per_sample_bytes": act,
            "per_sample_unit": unit,
            "batch": batch,
            "training_total_bytes": state + act * batch,
        },
    }


def training_bytes(config: WorldModelConfig, batch: int, seq: int | None = None) -> int:
    """Estimated bytes of one training step: fp32 weights, gradients and Adam moments (exact) plus the
    activations kept for the backward pass (estimate) at ``batch``."""
    return model_info(config, batch=batch, seq=seq)["memory"]["training_total_bytes"]


def weight_bytes(config: WorldModelConfig) -> int:
    """Bytes of the model's weights (every parameter and EMA copy) in the config's dtype."""
    width = FP32 if config.dtype == "float32" else 2
    return count_params(config).total * width


def run_memory(run: Any) -> dict[str, Any]:
    """What a run's training holds in memory, per process, as JSON-ready data: the model's training memory at
    the run's batch (``model_info``'s estimate) and its replay buffer (exact: training/layout.py)."""
    from worldflux_cli.training.layout import replay_info

    t = run.resolved_training()
    seq = t["sequence_length"] if run.model.family == "dreamer" else None  # TD-MPC2: its horizon
    model = model_info(run.model, batch=t["batch_size"], seq=seq)["memory"]["training_total_bytes"]
    replay = replay_info(run.model, t["replay_size"], t["num_envs"])
    return {"batch_size": t["batch_size"], "model_training_bytes": model, "replay": replay,
            "total_bytes": model + replay["bytes"]}
