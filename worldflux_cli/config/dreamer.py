"""DreamerV3Config: the RSSM world model with categorical latents (Hafner et al., 2023)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.dreamer_variants import LOSS_KEYS, VARIANTS, resolve
from worldflux_cli.config.enums import DynamicsType, LatentType
from worldflux_cli.config.fields import MAX_OBS_DIM, resolve_coders, spec

#: Layers of the RSSM's prior network (official imglayers), read by the model and the parameter counter.
PRIOR_LAYERS = 2


@dataclasses.dataclass
class DreamerV3Config(WorldModelConfig):
    """DreamerV3 world model configuration.

    DreamerV3 (Hafner et al., 2023) learns a recurrent state-space model (RSSM) of its
    environment and trains an actor and a critic on trajectories imagined in it. The RSSM's
    state has a deterministic part ``h`` (``deter_dim``, the hidden state of a block-diagonal GRU
    core with ``gru_blocks`` blocks) and a stochastic part ``z``: ``stoch_discrete`` categorical
    variables of ``stoch_classes`` classes each, mixed with 1% uniform (``unimix``). Images go
    through a CNN encoder and decoder, vectors through MLPs; rewards and values are predicted
    with two-hot heads.

    Where the current official code (danijar/dreamerv3) and the 2023 paper differ, ``variant``
    picks one: ``"official"`` (the default) or ``"paper2023"``. The fields where they differ
    (KL scales, two-hot bins, optimizer, learning rates, clipping, the continue target and
    discount, the discrete actor's unimix, the replay value loss, the replay context) are null by
    default, meaning "the variant's value"; each one's description lists both values, and
    ``resolved()`` gives the values a model is built with. Setting such a field overrides the
    variant for that field only.

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
        assert small.resolved()["learning_rate"] == 4e-5  # the official variant's
        paper = DreamerV3Config(variant="paper2023", critic_learning_rate=1e-4)
        assert paper.resolved()["learning_rate"] == 1e-4 and paper.resolved()["continue_discount"] is False
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
    cnn_strided: bool = spec(False, "CNN form: false = the official default (stride-1 convolutions each followed by "
                             "2x2 max-pooling; the decoder upsamples by nearest neighbour, then convolves); true = "
                             "the official 'strided' option (stride-2 convolutions, padded as JAX's SAME, and "
                             "fractionally strided ones in the decoder). Same parameters either way.")
    decoder_blocks: int = spec(8, "Blocks of the image decoder's projection of deter (official 'bspace'): must divide "
                                  "deter_dim and the last CNN stage's channels.", minimum=1, maximum=1024,
                               architecture=True)
    reward_num_bins: int = spec(255, "Bins of the two-hot reward and critic heads.", minimum=2,
                                maximum=4096, architecture=True)
    unimix: float = spec(0.01, "Uniform mixture added to the categorical latents.", minimum=0, maximum=1)
    kl_free: float = spec(1.0, "Free nats: KL terms below this are not optimised.", minimum=0)
    variant: str = spec(
        "official",
        "Which DreamerV3 to follow where the versions differ: 'official' (danijar/dreamerv3 as of commit "
        "e3f0224) or 'paper2023' (the 2023 paper). Each field below whose value is null takes the variant's "
        "value (listed in its description); a value set here wins.",
        enum=tuple(VARIANTS),
    )
    kl_balance: float | None = spec(
        None,
        "Share of the KL loss on the dynamics term (prior towards posterior); the rest trains the "
        "representation. null: official 1/1.1 (with loss_scales.kl 1.1: dyn 1.0, rep 0.1), paper2023 5/6 "
        "(with kl 0.6: dyn 0.5, rep 0.1).",
        minimum=0, maximum=1,
    )
    loss_scales: dict[str, float] = spec(
        {},
        "Weights of the loss terms; a term left out takes the variant's weight. official: reconstruction, "
        "reward, continue, policy, value 1, kl 1.1, repval 0.3 (the replay value loss); paper2023: the same "
        "but kl 0.6 and repval 0.",
        keys=LOSS_KEYS,
    )
    use_symlog: bool = spec(True, "Symlog-transform vector inputs and vector reconstruction targets.")
    twohot_bins: str | None = spec(
        None,
        "Bins of the two-hot reward and critic heads: 'symexp' (official: bins symexp-spaced in raw space, "
        "raw targets) or 'symlog' (paper2023: bins evenly spaced in symlog space, symlog targets). null: the "
        "variant's.",
        enum=("symexp", "symlog"),
    )
    imagination_horizon: int = spec(15, "Steps of the actor's imagination rollout.", minimum=1, maximum=1000)
    discount: float | None = spec(
        None,
        "Discount factor. null: official 1 - 1/333 (folded into the continue target, see continue_discount), "
        "paper2023 0.997.",
        minimum=0, maximum=1,
    )
    continue_discount: bool | None = spec(
        None,
        "true (official 'contdisc'): the continue head learns (1 - terminal) * discount and imagined returns "
        "use discount 1, the continue probabilities carrying it; false (paper2023): targets in {0, 1} and "
        "the returns use discount. null: the variant's.",
    )
    return_lambda: float = spec(0.95, "Lambda of the lambda-returns.", minimum=0, maximum=1)
    actor_entropy: float = spec(3e-4, "Entropy regulariser of the actor.", minimum=0)
    actor_unimix: float | None = spec(None, "Uniform mixture of the discrete actor's probabilities. null: official "
                                            "0, paper2023 0.01.", minimum=0, maximum=1)
    critic_ema_decay: float = spec(0.98, "Decay of the slow (EMA) critic.", minimum=0, maximum=1)
    return_norm_decay: float = spec(0.99, "Decay of the 5th-95th percentile return normaliser.", minimum=0,
                                    maximum=1)
    replay_context: int | None = spec(
        None,
        "Steps at the start of each training sequence that only supply its starting latent state: the "
        "posterior stored while acting at the last of them (official 1); 0 starts every sequence from "
        "zeros (paper2023). null: the variant's.",
        minimum=0, maximum=64,
    )
    optimizer: str | None = spec(
        None,
        "'laprop' (official: one LaProp for all parts, beta 0.9 / 0.999, adaptive gradient clipping at "
        "grad_clip, linear warm-up) or 'adam' (paper2023: one Adam per part, global-norm clipping). null: "
        "the variant's.",
        enum=("laprop", "adam"),
    )
    learning_rate: float | None = spec(None, "Learning rate of the world model. null: official 4e-5, paper2023 "
                                             "1e-4.", exclusive_minimum=0, maximum=1)
    actor_learning_rate: float | None = spec(None, "Learning rate of the actor. null: official 4e-5, paper2023 "
                                                   "3e-5.", exclusive_minimum=0, maximum=1)
    critic_learning_rate: float | None = spec(None, "Learning rate of the critic. null: official 4e-5, paper2023 "
                                                    "3e-5.", exclusive_minimum=0, maximum=1)
    grad_clip: float | None = spec(
        None,
        "Gradient clipping of every part (0 disables). laprop: the adaptive threshold (a tensor's update "
        "norm is kept below grad_clip x max(0.001, its norm)); adam: the global gradient norm. null: "
        "official 0.3; paper2023 1000 for the world model and 100 for actor and critic.",
        minimum=0,
    )
    optimizer_eps: float | None = spec(None, "Epsilon of the optimizer's denominator. null: official 1e-20; "
                                             "paper2023 1e-8 (world model), 1e-5 (actor, critic).",
                                       exclusive_minimum=0, maximum=1)
    warmup_steps: int | None = spec(None, "Updates over which the learning rates rise linearly from 0 (the first "
                                          "update has rate 0). null: official 1000, paper2023 0.",
                                    minimum=0, maximum=1 << 30)

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

    def resolved(self) -> dict[str, Any]:
        """The config as a dict with every variant-dependent null replaced by the variant's value.

        Returns:
            ``to_dict()`` where each null of the variant's fields (``kl_balance``, ``discount``,
            ``continue_discount``, ``twohot_bins``, ``actor_unimix``, ``replay_context``, ``optimizer``, the
            learning rates, ``warmup_steps``) holds the variant's value, ``loss_scales`` has every term, and
            ``grad_clip`` and ``optimizer_eps`` are dicts by part (``world``, ``actor``, ``critic``).

        Examples:
            ```python
            from worldflux_cli import DreamerV3Config

            r = DreamerV3Config(loss_scales={"repval": 0.5}).resolved()
            assert r["loss_scales"]["repval"] == 0.5 and r["loss_scales"]["kl"] == 1.1
            assert r["grad_clip"] == {"world": 0.3, "actor": 0.3, "critic": 0.3}
            ```
        """
        return resolve(self.to_dict())

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
