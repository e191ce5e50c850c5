"""TD-MPC2's agent for the training loop: horizon windows, MPPI with a warm start per environment, update().

Replay: ``obs`` with the ``action``, ``reward`` and ``terminated`` that led to it; a window of horizon + 1 steps
of one episode becomes the official batch: obs (H+1, B, *obs_shape) (uint8 pixels as they are stored: the
encoder scales them), action (H, B, A), reward and terminated (H, B) of steps 1..H (terminated only for an
episodic model).

Acting: ``plan(obs (N, ...), eval_mode=False)`` for the N environments at once, warm-started per environment
from its previous plan's mean (shifted one step); an environment at an episode start, or whose last action was
random (prefill), starts from zero, as ``t0=True`` does. Evaluation plans with ``eval_mode=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from worldflux_cli.training.agent import Agent, Policy, ReduceGrads
from worldflux_cli.training.layout import tdmpc2_layout


def obs_tensor(obs: np.ndarray, device: torch.device) -> torch.Tensor:
    """A batch of observations as the planner takes them: float32 vectors, uint8 images as they are."""
    array = np.asarray(obs)
    return torch.as_tensor(array if array.dtype == np.uint8 else array.astype(np.float32, copy=False), device=device)


class TDMPC2Agent(Agent):
    family = "tdmpc2"
    one_episode = True
    progress_losses = ("world_model_loss", "pi_loss")

    def __init__(self, model: Any, run: Any, num_envs: int):
        super().__init__(model, run, num_envs)
        config = model.config
        self.layout = tdmpc2_layout(config.obs_shape, config.action_dim)
        self.sample_length = config.horizon + 1
        self.device = next(model.parameters()).device
        self.action_dim = config.action_dim
        self.plan_mean: torch.Tensor | None = None  # (N, horizon, A): each environment's last plan
        self.has_mean = np.zeros(num_envs, bool)  # whose plan_mean row warm-starts its next plan

    @classmethod
    def unsupported(cls, run: Any) -> list[str]:
        return ["multitask models"] if run.model.num_tasks > 1 else []

    def first_entry(self, obs: np.ndarray) -> dict[str, Any]:
        return {"obs": obs}

    def entry(self, obs: np.ndarray, action: np.ndarray, reward: float, terminated: bool,
              truncated: bool = False) -> dict[str, Any]:
        return {"obs": obs, "action": action, "reward": reward, "terminated": float(terminated)}

    def act(self, obs: np.ndarray, starts: np.ndarray, random: bool, rng: np.random.Generator) -> np.ndarray:
        self.has_mean[starts] = False
        if random:
            self.has_mean[:] = False
            return rng.uniform(-1.0, 1.0, (self.num_envs, self.action_dim)).astype(np.float32)
        x = obs_tensor(obs, self.device)
        if self.plan_mean is None or not self.has_mean.any():
            action = self.model.plan(x, t0=True, eval_mode=False)
        else:  # a zero row is the mean t0=True starts from
            keep = torch.as_tensor(self.has_mean, device=self.device)
            prev = torch.where(keep[:, None, None], self.plan_mean, torch.zeros_like(self.plan_mean))
            action = self.model.plan(x, t0=False, eval_mode=False, prev_mean=prev)
        self.plan_mean, self.has_mean[:] = self.model.plan_mean, True
        return action.cpu().numpy().astype(np.float32)

    def update(self, windows: dict[str, np.ndarray], reduce_grads: ReduceGrads | None = None) -> dict[str, float]:
        batch = {"obs": windows["obs"], "action": windows["action"][1:], "reward": windows["reward"][1:]}
        if self.model.config.episodic:
            batch["terminated"] = windows["terminated"][1:]
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in batch.items()}
        return self.model.update(tensors, grad_hook=reduce_grads)

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"has_mean": torch.from_numpy(self.has_mean.astype(np.uint8))}
        if self.plan_mean is not None:
            out["plan_mean"] = self.plan_mean
        return out

    def load_state(self, tensors: dict[str, Any]) -> None:
        if "plan_mean" in tensors:
            self.plan_mean = tensors["plan_mean"].to(self.device)
        if "has_mean" in tensors:
            self.has_mean[:] = tensors["has_mean"].numpy().astype(bool)

    @staticmethod
    def evaluator(model: Any) -> Policy:
        return _EvalPlanner(model)


class _EvalPlanner(Policy):
    """MPPI in eval mode for one environment, warm-started from its own previous plan within an episode."""

    def __init__(self, model: Any):
        self.model, self.device, self.t0 = model, next(model.parameters()).device, True

    def reset(self) -> None:
        self.t0 = True

    def act(self, obs: np.ndarray) -> np.ndarray:
        action = self.model.plan(obs_tensor(obs, self.device).unsqueeze(0), t0=self.t0, eval_mode=True)[0]
        self.t0 = False
        return action.cpu().numpy()
