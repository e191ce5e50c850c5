"""EnvSpec (what an environment gives and takes) and Env (the API every wrapped environment has)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnvSpec:
    """What a wrapped environment gives and takes: the shapes a model config must match.

    Attributes:
        env_id: The id it was built from, with its options (``dmc:walker-walk?obs=pixels``).
        obs_shape: Observation shape: ``(D,)`` float32 vectors, or ``(3, H, W)`` uint8 images.
        obs_dtype: ``"float32"`` or ``"uint8"``.
        action_dim: Action dimensions (continuous) or number of actions (discrete).
        action_type: ``"continuous"`` (actions in [-1, 1]) or ``"discrete"`` (an index).
        action_low: The environment's own lower action bounds, which -1 maps to (continuous).
        action_high: Its upper bounds, which +1 maps to.
        action_repeat: Environment steps per agent action.
        episode_length: Agent steps per episode (the time limit), None when unlimited.
    """

    env_id: str
    obs_shape: tuple[int, ...]
    obs_dtype: str
    action_dim: int
    action_type: str
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None
    action_repeat: int = 1
    episode_length: int | None = None

    def model_fields(self) -> dict[str, Any]:
        """The model-config fields this environment decides: obs_shape, action_dim, action_type."""
        return {"obs_shape": list(self.obs_shape), "action_dim": self.action_dim, "action_type": self.action_type}


class Env:
    """The API of every environment worldflux builds (adapters and wrappers alike).

    ``reset(seed=None) -> obs``; ``step(action) -> (obs, reward, terminated, truncated, info)`` where
    ``terminated`` means the task ended (no bootstrapping) and ``truncated`` the time limit; ``spec``;
    ``close()``. Also a context manager that closes it.

    ``step(action, observe=False)`` may skip making the observation (it is then None; ``observe()`` makes
    it later): action repeat renders pixels once per agent step, not once per environment step.
    ``render(size)`` gives an RGB frame (H, W, 3) uint8 for videos; ``seconds_per_step`` the simulated
    time of one step (None when unknown).
    """

    spec: EnvSpec
    seconds_per_step: float | None = None

    def reset(self, seed: int | None = None) -> Any:
        raise NotImplementedError

    def step(self, action: Any, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        raise NotImplementedError

    def observe(self) -> Any:
        """The observation of the current state (after a ``step(..., observe=False)``)."""
        raise NotImplementedError

    def render(self, size: int = 256) -> Any:
        """An RGB frame (H, W, 3) uint8 of the current state; ``size`` is the side where the suite takes one."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the environment's resources (renderers, simulators)."""

    def __enter__(self) -> Env:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
