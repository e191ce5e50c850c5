"""DreamerV3's agent for the training loop: sequences across episodes, the posterior filter and the actor, update().

Replay (``layout.dreamer_layout``): ``obs`` with the ``action`` and ``reward`` that led to it, ``is_first``,
``is_terminal``, ``is_last``; with a replay context (official: 1 step) also the posterior state the agent had
after observing each step (``deter``, and ``stoch`` as one class index per categorical), written by ``act``
when it observes the step and rewritten after every update with the posterior states the update computed for
the sampled steps (the official replay.update). A sampled window of replay_context + sequence_length steps,
across episode starts, becomes the model's batch (``DreamerV3`` module docstring): its first replay_context
steps only supply the starting state.

Acting: ``model.policy`` for the N environments at once, carrying each one's (deter, stoch, previous action)
and resetting it where an episode starts; continuous actions are sampled from the bounded normal and clipped
to [-1, 1] for the environment (and the replay; the recurrent state keeps the unclipped sample, as the
official agent's does); discrete actions are one-hot. During prefill the actions are random (uniform in
[-1, 1], or a uniform one-hot), but the posterior filter still runs, so every stored step has its state.
Evaluation samples from the policy too (the official agent always samples).

``train_ratio`` counts updates per agent step; the official ``run.train_ratio`` counts replayed steps per
environment step: official 512 with batch 16 x 64 is 0.5 here.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import torch

from worldflux_cli.training.agent import Agent, Policy, ReduceGrads
from worldflux_cli.training.layout import layout_of


class DreamerV3Agent(Agent):
    family = "dreamer"
    one_episode = False
    progress_losses = ("reconstruction", "policy", "value")
    precisions = ("float32", "bfloat16-mixed")

    def __init__(self, model: Any, run: Any, num_envs: int):
        super().__init__(model, run, num_envs)
        c = model.config
        t = run.resolved_training()
        self.context = int(model.settings["replay_context"])
        self.layout = layout_of(c)
        self.sample_length = int(t["sequence_length"]) + self.context
        self.device = next(model.parameters()).device
        self.discrete = c.action_type == "discrete"
        self.action_dim, self.classes = c.action_dim, c.stoch_classes
        self.autocast = t["precision"] == "bfloat16-mixed"
        self.state_: dict[str, torch.Tensor] | None = None  # each environment's (deter, stoch, action)
        self.replay: Any = None

    def attach(self, replay: Any) -> None:
        self.replay = replay

    def configure_optimizers(self, t: dict[str, Any]) -> None:
        self.model.configure_optimizers(t["learning_rate"], t["actor_learning_rate"], t["critic_learning_rate"])

    def first_entry(self, obs: np.ndarray) -> dict[str, Any]:
        return {"obs": obs, "is_first": True}

    def entry(self, obs: np.ndarray, action: np.ndarray, reward: float, terminated: bool,
              truncated: bool = False) -> dict[str, Any]:
        return {"obs": obs, "action": action, "reward": reward, "is_terminal": terminated,
                "is_last": terminated or truncated}

    # ------------------------------------------------------------------------------------------ acting
    def act(self, obs: np.ndarray, starts: np.ndarray, random: bool, rng: np.random.Generator) -> np.ndarray:
        x = _obs_tensor(obs, self.device)
        first = torch.as_tensor(starts, device=self.device) if self.state_ is not None else \
            torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        action, state = self.model.policy(x, self.state_, first)
        if random:
            action = torch.as_tensor(self._random(rng), device=self.device, dtype=action.dtype)
            state = {**state, "action": action}
        self.state_ = state
        if self.context and self.replay is not None:
            self._store_posterior(state)
        out = action.float().cpu().numpy()
        return out if self.discrete else np.clip(out, -1.0, 1.0)

    def _random(self, rng: np.random.Generator) -> np.ndarray:
        if self.discrete:
            return np.eye(self.action_dim, dtype=np.float32)[rng.integers(0, self.action_dim, self.num_envs)]
        return rng.uniform(-1.0, 1.0, (self.num_envs, self.action_dim)).astype(np.float32)

    def _store_posterior(self, state: dict[str, torch.Tensor]) -> None:
        """The posterior state after observing each environment's newest step, into that step's entry."""
        envs = np.arange(self.num_envs)
        index = np.array([self.replay.latest(i) for i in envs])
        self.replay.write("deter", envs, index, state["deter"].float().cpu().numpy())
        self.replay.write("stoch", envs, index, self._indices(state["stoch"]))

    def _indices(self, stoch: torch.Tensor) -> np.ndarray:
        return stoch.unflatten(-1, (-1, self.classes)).argmax(-1).cpu().numpy()

    # ------------------------------------------------------------------------------------------ updates
    def batch(self, windows: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """The model's batch (B, L, ...) of sampled windows (L, B, ...)."""
        def bt(name: str) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(np.swapaxes(windows[name], 0, 1))).to(self.device)

        batch = {"obs": bt("obs"), "action": bt("action"), "reward": bt("reward"), "is_first": bt("is_first"),
                 "is_last": bt("is_last"), "cont": 1.0 - bt("is_terminal").float()}
        if self.context:
            batch["deter"] = bt("deter")
            batch["stoch"] = torch.nn.functional.one_hot(bt("stoch").long(), self.classes).float().flatten(-2)
        return batch

    def update(self, windows: dict[str, np.ndarray], reduce_grads: ReduceGrads | None = None) -> dict[str, float]:
        batch = self.batch(windows)
        with torch.autocast(self.device.type, dtype=torch.bfloat16) if self.autocast else nullcontext():
            metrics = self.model.update(batch, grad_hook=reduce_grads)
        if self.context and self.replay is not None and "_index" in windows:
            post = self.model.last_posterior  # of the trained steps: positions context.. of each window
            index = windows["_index"][self.context:]  # (T, B)
            env = windows["_env"][:, None]
            self.replay.write("deter", env, index.T, post["deter"].float().cpu().numpy())
            self.replay.write("stoch", env, index.T, self._indices(post["stoch"]))
        return metrics

    # ------------------------------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        return {} if self.state_ is None else {k: v.detach().cpu() for k, v in self.state_.items()}

    def load_state(self, tensors: dict[str, Any]) -> None:
        if {"deter", "stoch", "action"} <= set(tensors):
            dtype = next(self.model.parameters()).dtype
            self.state_ = {k: tensors[k].to(device=self.device, dtype=dtype) for k in ("deter", "stoch", "action")}

    @staticmethod
    def evaluator(model: Any) -> Policy:
        return _EvalPolicy(model)


def _obs_tensor(obs: np.ndarray, device: torch.device) -> torch.Tensor:
    array = np.asarray(obs)
    return torch.as_tensor(array if array.dtype == np.uint8 else array.astype(np.float32, copy=False), device=device)


class _EvalPolicy(Policy):
    """The posterior filter and the actor for one environment, its state reset at each episode's start."""

    def __init__(self, model: Any):
        self.model, self.device = model, next(model.parameters()).device
        self.state: dict[str, torch.Tensor] | None = None
        self.discrete = model.config.action_type == "discrete"

    def reset(self) -> None:
        self.state = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        first = torch.tensor([self.state is None], device=self.device)
        action, self.state = self.model.policy(_obs_tensor(obs, self.device).unsqueeze(0), self.state, first)
        out = action[0].float().cpu().numpy()
        return out if self.discrete else np.clip(out, -1.0, 1.0)
