"""WorldModelConfig: the fields every world model shares, and the config file API."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from worldflux_cli.config.checked import CheckedOnce
from worldflux_cli.config.enums import DynamicsType, LatentType
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.fields import MAX_OBS_DIM, spec
from worldflux_cli.config.names import SCHEMA_KEY, canonical_family
from worldflux_cli.config.presets import get_preset
from worldflux_cli.fileio import read_bounded, write_atomic

C = TypeVar("C", bound="WorldModelConfig")

#: The largest config file ``load`` reads (a config is a few KB).
MAX_FILE_BYTES = 16 * 1024 * 1024



@dataclasses.dataclass
class WorldModelConfig(CheckedOnce):
    """Base configuration for all world models.

    The fields every world model shares: the observation and action spaces, the latent sizes,
    the optimiser's basics, and where and in what precision the model runs. A config file is
    this dataclass written as JSON, with ``model_type`` naming the class: ``"dreamer"`` for
    [DreamerV3Config][worldflux_cli.config.DreamerV3Config], ``"tdmpc2"`` for
    [TDMPC2Config][worldflux_cli.config.TDMPC2Config], ``"base"`` for this class, which
    describes a config but builds no model.

    Every instance is checked when it is constructed (types, ranges, allowed values, and the
    rules between fields, such as derived fields that must agree); an invalid one raises
    [ConfigurationError][worldflux_cli.config.ConfigurationError] listing every problem at
    once, not just the first.

    Examples:
        Write a config to a file and read it back; ``load`` returns the class its
        ``model_type`` names:

        ```python
        from worldflux_cli import WorldModelConfig

        config = WorldModelConfig(obs_shape=(3, 84, 84), action_dim=4)
        config.save("config.json")
        loaded = WorldModelConfig.load("config.json")
        assert loaded == config
        ```
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
        item_minimum=1, item_maximum=MAX_OBS_DIM,
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
        """Normalise JSON-shaped values, fill derived fields, then check the config (once)."""
        self._normalise()
        for name, value in self.derived_values(self._raw_dict()).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self._check_on_construction(self.to_dict())

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
        """Compute the derived fields from the fields they are derived from.

        A derived field (e.g. DreamerV3's ``stoch_dim = stoch_discrete * stoch_classes``) is
        filled in when absent and must agree when given. The base class has none.

        Args:
            values: A config dict (JSON-shaped), possibly incomplete or ill-typed.

        Returns:
            The derived fields that could be computed, by name (only those whose inputs are
            present and well typed). Empty for the base class.
        """
        return {}

    # ------------------------------------------------------------------ dict / file API
    def _raw_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """Convert the configuration to a JSON-ready dict.

        Every field is included, derived ones too; tuples become lists and enums their string
        values, so ``json.dumps(config.to_dict())`` is the config file.

        Returns:
            A dict of field name to JSON value, in the fields' declaration order.

        Examples:
            ```python
            from worldflux_cli import TDMPC2Config

            d = TDMPC2Config.from_size("5m").to_dict()
            assert d["model_type"] == "tdmpc2" and d["deter_dim"] == d["latent_dim"]
            ```
        """
        return {name: _jsonable(value) for name, value in self._raw_dict().items()}

    def resolved(self) -> dict[str, Any]:
        """The config as a dict with the nulls that stand for another value replaced by that value.

        The base class and TD-MPC2 have none to replace: ``to_dict()``. DreamerV3 fills the fields its
        ``variant`` decides (see [DreamerV3Config.resolved][worldflux_cli.config.DreamerV3Config.resolved]).

        Returns:
            A JSON-ready dict of every field; what ``worldflux diff`` compares.
        """
        return self.to_dict()

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Create a configuration from a dict, checking it.

        Called on the base class, ``model_type`` picks the subclass (aliases such as
        ``"dreamerv3"`` work); called on a subclass, the dict is read as that family and
        ``model_type`` defaults to it. Missing fields take their defaults; derived fields are
        filled in. A ``"$schema"`` key is ignored.

        Args:
            d: The config as a JSON-shaped dict (e.g. ``json.load`` of a config file).

        Returns:
            An instance of the class ``model_type`` names (or of the class it is called on).

        Raises:
            ConfigurationError: ``d`` is not a dict, or ``model_type`` is unknown, or it has
                unknown keys, wrong types, out-of-range values, or derived fields that disagree.
                Its ``problems`` list every one.

        Examples:
            ```python
            from worldflux_cli import DreamerV3Config, WorldModelConfig

            config = WorldModelConfig.from_dict({"model_type": "dreamer", "deter_dim": 512})
            assert isinstance(config, DreamerV3Config) and config.latent_dim == 512 + 32 * 16
            ```
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
        """Save the configuration as a JSON config file.

        The file is written atomically (a temp file in the same folder, then a rename): a
        reader sees the old file or the whole new one. An existing file is replaced.

        Args:
            path: Where to write the file; its folder must exist.

        Raises:
            OSError: The file could not be written (missing folder, no permission, disk full).
        """
        write_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> WorldModelConfig:
        """Load a config file, checking it.

        On the base class the file's ``model_type`` picks the class; on a subclass the file is
        read as that family. Duplicate keys are refused (JSON allows them; a config should not).
        For line and column of each problem, run ``worldflux validate FILE``.

        Args:
            path: The config file (JSON, UTF-8).

        Returns:
            An instance of the class the file's ``model_type`` names (DreamerV3Config,
            TDMPC2Config or WorldModelConfig).

        Raises:
            FileNotFoundError: ``path`` does not exist (other OSErrors, such as PermissionError,
                as the system raises them).
            UnicodeDecodeError: The file is not UTF-8.
            json.JSONDecodeError: The file is not valid JSON.
            ConfigurationError: The config is invalid, or has a duplicate key.
            WorldfluxError: ``path`` is not a regular file, or is over 16 MiB (a config is a
                few KB).
        """
        text = read_bounded(path, MAX_FILE_BYTES, "config file").decode("utf-8")
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
        base = WorldModelConfig if cls is WorldModelConfig else cls
        return base.from_dict(data)

    @classmethod
    def from_size(cls: type[C], size: str, **overrides: Any) -> C:
        """Create a configuration from a size preset, with optional overrides.

        The preset (see the class's size presets, or ``worldflux presets``) sets the model's
        dimensions and reference shapes; ``overrides`` change any field. When they change a
        field the preset fixes, the config is renamed ``<size>-custom`` (unless ``model_name``
        is given), because the preset's name would no longer be true. Overriding only the
        shapes of your environment (``obs_shape``, ``action_dim``) keeps the name.

        Args:
            size: A preset name of this family, e.g. ``"size50m"`` or ``"5m"``.
            **overrides: Field values that replace the preset's.

        Returns:
            The configuration, checked.

        Raises:
            ValueError: ``size`` is not a preset of this family (the message suggests the
                closest name). The base class has no presets.
            ConfigurationError: The overrides make the config invalid.

        Examples:
            ```python
            from worldflux_cli import DreamerV3Config

            config = DreamerV3Config.from_size("size12m", action_dim=6)
            assert config.model_name == "size12m"
            wider = DreamerV3Config.from_size("size12m", hidden_dim=512)
            assert wider.model_name == "size12m-custom"
            ```
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
        """The names of this class's fields, in declaration order.

        Returns:
            Every field of a config file of this family (``model_type`` first).
        """
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
