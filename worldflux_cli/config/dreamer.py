"""DreamerV3Config: the RSSM world model with categorical latents (Hafner et al., 2023)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.enums import DynamicsType, LatentType
from worldflux_cli.config.fields import MAX_OBS_DIM, resolve_coders, spec

LOSS_KEYS = ("reconstruction", "reward", "continue", "kl")


@dataclasses.dataclass
class DreamerV3Config(WorldModelConfig):
    """DreamerV3 world model configuration.

    DreamerV3 (Hafner et al., 2023) learns a recurrent state-space model (RSSM) of its
    environment and trains an actor and a critic on trajectories imagined in it. The RSSM's
    state has a deterministic part ``h`` (``deter_dim``, the hidden state of a block-diagonal GRU
    core with ``gru_blocks`` blocks) and a stochastic part ``z``: ``stoch_discrete`` categorical
    variables of ``stoch_classes`` classes each, mixed with 1% uniform (``unimix``). Images go
    through a CNN encoder and decoder, vectors through MLPs; rewards and values are predicted
    with two-hot heads over symlog-spaced bins.

    Two fields are derived and filled in for you: ``stoch_dim = stoch_discrete * stoch_classes``
    and ``latent_dim = deter_dim + stoch_dim`` (the feature size the heads read). The model
    family fixes ``model_type``, ``latent_type`` (categorical) and ``dynamics_type`` (RSSM).

    Examples:
        From a size preset, for an environment with 6 discrete actions, or field by field:

        ```python
        from worldflux_cli import DreamerV3Config

        config = DreamerV3Config.from_size("size12m", action_dim=6)
        small = DreamerV3Config(obs_shape=(3, 64, 64), action_dim=4, deter_dim=1024,
                                stoch_discrete=16, stoch_classes=16)
        assert small.stoch_dim == 256 and small.latent_dim == 1024 + 256
        ```
    """

    family: ClassVar[str] = "dreamer"
    family_title: ClassVar[str] = "DreamerV3"

    model_type: str = spec("dreamer", "Model family; 'dreamer' for DreamerV3.", const=True)
    obs_shape: tuple[int, ...] = spec(
        (3, 64, 64),
        "Observation shape: (C, H, W) images use the CNN encoder/decoder, (D,) vectors the MLP ones.",
        min_items=1, max_items=3, item_minimum=1, item_maximum=MAX_OBS_DIM,
    )
    action_type: str = spec("discrete", "Action space type.", enum=("continuous", "discrete"))
    latent_type: LatentType = spec(LatentType.CATEGORICAL, "Latent representation (categorical for DreamerV3).",
                                   enum=(LatentType.CATEGORICAL.value,), const=True)
    dynamics_type: DynamicsType = spec(DynamicsType.RSSM, "Dynamics architecture (RSSM for DreamerV3).",
                                       enum=(DynamicsType.RSSM.value,), const=True)
    latent_dim: int | None = spec(None, "Feature size read by the heads: deter_dim + stoch_dim (derived).",
                                  minimum=1, derived="deter_dim + stoch_dim", architecture=True)
    deter_dim: int = spec(1024, "Size of the deterministic recurrent state h (GRU width).", minimum=1,
                          maximum=1 << 18, architecture=True)
    stoch_dim: int | None = spec(None, "Size of the stochastic state z: stoch_discrete * stoch_classes (derived).",
                                 minimum=1, derived="stoch_discrete * stoch_classes", architecture=True)
    hidden_dim: int = spec(256, "Hidden width of the RSSM's input, prior and posterior layers.", minimum=1,
                           maximum=1 << 16, architecture=True)
    stoch_discrete: int = spec(32, "Number of categorical latent variables.", minimum=1, maximum=4096,
                               architecture=True)
    stoch_classes: int = spec(16, "Number of classes per categorical latent variable.", minimum=2, maximum=4096,
                              architecture=True)
    gru_blocks: int = spec(8, "Blocks of the block-diagonal GRU core; must divide deter_dim.", minimum=1,
                           maximum=1024, architecture=True)
    mlp_units: int = spec(256, "Width of the MLP heads (reward, continue, actor, critic) and vector encoder/decoder.",
                          minimum=1, maximum=1 << 16, architecture=True)
    mlp_layers: int = spec(3, "Hidden layers of the actor, critic and vector encoder/decoder MLPs.", minimum=1,
                           maximum=16, architecture=True)
    head_layers: int = spec(1, "Hidden layers of the reward and continue heads.", minimum=1, maximum=16,
                            architecture=True)
    encoder_type: str = spec("auto", "Encoder: 'cnn' for images, 'mlp' for vectors, 'auto' picks by obs_shape.",
                             enum=("auto", "cnn", "mlp"))
    decoder_type: str = spec("auto", "Decoder: 'cnn', 'mlp', or 'auto' (matches the encoder).",
                             enum=("auto", "cnn", "mlp"))
    cnn_depth: int = spec(32, "Base channel count of the CNN; stage i has cnn_depth * cnn_multipliers[i].",
                          minimum=1, maximum=4096, architecture=True)
    cnn_kernels: tuple[int, ...] = spec((5, 5, 5, 5), "Kernel size of each CNN stage (each stage halves H and W).",
                                        min_items=1, max_items=8, item_minimum=1, item_maximum=32,
                                        architecture=True)
    cnn_multipliers: tuple[int, ...] = spec((2, 3, 4, 4), "Channel multiplier of each CNN stage.", min_items=1,
                                            max_items=8, item_minimum=1, item_maximum=64, architecture=True)
    reward_num_bins: int = spec(255, "Bins of the two-hot reward and critic heads (symexp-spaced).", minimum=2,
                                maximum=4096, architecture=True)
    unimix: float = spec(0.01, "Uniform mixture added to the categorical latents and discrete actor.", minimum=0,
                         maximum=1)
    kl_free: float = spec(1.0, "Free nats: KL terms below this are not optimised.", minimum=0)
    kl_balance: float = spec(
        0.8333333333333334,
        "Share of the KL loss on the dynamics term (prior towards posterior); the rest trains the "
        "representation. With loss_scales.kl = 0.6 this gives the paper's 0.5 / 0.1.",
        minimum=0, maximum=1,
    )
    loss_scales: dict[str, float] = spec(
        {"reconstruction": 1.0, "reward": 1.0, "continue": 1.0, "kl": 0.6},
        "Weights of the world-model loss terms.", keys=LOSS_KEYS,
    )
    use_symlog: bool = spec(True, "Symlog-transform vector inputs and reconstruction/reward targets.")
    imagination_horizon: int = spec(15, "Steps of the actor's imagination rollout.", minimum=1, maximum=1000)
    discount: float = spec(0.997, "Discount factor of the imagined returns.", minimum=0, maximum=1)
    return_lambda: float = spec(0.95, "Lambda of the lambda-returns.", minimum=0, maximum=1)
    actor_entropy: float = spec(3e-4, "Entropy regulariser of the actor.", minimum=0)
    critic_ema_decay: float = spec(0.98, "Decay of the slow (EMA) critic.", minimum=0, maximum=1)
    return_norm_decay: float = spec(0.99, "Decay of the 5th-95th percentile return normaliser.", minimum=0,
                                    maximum=1)
    actor_learning_rate: float = spec(3e-5, "Learning rate of the actor.", exclusive_minimum=0, maximum=1)
    critic_learning_rate: float = spec(3e-5, "Learning rate of the critic.", exclusive_minimum=0, maximum=1)
    learning_rate: float = spec(1e-4, "Learning rate of the world model.", exclusive_minimum=0, maximum=1)
    grad_clip: float = spec(1000.0, "Gradient-norm clipping threshold (0 disables).", minimum=0)

    @classmethod
    def derived_values(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Compute ``stoch_dim`` and ``latent_dim`` from the fields they are derived from.

        Args:
            values: A config dict (JSON-shaped), possibly incomplete or ill-typed.

        Returns:
            ``stoch_dim`` (= stoch_discrete * stoch_classes) when both are integers, and
            ``latent_dim`` (= deter_dim + stoch_dim) when ``deter_dim`` is one too.
        """
        out: dict[str, Any] = {}
        disc, classes, deter = (values.get(k) for k in ("stoch_discrete", "stoch_classes", "deter_dim"))
        if _is_int(disc) and _is_int(classes):
            out["stoch_dim"] = disc * classes
            if _is_int(deter):
                out["latent_dim"] = deter + out["stoch_dim"]
        return out

    def resolved_encoder(self) -> str:
        """The encoder this config builds, with ``encoder_type="auto"`` resolved.

        Returns:
            ``"cnn"`` or ``"mlp"``; ``"auto"`` picks the CNN for a (C, H, W) observation and
            the MLP for a (D,) vector.
        """
        return resolve_coders(self.obs_shape, self.encoder_type, self.decoder_type)[0]

    def resolved_decoder(self) -> str:
        """The decoder this config builds, with ``decoder_type="auto"`` resolved.

        Returns:
            ``"cnn"`` or ``"mlp"``; ``"auto"`` matches the encoder.
        """
        return resolve_coders(self.obs_shape, self.encoder_type, self.decoder_type)[1]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
