"""A new config from a size preset plus overrides, or a new run file for an environment (`worldflux new`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.env import EnvConfig
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.names import SCHEMA_KEY, canonical_family, suggest
from worldflux_cli.config.presets import get_preset
from worldflux_cli.config.registry import FAMILIES
from worldflux_cli.config.rules import filled_values
from worldflux_cli.config.run import RUN_VERSION
from worldflux_cli.config.schema import build_schema, committed_schema_path, nullable_fields
from worldflux_cli.config.training import TrainingConfig


@dataclass
class NewConfig:
    family: str
    values: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The file text: ``$schema`` first (editors autocomplete), then every field."""
        ref = committed_schema_path(self.family).resolve().as_uri()
        return json.dumps({SCHEMA_KEY: ref, **self.values}, indent=2) + "\n"


def parse_obs_shape(text: str) -> list[int]:
    """'3,64,64' or '3x64x64' or '[3, 64, 64]' -> [3, 64, 64]."""
    cleaned = text.strip().strip("[]()").replace("x", ",").replace("×", ",")
    try:
        dims = [int(part) for part in cleaned.split(",") if part.strip()]
    except ValueError:
        raise ConfigurationError(f"--obs-shape {text!r} is not a list of integers (e.g. 3,64,64 or 39)") from None
    if not dims:
        raise ConfigurationError("--obs-shape is empty; e.g. 3,64,64 for images or 39 for vectors")
    return dims


def parse_set(cls: type[WorldModelConfig], assignment: str) -> tuple[tuple[str, ...], Any]:
    """'key=value' (or 'loss_scales.kl=0.5') -> (path, value typed by the family's schema)."""
    if "=" not in assignment:
        raise ConfigurationError(f"--set {assignment!r} has no '='; write --set key=value")
    key, _, raw = assignment.partition("=")
    path = tuple(key.strip().split("."))
    props = build_schema(cls)["properties"]
    if path[0] not in props or path[0].startswith("$"):
        close = suggest(path[0], [k for k in props if not k.startswith("$")])
        extra = f"; did you mean {close!r}?" if close else ""
        raise ConfigurationError(f"--set: {cls.family_title} configs have no field {path[0]!r}{extra}")
    schema = props[path[0]]
    for part in path[1:]:
        sub = schema.get("properties", {})
        if part not in sub:
            raise ConfigurationError(f"--set: {'.'.join(path[:-1])} has no key {part!r} (keys: {', '.join(sub)})")
        schema = sub[part]
    return path, _typed(raw.strip(), schema, key)


def _typed(raw: str, schema: dict[str, Any], key: str) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            lowered = raw.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if kind == "array":
            return parse_obs_shape(raw) if not raw.startswith("[") else json.loads(raw)
        if kind == "object":
            return json.loads(raw)
    except (ValueError, ConfigurationError):
        article = "an" if str(kind)[:1] in "aeiou" else "a"
        raise ConfigurationError(f"--set {key}={raw!r}: expected {article} {kind}") from None
    return raw


def new_config(family: str, size: str, *, obs_shape: str | None = None, action_dim: int | None = None,
               action_type: str | None = None, sets: list[str] = ()) -> NewConfig:
    """Values of a preset with the given overrides; renamed when the preset's dims change."""
    family = canonical_family(family, allow_base=False)
    cls = FAMILIES[family]
    preset = get_preset(family, size)
    values = preset.config_values()
    overrides: dict[str, Any] = {}
    if obs_shape is not None:
        overrides["obs_shape"] = parse_obs_shape(obs_shape)
    if action_dim is not None:
        overrides["action_dim"] = action_dim
    if action_type is not None:
        overrides["action_type"] = action_type
    nested: list[tuple[tuple[str, ...], Any]] = []
    for item in sets:
        path, value = parse_set(cls, item)
        if len(path) == 1:
            overrides[path[0]] = value
        else:
            nested.append((path, value))
    values.update(overrides)
    filled = filled_values(values, cls)
    for path, value in nested:
        target = filled
        for depth, part in enumerate(path[:-1]):
            target = target.get(part) if isinstance(target, dict) else None
            if not isinstance(target, dict):
                inner = ".".join(path[:depth + 1])
                raise ConfigurationError(f"--set {'.'.join(path)}: {inner} is not an object here (an earlier "
                                         f"--set {inner}=... replaced it)", hint=f"set {inner} once, as an object "
                                         f"or key by key")
        target[path[-1]] = value
    out = NewConfig(family, filled)
    changed = preset.changed_fields(filled)
    if changed and "model_name" not in overrides:
        filled["model_name"] = preset.custom_name
        verb = "differs" if len(changed) == 1 else "differ"
        out.notes.append(f"renamed to {filled['model_name']!r}: {', '.join(changed)} {verb} from preset {preset.id}, "
                         f"so the preset's name would no longer be true")
    return out


@dataclass
class NewRun:
    """A run file: a model config from a preset, shaped by an environment, with the training defaults."""

    model: NewConfig
    env: dict[str, Any]
    training: dict[str, Any]

    @property
    def notes(self) -> list[str]:
        return self.model.notes

    def render(self) -> str:
        """The run file's text: ``$schema`` (the run schema) and ``run`` first, then env, model, training."""
        ref = committed_schema_path("run").resolve().as_uri()
        body = {SCHEMA_KEY: ref, "run": RUN_VERSION, "env": self.env, "model": self.model.values,
                "training": self.training}
        return json.dumps(body, indent=2) + "\n"


def new_run(family: str, size: str, env: str, *, sets: list[str] = ()) -> NewRun:
    """A run for a model family and size in an environment (the library behind `worldflux new --env`).

    The environment is built once (worldflux_cli.envs) to read its spec: the model's ``obs_shape``,
    ``action_dim`` and ``action_type`` come from it, and the env section records its action repeat and
    episode length. ``sets`` are ``key=value`` for the model and ``training.key=value`` for training.

    Raises:
        ConfigurationError: A bad env id, family, size or --set (a usage error).
        EnvError: The environment cannot be built (worldflux[envs] missing, unknown id).
    """
    from worldflux_cli.envs.make import env_spec

    try:
        env_config = EnvConfig.from_ref(env)
    except ConfigurationError as exc:  # one line: the first problem, with its hint
        first = exc.problems[0] if exc.problems else None
        raise ConfigurationError(f"--env {env!r}: {first.message if first else exc.message}",
                                 hint=first.hint if first else exc.hint) from None
    model_sets, training_sets = [], []
    for item in sets:
        key = item.partition("=")[0].strip()
        if key.startswith("env."):
            raise ConfigurationError(f"--set {item!r}: env options go in the env id, e.g. --env "
                                     f"'{env_config.id}?{key[4:]}=...'")
        (training_sets if key.startswith("training.") else model_sets).append(item.removeprefix("model."))
    canonical_family(family, allow_base=False)  # an unknown family is reported before the env is built
    spec = env_spec(env_config)
    model = new_config(family, size, obs_shape=",".join(map(str, spec.obs_shape)), action_dim=spec.action_dim,
                       action_type=spec.action_type, sets=model_sets)
    training = TrainingConfig.from_checked({}).to_dict()
    nullable = nullable_fields(TrainingConfig)
    for item in training_sets:
        key, _, raw = item.removeprefix("training.").partition("=")
        if raw.strip() == "null" and key.strip() in nullable:
            training[key.strip()] = None
            continue
        path, value = parse_set(TrainingConfig, f"{key}={raw}")
        training[path[0]] = value
    env_values = {**env_config.to_dict(), "action_repeat": spec.action_repeat, "episode_length": spec.episode_length}
    return NewRun(model, env_values, training)
