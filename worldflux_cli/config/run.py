"""RunConfig: one file that names a run's model, environment and training (the run file).

```json
{"$schema": "...", "run": 1,
 "env": {"id": "dmc:walker-walk", "action_repeat": 2, "episode_length": 500},
 "model": {"model_type": "tdmpc2", ...} | "tdmpc2:5m" | "model.json",
 "training": {"total_steps": 1000000, ...}}
```

One file, checked as a whole: a problem in any section has its JSON path in the file
(``$.training.batch_size``) and so its line and column. ``model`` is a model config, a preset id or the
path of a model config file (relative to the run file's folder), so that many runs can share one model.
``env`` may also be written as one string, ``"dmc:walker-walk?action_repeat=2"``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from worldflux_cli.config import check as _check
from worldflux_cli.config.base import WorldModelConfig
from worldflux_cli.config.checked import already_checked, check_skipped
from worldflux_cli.config.env import EnvConfig, parse_ref
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.names import MODEL_FAMILIES, SCHEMA_KEY, suggest
from worldflux_cli.config.presets import parse_preset_id
from worldflux_cli.config.problems import Problem, error
from worldflux_cli.config.registry import family_of
from worldflux_cli.config.training import TrainingConfig
from worldflux_cli.config.training_rules import USUAL_BATCH_SIZE, batch_fit, fixes, resolve_batch
from worldflux_cli.errors import WorldfluxError
from worldflux_cli.fileio import read_bounded

#: The run-file format this version writes and reads.
RUN_VERSION = 1
#: The keys of a run file.
RUN_KEYS = ("run", "env", "model", "training")
#: A model config file named by a run is read up to this size.
MAX_MODEL_FILE_BYTES = 16 * 1024 * 1024


def is_run_document(value: dict[str, Any]) -> bool:
    """A run file says ``"run"``, or has a ``model``/``env``/``training`` section and no ``model_type``."""
    return "run" in value or ("model_type" not in value and any(k in value for k in RUN_KEYS))


@dataclass
class RunConfig:
    """A training run: the model config, the environment and the training config.

    Constructed from checked sections (each is checked when it is built); the run checks the rules
    between them once: TD-MPC2 trains on ``horizon + 1`` steps (WF410) with one learning rate
    (WF411); a batch of the resolved size fits the replay buffer (WF405); the model is one that builds
    (WF412). ``from_dict`` and ``load`` check a whole run file, section by section.

    Examples:
        ```python
        from worldflux_cli import TDMPC2Config
        from worldflux_cli.config.env import EnvConfig
        from worldflux_cli.config.run import RunConfig

        run = RunConfig(model=TDMPC2Config.from_size("5m", obs_shape=(24,), action_dim=6),
                        env=EnvConfig(id="dmc:walker-walk"))
        again = RunConfig.from_dict(run.to_dict())
        assert again == run and again.resolved_training()["sequence_length"] == 4
        ```
    """

    model: WorldModelConfig
    env: EnvConfig
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def __post_init__(self) -> None:
        if check_skipped():
            return
        problems = _check.errors_of(run_rule_problems(self.model.family, self.model.to_dict(),
                                                      self.training.to_dict()))
        if problems:
            raise ConfigurationError("invalid run config", problems,
                                     "run `worldflux validate FILE` on the run file for each problem's line and hint")

    def to_dict(self) -> dict[str, Any]:
        """The run file's content (without ``$schema``): every section with every field."""
        return {"run": RUN_VERSION, "env": self.env.to_dict(), "model": self.model.to_dict(),
                "training": self.training.to_dict()}

    def resolved_training(self) -> dict[str, Any]:
        """The training section with its nulls replaced by this model's values (batch, sequence, rates, device)."""
        out = self.training.resolved(self.model.family, self.model.to_dict())
        model = self.model.resolved()  # (DreamerV3: its variant's learning rates where the config leaves them null)
        for name in ("learning_rate", "actor_learning_rate", "critic_learning_rate", "device"):
            if out[name] is None:
                out[name] = model.get(name)
        return out

    @classmethod
    def from_dict(cls, d: Any, base_dir: str | Path | None = None) -> RunConfig:
        """Create a run from a run file's dict, checking every section and the rules between them.

        Args:
            d: The run file as a JSON-shaped dict.
            base_dir: Folder against which a model given as a file path is read (the run file's
                folder); None reads such paths relative to the current folder.

        Raises:
            ConfigurationError: Any problem in any section; its ``problems`` have paths such as
                ``$.training.batch_size``.
        """
        if not isinstance(d, dict):
            raise ConfigurationError(f"a run file must be a JSON object, not {type(d).__name__}")
        result = check_run(d, Path(base_dir) if base_dir is not None else Path.cwd())
        if _check.errors_of(result.problems):
            raise ConfigurationError("invalid run config", _check.errors_of(result.problems),
                                     "run `worldflux validate FILE` on the run file for each problem's line and hint")
        return result.build()

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Load and check a run file (a model given as a path is read relative to the file's folder)."""
        path = Path(path)
        data = json.loads(read_bounded(path, MAX_MODEL_FILE_BYTES, "run file").decode("utf-8"))
        return cls.from_dict(data, path.parent)


# ---------------------------------------------------------------------------------- the check of a run file


@dataclass
class RunCheck:
    """The outcome of checking a run file: its problems and, where found, each section's values."""

    problems: list[Problem] = field(default_factory=list)
    model_class: type[WorldModelConfig] | None = None
    model: dict[str, Any] | None = None
    model_ref: str | None = None  # the preset id or path, when the file names the model by one
    env: dict[str, Any] | None = None
    training: dict[str, Any] | None = None

    def build(self) -> RunConfig:
        """The RunConfig of a run whose check found no error (nothing is checked again)."""
        assert self.model_class is not None and self.model is not None and self.env is not None
        with already_checked():
            model = self.model_class.from_checked(self.model)
            return RunConfig(model=model, env=EnvConfig.from_checked(self.env),
                             training=TrainingConfig.from_checked(self.training or {}))


def _under(prefix: tuple[Any, ...], problems: list[Problem]) -> list[Problem]:
    return [replace(p, where=prefix + p.where) for p in problems]


def check_run(doc: dict[str, Any], base_dir: Path | None) -> RunCheck:
    """Every problem of a run file's dict, each with its path in the file, and the sections' values.

    ``base_dir`` is where a model given as a file path is read from; None refuses such paths (a run
    read from the Hub cannot name local files).
    """
    out = RunCheck()
    for key in doc:
        if key not in RUN_KEYS and key != SCHEMA_KEY:
            close = suggest(key, RUN_KEYS)
            out.problems.append(error("WF101", f"unknown key {key!r} in a run file",
                                      f"did you mean {close!r}?" if close else
                                      "a run file has: " + ", ".join(RUN_KEYS), (key,), key=True))
    version = doc.get("run", RUN_VERSION)
    if version != RUN_VERSION or isinstance(version, bool):
        out.problems.append(error("WF104", f"run is {json.dumps(version)[:40]}, must be {RUN_VERSION}",
                                  f"set run to {RUN_VERSION} (the run-file format this worldflux reads)", ("run",)))
    for key, example in (("model", '"tdmpc2:5m" or a model config'), ("env", '"dmc:walker-walk"')):
        if key not in doc:
            out.problems.append(error("WF105", f"required key {key!r} is missing from the run file",
                                      f'add "{key}": {example}'))
    if "model" in doc:
        _model_section(doc["model"], base_dir, out)
    if "env" in doc:
        _env_section(doc["env"], out)
    training = doc.get("training", {})
    if isinstance(training, dict):
        out.training = {k: v for k, v in training.items() if k != SCHEMA_KEY}
        out.problems.extend(_under(("training",), _check.check_values(out.training, TrainingConfig)))
    else:
        out.problems.append(error("WF102", f"training must be an object, not {json.dumps(training)[:40]}",
                                  'write "training": {"total_steps": 1000000, ...} or leave it out for the defaults',
                                  ("training",)))
    if not _check.errors_of(out.problems) and out.model_class is not None:
        model_values = out.model_class.from_checked(out.model).to_dict()
        found = run_rule_problems(out.model_class.family, model_values, out.training)
        out.problems.extend(found if out.model_ref is None else
                            [replace(p, where=("model",)) if p.where[:1] == ("model",) else p for p in found])
    return out


def _model_section(value: Any, base_dir: Path | None, out: RunCheck) -> None:
    if isinstance(value, str):
        value = _model_reference(value, base_dir, out)
        if value is None:
            return
        cls, problems = family_of(value)
        if cls is not None:
            problems = _check.check_values(value, cls)
        if _check.errors_of(problems):  # the problems of another document: named, at $.model
            out.problems.extend(error(p.code, f"{out.model_ref}: {p.path}: {p.message}", p.hint, ("model",))
                                for p in _check.errors_of(problems))
            return
    elif isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != SCHEMA_KEY}
        cls, problems = family_of(value, ("model",))
        if cls is not None:
            problems = _under(("model",), _check.check_values(value, cls))
        out.problems.extend(problems)
    else:
        out.problems.append(error("WF102", f"model must be a model config (an object) or a string (a preset id "
                                           f"such as tdmpc2:5m, or a config file), not {json.dumps(value)[:40]}",
                                  'write "model": "tdmpc2:5m", or the model config itself', ("model",)))
        return
    if cls is not None:
        out.model_class, out.model = cls, value


