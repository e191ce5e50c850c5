"""WorldModelConfig: the fields every world model shares, and the config file API."""

from __future__ import annotations

import dataclasses
import json
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from worldflux_cli.config import check as _check
from worldflux_cli.config.enums import DynamicsType, LatentType
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.fields import spec
from worldflux_cli.config.names import SCHEMA_KEY, canonical_family
from worldflux_cli.config.presets import get_preset

C = TypeVar("C", bound="WorldModelConfig")

#: True while a constructor runs on values that were checked just before (from_dict, the validator):
#: the check runs once per construction, not again in __post_init__.
_ALREADY_CHECKED: ContextVar[bool] = ContextVar("worldflux_config_already_checked", default=False)


@dataclasses.dataclass
class WorldModelConfig:
    """Base configuration for all world models.

    Subclasses (DreamerV3Config, TDMPC2Config) add model-specific fields. Every instance
    is validated on construction; an invalid one raises ConfigurationError listing all
    problems.

    Example::

        config = WorldModelConfig(obs_shape=(84, 84, 3), action_dim=4)
        config.save("config.json")
        loaded = WorldModelConfig.load("config.json")
    """

    #: model_type value of this class in config files.
    family: ClassVar[str] = "base"
    #: Human-readable family name for messages.
    family_title: ClassVar[str] = "generic world model"
    #: model_type -> config class; the table of worldflux_cli.config.registry (set there).
    families: ClassVar[dict[str, type[WorldModelConfig]]] = {}

    model_type: str = spec("base", "Model family: 'dreamer', 'tdmpc2' or 'base'.", const=True)
    model_name: str = spec(
        "custom",
        "Name of this configuration. A size-preset name (e.g. 'size50m') promises that "
        "preset's dimensions; rename the config when you change them.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$",
    )
    obs_shape: tuple[int, ...] = spec(
        (3, 64, 64),
        "Observation shape: (C, H, W) for images, (D,) for vectors.",
        min_items=1,
        max_items=3,
        item_minimum=1,
    )
    action_dim: int = spec(4, "Number of actions (discrete) or action dimensions (continuous).",
                           minimum=1, maximum=65536)
    action_type: str = spec("continuous", "Action space type.", enum=("continuous", "discrete"))
    latent_type: LatentType = spec(LatentType.DETERMINISTIC, "Latent state representation.",
                                   enum=tuple(t.value for t in LatentType))
    latent_dim: int = spec(256, "Dimension of the primary latent space.", minimum=1, maximum=1 << 20,
                           architecture=True)
    deter_dim: int = spec(512, "Dimension of the deterministic state (RSSM models).", minimum=0,
                          maximum=1 << 20, architecture=True)
    stoch_dim: int = spec(32, "Dimension of the stochastic state (RSSM models).", minimum=0,
                          maximum=1 << 20, architecture=True)
    dynamics_type: DynamicsType = spec(DynamicsType.MLP, "Dynamics model architecture.",
                                       enum=tuple(t.value for t in DynamicsType))
    hidden_dim: int = spec(256, "Hidden width of MLPs and recurrent layers.", minimum=1,
                           maximum=1 << 20, architecture=True)
    learning_rate: float = spec(3e-4, "Learning rate of the world model.", exclusive_minimum=0,
                                maximum=1)
    grad_clip: float = spec(100.0, "Gradient-norm clipping threshold (0 disables).", minimum=0)
    device: str = spec("auto", "Target device: 'auto', 'cpu', 'cuda' or 'cuda:N'.",
                       pattern=r"^(auto|cpu|cuda(:[0-9]+)?|mps)$")
    dtype: str = spec("float32", "Parameter/compute data type.",
                      enum=("float32", "float16", "bfloat16"))

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        self._normalise()
        for name, value in self.derived_values(self._raw_dict()).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if not _ALREADY_CHECKED.get():
            self._raise_if_invalid(self.to_dict())

    @classmethod
    def _raise_if_invalid(cls, values: dict[str, Any]) -> None:
        """The one check of a config (worldflux_cli.config.check); ConfigurationError listing every error."""
        problems = _check.errors_of(_check.check_values(values, cls))
        if problems:
            raise ConfigurationError(f"invalid {cls.family_title} config", problems,
                                     "run `worldflux validate FILE` on its file for each problem's line and hint")

    @classmethod
    def from_checked(cls: type[C], values: dict[str, Any]) -> C:
        """Construct from ``values`` (a JSON-shaped dict) that ``check_values`` just found valid for ``cls``.

        For the validation pipeline, which has checked the document already: the check is not run
        twice. Anything else should use ``from_dict``.
        """
        token = _ALREADY_CHECKED.set(True)
        try:
            return cls(**values)
        finally:
            _ALREADY_CHECKED.reset(token)

    def _normalise(self) -> None:
        """Turn JSON-shaped values (lists, enum strings) into the declared Python types."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):
                setattr(self, f.name, tuple(value))
            elif f.name == "latent_type" and isinstance(value, str):
                setattr(self, f.name, _enum_or_raw(LatentType, value))
            elif f.name == "dynamics_type" and isinstance(value, str):
                setattr(self, f.name, _enum_or_raw(DynamicsType, value))

    @classmethod
    def derived_values(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Values of derived fields computed from ``values`` (a config dict).

        Returns only the fields it could compute (inputs present and well typed).
        """
        return {}

    # ------------------------------------------------------------------ dict / file API
    def _raw_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """Convert the configuration to a JSON-ready dict (derived fields included)."""
        return {name: _jsonable(value) for name, value in self._raw_dict().items()}

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Create a configuration from a dict.

        On the base class, ``model_type`` picks the subclass. Unknown keys, wrong types,
        out-of-range values and derived fields that disagree raise ConfigurationError
        with every problem listed.
        """
        if not isinstance(d, dict):
            raise ConfigurationError(f"a config must be a JSON object, not {type(d).__name__}")
        values = {k: _jsonable(v) for k, v in d.items() if k != SCHEMA_KEY}
        target = cls
        if cls is WorldModelConfig and isinstance(values.get("model_type"), str):
            target = cls.families[canonical_family(values["model_type"])]
        values.setdefault("model_type", target.family)
        target._raise_if_invalid(values)
        return target.from_checked(values)

    def save(self, path: str | Path) -> None:
        """Save the configuration as JSON, atomically (temp file + rename)."""
        from worldflux_cli.fileio import write_atomic

        write_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> WorldModelConfig:
        """Load a configuration file; returns the subclass named by its ``model_type``.

        Raises FileNotFoundError, json.JSONDecodeError or ConfigurationError.
        """
        text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
        base = WorldModelConfig if cls is WorldModelConfig else cls
        return base.from_dict(data)

    @classmethod
    def from_size(cls: type[C], size: str, **overrides: Any) -> C:
        """Create a configuration from a size preset, with optional overrides.

        Raises ValueError for an unknown size. When overrides change a dimension the
        preset fixes, the config is renamed ``<size>-custom`` (unless ``model_name`` is
        given), because the preset's name would no longer be true.
        """
        preset = get_preset(cls.family, size)  # ValueError when unknown
        values = preset.config_values()
        merged = {**values, **{k: _jsonable(v) for k, v in overrides.items()}}
        if "model_name" not in overrides and preset.changed_fields(merged):
            values["model_name"] = preset.custom_name
        values.update(overrides)
        return cls.from_dict(values)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


def _enum_or_raw(enum_cls: type, value: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, (LatentType, DynamicsType)):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigurationError(f"duplicate key {key!r} in config file")
        seen[key] = value
    return seen
