"""TDMPC2Config: the implicit, decoder-free world model with MPPI planning (Hansen et al., 2024)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.enums import DynamicsType, LatentType
from worldflux_cli.config.fields import MAX_OBS_DIM, spec

#: The official discount heuristic (config.yaml: discount_denom, discount_min, discount_max).
DISCOUNT_DENOM, DISCOUNT_MIN, DISCOUNT_MAX = 5, 0.95, 0.995
#: Discount when neither ``discount`` nor an episode length is given.
DEFAULT_DISCOUNT = 0.99


@dataclasses.dataclass
class TDMPC2Config(WorldModelConfig):
    """TD-MPC2 world model configuration.

    TD-MPC2 (Hansen et al., 2024) is an implicit, decoder-free world model: an encoder maps the
    observation to a latent of ``latent_dim`` values normalised with SimNorm (softmax over
    groups of ``simnorm_dim``); MLPs predict the next latent, the reward (two-hot over
    ``num_bins`` bins) and the values of an ensemble of ``num_q_networks`` Q functions; a policy
    prior proposes actions. Acting plans with MPPI: ``iterations`` rounds of ``num_samples``
    action sequences over ``horizon`` steps, refit to the ``num_elites`` best.

    Continuous actions only. Two fields are derived: ``deter_dim`` (= ``latent_dim``) and
    ``stoch_dim`` (= 0), because the latent is deterministic. The model family fixes
    ``model_type``, ``latent_type`` (SimNorm) and ``dynamics_type`` (MLP).

    Examples:
        From a size preset, for a 39-dimensional observation and 6 action dimensions, or
        field by field:

        ```python
        from worldflux_cli import TDMPC2Config

        config = TDMPC2Config.from_size("5m", obs_shape=(39,), action_dim=6)
        small = TDMPC2Config(obs_shape=(39,), action_dim=6, latent_dim=256, hidden_dim=256)
        assert small.deter_dim == 256 and small.stoch_dim == 0
        ```
    """

    family: ClassVar[str] = "tdmpc2"
    family_title: ClassVar[str] = "TD-MPC2"

    model_type: str = spec("tdmpc2", "Model family; 'tdmpc2' for TD-MPC2.", const=True)
    obs_shape: tuple[int, ...] = spec(
        (39,), "Observation shape: (D,) vectors use the MLP encoder, (C, H, W) images the CNN one.",
        min_items=1, max_items=3, item_minimum=1, item_maximum=MAX_OBS_DIM,
    )
    action_dim: int = spec(6, "Action dimensions (continuous, in [-1, 1]).", minimum=1, maximum=65536)
    action_type: str = spec("continuous", "Action space type (TD-MPC2 plans continuous actions only).",
                            enum=("continuous", "discrete"))
    latent_type: LatentType = spec(LatentType.SIMNORM, "Latent representation (SimNorm for TD-MPC2).",
                                   enum=(LatentType.SIMNORM.value,), const=True)
    dynamics_type: DynamicsType = spec(DynamicsType.MLP, "Dynamics architecture (MLP for TD-MPC2).",
                                       enum=(DynamicsType.MLP.value,), const=True)
    latent_dim: int = spec(512, "Size of the SimNorm latent state; a multiple of simnorm_dim.", minimum=1,
                           maximum=1 << 18, architecture=True)
    deter_dim: int | None = spec(None, "Deterministic state size: equals latent_dim (derived).", minimum=0,
                                 derived="latent_dim", architecture=True)
    stoch_dim: int | None = spec(None, "Stochastic state size: 0, the latent is deterministic (derived).",
                                 minimum=0, maximum=0, derived="0", architecture=True)
    hidden_dim: int = spec(512, "Width of the dynamics, reward, policy and Q MLPs.", minimum=1, maximum=1 << 16,
                           architecture=True)
    simnorm_dim: int = spec(8, "Group size of the SimNorm latent; latent_dim must be divisible by it.", minimum=1,
                            maximum=4096, architecture=True)
    num_hidden_layers: int = spec(2, "Hidden layers of the dynamics, reward, policy and Q MLPs.", minimum=1,
                                  maximum=32, architecture=True)
    encoder_dim: int = spec(256, "Width of the observation encoder MLP.", minimum=1, maximum=1 << 16,
                            architecture=True)
    num_encoder_layers: int = spec(2, "Layers of the observation encoder MLP (hidden layers + output); as "
                                   "official, 1 still keeps one hidden layer.",
                                   minimum=1, maximum=32, architecture=True)
    cnn_channels: int = spec(32, "Channels of the CNN encoder for image observations (official: 64x64 images, "
                             "32 x 4 x 4 = 512 = latent_dim features straight to SimNorm; else a Linear maps "
                             "them to latent_dim).", minimum=1, maximum=4096,
                             architecture=True)
    task_dim: int = spec(96, "Size of the learned task embedding (used when num_tasks > 1).", minimum=1,
                         maximum=4096, architecture=True)
    num_tasks: int = spec(1, "Number of tasks; > 1 adds a task embedding to every component.", minimum=1,
                          maximum=100000, architecture=True)
    num_q_networks: int = spec(5, "Q functions in the ensemble.", minimum=2, maximum=64, architecture=True)
    num_bins: int = spec(101, "Bins of the two-hot reward and Q heads.", minimum=2, maximum=4096,
                         architecture=True)
    vmin: float = spec(-10.0, "Lowest bin of the two-hot heads, in symlog space.")
    vmax: float = spec(10.0, "Highest bin of the two-hot heads, in symlog space.")
    dropout: float = spec(0.01, "Dropout in the first layer of each Q function.", minimum=0, exclusive_maximum=1)
    horizon: int = spec(3, "Planning horizon (steps) and training rollout length.", minimum=1, maximum=256)
    iterations: int = spec(6, "MPPI iterations per planning call.", minimum=1, maximum=100)
    num_samples: int = spec(512, "Action sequences sampled per MPPI iteration.", minimum=1, maximum=1 << 20)
    num_elites: int = spec(64, "Elite sequences kept per MPPI iteration; at most num_samples.", minimum=1,
                           maximum=1 << 20)
    num_pi_trajs: int = spec(24, "Sampled sequences that come from the policy prior.", minimum=0,
                             maximum=1 << 20)
    temperature: float = spec(0.5, "MPPI temperature of the elite weighting.", exclusive_minimum=0)
    momentum: float = spec(0.0, "Momentum of the MPPI mean update (0 = none, as the official planner).", minimum=0,
                           maximum=1)
    min_std: float = spec(0.05, "Lowest MPPI sampling std.", exclusive_minimum=0)
    max_std: float = spec(2.0, "Initial and highest MPPI sampling std.", exclusive_minimum=0)
    discount: float | None = spec(
        None, "Discount factor of the TD targets and planning; null derives it from the episode length as the "
        "official code does: (L/5 - 1)/(L/5) clipped to [0.95, 0.995] (0.99 when the length is unknown too).",
        minimum=0, maximum=1)
    episode_length: int | None = spec(None, "Steps per episode (null = unknown); sets the derived discount.",
                                      minimum=1, maximum=1 << 30)
    task_episode_lengths: tuple[int, ...] | None = spec(
        None, "Multitask: steps per episode of each task (one per task); each task gets its own derived discount.",
        min_items=1, item_minimum=1, item_maximum=1 << 30)
    task_action_dims: tuple[int, ...] | None = spec(
        None, "Multitask: action dimensions each task uses (one per task, each at most action_dim); the rest "
        "are masked out of the policy and planner, as in the official multitask checkpoints.",
        min_items=1, item_minimum=1, item_maximum=65536)
    episodic: bool = spec(False, "Add the termination head (official 'episodic'): TD targets and planning stop "
                          "at predicted terminations; batches then carry 'terminated'.", architecture=True)
    termination_coef: float = spec(1.0, "Weight of the termination loss (episodic only).", minimum=0)
    rho: float = spec(0.5, "Temporal decay of the loss over the horizon.", exclusive_minimum=0, maximum=1)
    tau: float = spec(0.01, "EMA coefficient of the target Q ensemble.", exclusive_minimum=0, maximum=1)
    entropy_coef: float = spec(1e-4, "Policy entropy coefficient.", minimum=0)
    consistency_coef: float = spec(20.0, "Weight of the latent consistency loss.", minimum=0)
    reward_coef: float = spec(0.1, "Weight of the reward loss.", minimum=0)
    value_coef: float = spec(0.1, "Weight of the TD value loss.", minimum=0)
    use_decoder: bool = spec(False, "Add an observation decoder and reconstruction loss (not in the paper).",
                             architecture=True)
    learning_rate: float = spec(3e-4, "Learning rate.", exclusive_minimum=0, maximum=1)
    grad_clip: float = spec(20.0, "Gradient-norm clipping threshold of each of the two updates (world model, "
                            "policy; 0 disables).", minimum=0)

    @classmethod
    def derived_values(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Compute ``deter_dim`` and ``stoch_dim``: the latent is deterministic.

        Args:
            values: A config dict (JSON-shaped), possibly incomplete or ill-typed.

        Returns:
            ``stoch_dim`` (always 0), and ``deter_dim`` (= ``latent_dim``) when ``latent_dim``
            is an integer.
        """
        latent = values.get("latent_dim")
        out: dict[str, Any] = {"stoch_dim": 0}
        if isinstance(latent, int) and not isinstance(latent, bool):
            out["deter_dim"] = latent
        return out

    # ------------------------------------------------------------------ official derived settings
    @staticmethod
    def discount_for(episode_length: int) -> float:
        """The official discount of an episode of ``episode_length`` steps.

        (L/5 - 1) / (L/5), clipped to [0.95, 0.995]: 0.995 for 1000-step tasks, 0.95 up to 100 steps.

        Args:
            episode_length: Steps per episode (after action repeat).

        Returns:
            The discount factor.
        """
        frac = episode_length / DISCOUNT_DENOM
        return min(max((frac - 1) / frac, DISCOUNT_MIN), DISCOUNT_MAX)

    def task_discounts(self) -> tuple[float, ...]:
        """The discount of each task (one value for a single task).

        An explicit ``discount`` wins; else each task's from ``task_episode_lengths`` (multitask) or
        ``episode_length``; else 0.99 (the official code always knows the length; we may not).

        Returns:
            One discount per task (``num_tasks`` values).
        """
        if self.discount is not None:
            return (float(self.discount),) * self.num_tasks
        if self.num_tasks > 1 and self.task_episode_lengths:
            return tuple(self.discount_for(n) for n in self.task_episode_lengths)
        if self.episode_length is not None:
            return (self.discount_for(self.episode_length),) * self.num_tasks
        return (DEFAULT_DISCOUNT,) * self.num_tasks

    @property
    def planning_iterations(self) -> int:
        """MPPI iterations actually run: ``iterations``, +2 when action_dim >= 20 (the official heuristic
        for large action spaces; in multitask action_dim is the largest task's)."""
        return self.iterations + 2 * int(self.action_dim >= 20)