def _model_reference(ref: str, base_dir: Path | None, out: RunCheck) -> dict[str, Any] | None:
    """The config dict a model reference names (a file first, then a preset id); None and WF440 otherwise."""
    out.model_ref = ref = ref if len(ref) <= 200 else ref[:200] + "..."

    def refuse(message: str, hint: str) -> None:
        out.problems.append(error("WF440", message, hint, ("model",)))

    path = None if base_dir is None or ref.startswith("hf://") or "\x00" in ref else base_dir / ref
    if path is not None and _is_file(path):
        try:
            data = json.loads(read_bounded(path, MAX_MODEL_FILE_BYTES, "model config").decode("utf-8"))
        except (OSError, WorldfluxError, UnicodeDecodeError, ValueError) as exc:
            return refuse(f"model {ref!r} could not be read: {getattr(exc, 'message', exc)}",
                          f"run `worldflux validate {path}`")
        if not isinstance(data, dict) or is_run_document(data):
            return refuse(f"model {ref!r} is not a model config" + (" (it is a run file)" if isinstance(data, dict)
                                                                      else ""),
                          "name a model config file, or a preset id such as tdmpc2:5m")
        return {k: v for k, v in data.items() if k != SCHEMA_KEY}
    try:
        preset = parse_preset_id(ref)
    except ValueError as exc:  # unknown family or preset
        return refuse(getattr(exc, "message", str(exc)), "list the presets with `worldflux presets`")
    if preset is not None:
        return preset.config_values()
    where = "" if base_dir is None else f" in {base_dir}"
    hint = ("a run read from the Hub or a preset names its model inline or by preset id" if base_dir is None
            else "give a path relative to the run file's folder, or a preset id such as tdmpc2:5m")
    return refuse(f"model {ref!r} is neither a preset id nor a file{where}", hint)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the system, or one no file can have
        return False


