"""EnvConfig: which environment a run trains in, and how it is wrapped (the "env" section of a run file)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from worldflux_cli.config.env_ids import USUAL_ACTION_REPEAT, split_id
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.fields import spec
from worldflux_cli.config.names import suggest
from worldflux_cli.config.section import Section


@dataclasses.dataclass
class EnvConfig(Section):
    """The environment of a run: its id and the wrappers applied to it.

    ``id`` names a DeepMind Control Suite task (``dmc:cartpole-balance``, ``dmc:walker-walk``) or any
    registered gymnasium environment (``gym:Pendulum-v1``). The environment worldflux builds from it
    (worldflux_cli.envs, ``pip install worldflux[envs]``) repeats each action ``action_repeat`` times
    (summing the rewards), ends episodes after ``episode_length`` agent steps, takes actions in
    [-1, 1] (rescaled to the environment's bounds), and gives float32 vectors (``obs`` 'state') or
    uint8 images of shape (3, ``image_size``, ``image_size``) (``obs`` 'pixels', dmc only).

    On the command line the same section is one string: the id with the other fields as options,
    ``dmc:cartpole-balance?obs=pixels&action_repeat=4`` (see ``from_ref``).

    Examples:
        ```python
        from worldflux_cli.config.env import EnvConfig

        env = EnvConfig.from_ref("dmc:walker-walk?obs=pixels")
        assert env.obs == "pixels" and env.resolved_action_repeat == 2
        assert EnvConfig.from_ref(env.ref()) == env
        ```
    """

    family: ClassVar[str] = "env"
    family_title: ClassVar[str] = "environment"
    required_keys: ClassVar[tuple[str, ...]] = ("id",)

    id: str = spec("", "Environment id: dmc:DOMAIN-TASK (DeepMind Control Suite, e.g. dmc:cartpole-balance) or "
                       "gym:ID (any gymnasium id, e.g. gym:Pendulum-v1).")
    obs: str = spec("state", "Observations: 'state' (a float32 vector) or 'pixels' (uint8 images, C,H,W; dmc only).",
                    enum=("state", "pixels"))
    image_size: int = spec(64, "Height and width of pixel observations: their shape is (3, image_size, "
                               "image_size).", minimum=8, maximum=1024)
    action_repeat: int | None = spec(None, "Environment steps per agent action (rewards summed). null: the "
                                           "suite's usual, 2 for dmc and 1 for gym.", minimum=1, maximum=1000)
    episode_length: int | None = spec(None, "Agent steps per episode (after action repeat): the time limit. "
                                            "null: the environment's own limit divided by action_repeat "
                                            "(dmc: 1000 / 2 = 500).", minimum=1, maximum=1 << 31)

    @property
    def suite(self) -> str | None:
        """``"dmc"`` or ``"gym"`` (None for an id that is not valid, which the check refuses)."""
        return split_id(self.id)[0]

    @property
    def name(self) -> str:
        """The id without its suite: ``"cartpole-balance"``, ``"Pendulum-v1"``."""
        return self.id.partition(":")[2]

    @property
    def resolved_action_repeat(self) -> int:
        """``action_repeat``, or the suite's usual one when it is null."""
        return self.action_repeat if self.action_repeat is not None else USUAL_ACTION_REPEAT.get(self.suite, 1)

    @classmethod
    def from_ref(cls, ref: str) -> EnvConfig:
        """Parse the command-line form ``ID[?KEY=VALUE&...]``, checking it.

        Keys are the other fields (``obs``, ``image_size``, ``action_repeat``, ``episode_length``);
        ``null`` sets a nullable one to null.

        Raises:
            ConfigurationError: An unknown key, a value of the wrong type, or a section the check
                refuses (an unknown suite, pixels for gym, a value out of range).
        """
        return cls.from_dict(parse_ref(ref))

    def ref(self) -> str:
        """The command-line form: the id, with the fields that are not their defaults as options."""
        defaults = EnvConfig.from_checked({"id": self.id}).to_dict()
        options = [f"{k}={'null' if v is None else v}" for k, v in self.to_dict().items()
                   if k != "id" and v != defaults[k]]
        return self.id + ("?" + "&".join(options) if options else "")


def parse_ref(ref: str) -> dict[str, Any]:
    """``"dmc:cartpole-balance?obs=pixels&action_repeat=4"`` -> the env section's values (not yet checked)."""
    env_id, _, query = ref.strip().partition("?")
    values: dict[str, Any] = {"id": env_id}
    fields = {f.name: f for f in dataclasses.fields(EnvConfig) if f.name != "id"}
    for item in filter(None, query.split("&")):
        key, eq, raw = item.partition("=")
        if key not in fields:
            close = suggest(key, list(fields))
            raise ConfigurationError(f"env option {key!r} in {ref!r} is not one of: {', '.join(fields)}",
                                     hint=f"did you mean {close!r}?" if close else f"use {ref.split('?')[0]}"
                                     "?obs=pixels&action_repeat=2 (keys: " + ", ".join(fields) + ")")
        if not eq:
            raise ConfigurationError(f"env option {key!r} in {ref!r} has no value", hint=f"write {key}=VALUE")
        if raw == "null" or fields[key].type == "str":
            values[key] = None if raw == "null" else raw
            continue
        try:
            values[key] = int(raw)
        except ValueError:
            raise ConfigurationError(f"env option {key}={raw!r} in {ref!r} is not a whole number",
                                     hint=f"write {key}=2, for example") from None
    return values
