"""The family-specific half of the training loop: the ``Agent`` interface and the registry of agents.

``loop.train`` owns what every family shares (environments stepped in lock-step, the replay buffer, prefill,
the train ratio, evaluation, logs, checkpoints, resume, Ctrl-C, data-parallel ranks). An ``Agent`` owns
what differs between families:

- the replay layout (``layout``) and how windows are sampled from it (``sample_length``, ``one_episode``),
  and what each step stores (``first_entry`` for an episode's first observation, ``entry`` for a transition);
  ``attach(replay)`` gives the agent the buffer, for what it writes there itself (DreamerV3's posterior states);
- acting: ``act(obs, starts, random, rng)`` for the N environments at once, carrying the planner's or the
  recurrent state across steps and dropping it where ``starts`` marks an episode's first observation;
- the update: ``update(windows, reduce_grads)`` turns sampled windows into the model's batch and calls
  ``model.update`` (``reduce_grads``, when given, all-reduces the gradients between backward and the
  optimizer step: data-parallel training);
- what a checkpoint stores besides the weights and optimizer state (``state`` / ``load_state``);
- evaluation episodes (``evaluator(model)``: a policy with ``reset()`` and ``act(obs)``).

TD-MPC2's agent is ``tdmpc2_agent.TDMPC2Agent``, DreamerV3's ``dreamer_agent.DreamerV3Agent``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from worldflux_cli.training.layout import Field

#: model family -> "module:class" of its agent (imported when a run of that family trains).
AGENTS = {"tdmpc2": "worldflux_cli.training.tdmpc2_agent:TDMPC2Agent",
          "dreamer": "worldflux_cli.training.dreamer_agent:DreamerV3Agent"}

ReduceGrads = Callable[[list[Any]], None]


class Policy:
    """Acting in evaluation episodes, one environment: ``reset()`` at each episode's start, then ``act(obs)``."""

    def reset(self) -> None:
        raise NotImplementedError

    def act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Agent:
    """A model family's part of the training loop (see the module docstring). One per run and rank."""

    family: ClassVar[str]
    #: Sampled windows stay inside one episode (TD-MPC2) or may cross episode starts (DreamerV3).
    one_episode: ClassVar[bool] = True
    #: Loss metrics shown in the progress line (every metric goes to metrics.jsonl).
    progress_losses: ClassVar[tuple[str, ...]] = ()
    #: The training precisions (TrainingConfig.precision) this agent's updates run in.
    precisions: ClassVar[tuple[str, ...]] = ("float32",)

    layout: tuple[Field, ...]
    sample_length: int

    def __init__(self, model: Any, run: Any, num_envs: int):
        self.model, self.run, self.num_envs = model, run, num_envs

    @classmethod
    def unsupported(cls, run: Any) -> list[str]:
        """What in ``run`` this agent cannot train yet (each a short phrase); empty when it can."""
        return []

    def attach(self, replay: Any) -> None:
        """The run's replay buffer, before the first step (an agent that writes there keeps it)."""

    def configure_optimizers(self, t: dict[str, Any]) -> None:
        """Create the model's optimizers at the run's resolved learning rates (``RunConfig.resolved_training``)."""
        self.model.configure_optimizers(t["learning_rate"])

    def first_entry(self, obs: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def entry(self, obs: np.ndarray, action: np.ndarray, reward: float, terminated: bool,
              truncated: bool = False) -> dict[str, Any]:
        """The replay entry of a transition: ``action`` gave ``reward`` and led to ``obs``; the episode ended
        there when ``terminated`` (a terminal state) or ``truncated`` (cut off by the time limit)."""
        raise NotImplementedError

    def act(self, obs: np.ndarray, starts: np.ndarray, random: bool, rng: np.random.Generator) -> np.ndarray:
        """Actions (N, action_dim) float32 for observations (N, *obs_shape); ``starts`` (N,) bool marks
        episode starts; ``random`` (prefill) draws them from ``rng`` instead of the model."""
        raise NotImplementedError

    def update(self, windows: dict[str, np.ndarray], reduce_grads: ReduceGrads | None = None) -> dict[str, float]:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """Tensors a checkpoint stores besides the weights and optimizer state (planner / recurrent state)."""
        return {}

    def load_state(self, tensors: dict[str, Any]) -> None:
        """Restore what ``state`` returned (keys may be missing in an older checkpoint)."""

    @staticmethod
    def evaluator(model: Any) -> Policy:
        raise NotImplementedError


def agent_class(family: str) -> type[Agent] | None:
    """The agent class of a model family, or None when that family does not train yet."""
    target = AGENTS.get(family)
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
