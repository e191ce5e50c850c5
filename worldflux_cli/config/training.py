"""TrainingConfig: how long and how a world model is trained (the "training" section of a run file)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from worldflux_cli.config.fields import spec
from worldflux_cli.config.section import Section
from worldflux_cli.config.training_rules import resolve_batch

#: The most agent steps a run can count (and so any interval or buffer of it).
MAX_STEPS = 1 << 40


@dataclasses.dataclass
class TrainingConfig(Section):
    """How a world model is trained: steps, batches, intervals, where results go.

    The ``training`` section of a run file (see [RunConfig][worldflux_cli.config.run.RunConfig]).
    Steps are **agent steps**: one per action the agent chooses, after action repeat (with
    ``action_repeat`` 2, 1,000 agent steps are 2,000 environment frames), counted over all
    ``num_envs`` environments.

    A null means "the model's own": ``learning_rate`` null is the model config's learning rate,
    ``batch_size`` and ``sequence_length`` null are the family's usual values (DreamerV3: 16
    sequences of 64 steps; TD-MPC2: 256 sub-trajectories of horizon + 1 steps), ``device`` null is
    the model config's device.

    Like the model configs, every instance is checked once when it is constructed; an invalid one
    raises [ConfigurationError][worldflux_cli.config.ConfigurationError] listing every problem
    (codes WF401-WF405 for the rules between fields).

    Examples:
        ```python
        from worldflux_cli.config.training import TrainingConfig

        training = TrainingConfig(total_steps=500_000, batch_size=32, eval_interval=5_000)
        assert training.resolved("dreamer", {})["sequence_length"] == 64
        ```
    """

    family: ClassVar[str] = "training"
    family_title: ClassVar[str] = "training"

    total_steps: int = spec(1_000_000, "Agent steps to train for (all environments together).", minimum=1,
                            maximum=MAX_STEPS)
    prefill_steps: int = spec(5_000, "Agent steps of random actions that fill the replay buffer before the "
                                     "first update; at most total_steps.", minimum=0, maximum=MAX_STEPS)
    batch_size: int | None = spec(None, "Sequences per gradient update. null: the family's usual (DreamerV3 "
                                        "16, TD-MPC2 256).", minimum=1, maximum=1 << 16)
    sequence_length: int | None = spec(None, "Steps per sampled sequence. null: the model's own (DreamerV3 64, "
                                             "TD-MPC2 horizon + 1, the only length it trains on).", minimum=1,
                                       maximum=1 << 16)
    train_ratio: float = spec(1.0, "Gradient updates per agent step (0.5: one update every second step).",
                              exclusive_minimum=0, maximum=1024)
    learning_rate: float | None = spec(None, "World-model learning rate. null: the model config's "
                                             "learning_rate.", exclusive_minimum=0, maximum=1)
    actor_learning_rate: float | None = spec(None, "DreamerV3 actor learning rate. null: the model config's "
                                                   "actor_learning_rate. TD-MPC2 has no separate one.",
                                             exclusive_minimum=0, maximum=1)
    critic_learning_rate: float | None = spec(None, "DreamerV3 critic learning rate. null: the model config's "
                                                    "critic_learning_rate. TD-MPC2 has no separate one.",
                                              exclusive_minimum=0, maximum=1)
    eval_interval: int = spec(10_000, "Agent steps between evaluations; at most total_steps.", minimum=1,
                              maximum=MAX_STEPS)
    eval_episodes: int = spec(10, "Episodes per evaluation (0: never evaluate).", minimum=0, maximum=100_000)
    checkpoint_interval: int = spec(100_000, "Agent steps between checkpoints (0: only the final one); at most "
                                             "total_steps.", minimum=0, maximum=MAX_STEPS)
    log_interval: int = spec(1_000, "Agent steps between log lines and metrics; at most total_steps.", minimum=1,
                             maximum=MAX_STEPS)
    output_dir: str = spec("runs", "Folder for checkpoints, logs and evaluation results (created when missing; "
                                   "relative to the current folder).", pattern=r"^[^\u0000]{1,4096}$")
    seed: int = spec(0, "Seed of the model's initialisation, the replay sampling and the environments.",
                     minimum=0, maximum=2**32 - 1)
    device: str | None = spec(None, "Device to train on: 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'. null: the model "
                                    "config's device.", pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$")
    precision: str = spec("float32", "Compute precision of the updates: 'float32', or autocast to bfloat16 or "
                                     "float16 with float32 weights ('bfloat16-mixed', 'float16-mixed').",
                          enum=("float32", "bfloat16-mixed", "float16-mixed"))
    num_envs: int = spec(1, "Environments stepped in parallel.", minimum=1, maximum=1024)
    replay_size: int = spec(1_000_000, "Capacity of the replay buffer, in agent steps; holds at least one batch "
                                       "(batch_size x sequence_length).", minimum=1, maximum=1 << 34)

    def resolved(self, family: str, model_values: dict[str, Any]) -> dict[str, Any]:
        """Every field, with ``batch_size`` and ``sequence_length`` nulls replaced for a model.

        Args:
            family: The model's family (``"dreamer"`` or ``"tdmpc2"``).
            model_values: The model config as a dict (TD-MPC2's ``horizon`` sets its sequence length).

        Returns:
            ``to_dict()`` with the family's usual batch size and sequence length where they are null.
        """
        return {**self.to_dict(), **resolve_batch(self.to_dict(), family, model_values)}