def _env_section(value: Any, out: RunCheck) -> None:
    if isinstance(value, str):
        try:
            values = parse_ref(value)
        except ConfigurationError as exc:
            out.problems.append(error("WF420", exc.message, exc.hint, ("env",)))
            return
        out.problems.extend(replace(p, where=("env",)) for p in _check.check_values(values, EnvConfig))
    elif isinstance(value, dict):
        values = {k: v for k, v in value.items() if k != SCHEMA_KEY}
        out.problems.extend(_under(("env",), _check.check_values(values, EnvConfig)))
    else:
        out.problems.append(error("WF102", f"env must be an object or an env id, not {json.dumps(value)[:40]}",
                                  'write "env": "dmc:walker-walk" or {"id": "dmc:walker-walk", ...}', ("env",)))
        return
    out.env = values


# ---------------------------------------------------------------------------------- rules between sections


def run_rule_problems(family: str, model: dict[str, Any], training: dict[str, Any]) -> list[Problem]:
    """The rules between a run's model and its training config (WF405 with nulls resolved, WF410-WF412)."""
    out: list[Problem] = []
    if family not in MODEL_FAMILIES:
        out.append(error("WF412", f"a run trains a model, but model_type {family!r} builds none",
                         "set model_type to 'dreamer' or 'tdmpc2'", ("model", "model_type")))
        return out
    defaults = {f.name: f.default for f in dataclasses.fields(TrainingConfig)}
    training = {**defaults, **training}
    if family == "tdmpc2":
        horizon, seq = model.get("horizon"), training.get("sequence_length")
        if isinstance(horizon, int) and seq is not None and seq != horizon + 1:
            out.append(error("WF410", f"TD-MPC2 trains on horizon + 1 = {horizon + 1} steps, but sequence_length "
                                      f"is {seq}", fixes(("training.sequence_length", None),
                                                         ("training.sequence_length", horizon + 1)),
                             ("training", "sequence_length")))
        for name in ("actor_learning_rate", "critic_learning_rate"):
            if training.get(name) is not None:
                out.append(error("WF411", f"TD-MPC2 has no separate {name.split('_')[0]} learning rate; {name} is "
                                          f"{training[name]}", fixes((f"training.{name}", None)) +
                                 " (training.learning_rate sets every component's)", ("training", name)))
    if training.get("batch_size") is None or training.get("sequence_length") is None:
        resolved = resolve_batch(training, family, model)
        notes = []
        if training.get("batch_size") is None:
            notes.append(f"batch_size null: {USUAL_BATCH_SIZE[family]}")
        if training.get("sequence_length") is None:
            notes.append(f"sequence_length null: {resolved['sequence_length']}")
        problem = batch_fit(resolved["batch_size"], resolved["sequence_length"], training.get("replay_size"),
                            TrainingConfig, ("training",), f" ({'; '.join(notes)})", prefix="training.")
        if problem is not None:
            out.append(problem)
    return out
