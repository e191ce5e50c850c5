"""What one replay-buffer entry holds, per model family, and so the buffer's size: torch- and numpy-free.

The replay buffer (``replay.Replay``) allocates one array per field of its layout; ``worldflux info RUN``
and the memory budget of ``worldflux train`` compute its bytes from the same layout, without numpy.
Images (3-D observations) are stored as uint8 pixels, vectors as float32.

A layout is a tuple of :class:`Field`; each family's is returned by the function in ``LAYOUTS``:

- TD-MPC2: ``obs`` and the ``action``, ``reward`` and ``terminated`` that led to it (zeros at an episode's
  first step); windows of horizon + 1 steps of one episode are sampled from it.
- DreamerV3: ``obs``, the ``action`` and ``reward`` that led to it, ``is_first``, ``is_terminal``, ``is_last``
  (the episode's last step: terminal or cut off) per step, and with a replay context (official) the posterior
  state the agent had after observing the step (``deter`` float32, ``stoch`` as one class index per categorical);
  sequences of replay_context + ``sequence_length`` steps are sampled across episode starts, which
  ``is_first`` marks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Bytes per element of the dtypes a replay field can have.
ITEMSIZE = {"uint8": 1, "bool": 1, "int16": 2, "float32": 4, "int64": 8}
#: Bytes per entry the buffer adds to every layout: the episode each entry belongs to (int64).
EPISODE_BYTES = ITEMSIZE["int64"]


@dataclass(frozen=True)
class Field:
    """One per-step array of the replay buffer: its name, per-step shape and dtype (a key of ITEMSIZE)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def bytes(self) -> int:
        return math.prod(self.shape) * ITEMSIZE[self.dtype]


def obs_field(obs_shape: tuple[int, ...] | list[int]) -> Field:
    """Observations: uint8 pixels for images (C, H, W), float32 for vectors."""
    shape = tuple(int(n) for n in obs_shape)
    return Field("obs", shape, "uint8" if len(shape) == 3 else "float32")


def tdmpc2_layout(obs_shape: tuple[int, ...] | list[int], action_dim: int) -> tuple[Field, ...]:
    return (obs_field(obs_shape), Field("action", (int(action_dim),), "float32"), Field("reward", (), "float32"),
            Field("terminated", (), "float32"))


def dreamer_layout(obs_shape: tuple[int, ...] | list[int], action_dim: int, deter_dim: int = 0,
                   stoch_discrete: int = 0, stoch_classes: int = 0) -> tuple[Field, ...]:
    """DreamerV3's fields; ``deter_dim`` > 0 adds the stored posterior state of a replay context."""
    fields = (obs_field(obs_shape), Field("action", (int(action_dim),), "float32"), Field("reward", (), "float32"),
              Field("is_first", (), "bool"), Field("is_terminal", (), "bool"), Field("is_last", (), "bool"))
    if deter_dim:
        index = "uint8" if stoch_classes <= 256 else "int16"
        fields += (Field("deter", (int(deter_dim),), "float32"), Field("stoch", (int(stoch_discrete),), index))
    return fields


def _dreamer_layout_of(model: Any) -> tuple[Field, ...]:
    context = model.resolved()["replay_context"]
    return dreamer_layout(model.obs_shape, model.action_dim, model.deter_dim if context else 0,
                          model.stoch_discrete, model.stoch_classes)


#: family -> layout of a model config.
LAYOUTS = {"tdmpc2": lambda m: tdmpc2_layout(m.obs_shape, m.action_dim), "dreamer": _dreamer_layout_of}


def layout_of(model: Any) -> tuple[Field, ...]:
    """The layout of a model config's family, at its obs_shape and action_dim (and DreamerV3's replay context)."""
    return LAYOUTS[model.family](model)


def entry_bytes(layout: tuple[Field, ...]) -> int:
    """Bytes of one stored step: every field plus the episode index."""
    return sum(f.bytes for f in layout) + EPISODE_BYTES


def per_env_capacity(replay_size: int, num_envs: int) -> int:
    """Entries each environment's ring holds: replay_size split over the environments (rounded up)."""
    return -(-int(replay_size) // int(num_envs))


def replay_info(model: Any, replay_size: int, num_envs: int) -> dict[str, Any]:
    """The replay buffer of a run as JSON-ready data: capacity, bytes per step (per field), total bytes."""
    layout = layout_of(model)
    capacity = per_env_capacity(replay_size, num_envs) * int(num_envs)
    return {"capacity_steps": capacity, "num_envs": int(num_envs), "obs_dtype": layout[0].dtype,
            "bytes_per_step": entry_bytes(layout), "fields": {f.name: f.bytes for f in layout},
            "bytes": capacity * entry_bytes(layout)}
