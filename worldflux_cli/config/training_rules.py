"""What a training config's nulls mean, and its rules a schema cannot say (WF401-WF405).

A null ``batch_size`` or ``sequence_length`` means the model family's usual value (the papers'
settings, below); :func:`resolve_batch` turns them into numbers once the model is known. Each rule's
hint names values that are themselves valid: ``set FIELD to VALUE``, alternatives joined by ", or ".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from worldflux_cli.config.problems import Problem, error

#: The batch size of each family's paper (DreamerV3: 16 sequences of 64 steps; TD-MPC2: 256 sub-trajectories).
USUAL_BATCH_SIZE = {"dreamer": 16, "tdmpc2": 256}
#: DreamerV3 trains on sequences of 64 steps; TD-MPC2 on horizon + 1 steps (its own field).
DREAMER_SEQUENCE_LENGTH = 64


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def usual_sequence_length(family: str, model_values: dict[str, Any]) -> int | None:
    """The sequence length a model family trains on: 64 for DreamerV3, horizon + 1 for TD-MPC2."""
    if family == "dreamer":
        return DREAMER_SEQUENCE_LENGTH
    horizon = model_values.get("horizon")
    return horizon + 1 if family == "tdmpc2" and _int(horizon) else None


def resolve_batch(training: dict[str, Any], family: str, model_values: dict[str, Any]) -> dict[str, Any]:
    """``batch_size`` and ``sequence_length`` with their nulls replaced by the family's usual values."""
    batch, seq = training.get("batch_size"), training.get("sequence_length")
    return {"batch_size": USUAL_BATCH_SIZE.get(family) if batch is None else batch,
            "sequence_length": usual_sequence_length(family, model_values) if seq is None else seq}


def fixes(*pairs: tuple[str, Any]) -> str:
    """A hint made of fixes, each ``set FIELD to VALUE`` (a JSON value): ``set a to 1, or set b to null``."""
    return ", or ".join(f"set {name} to {'null' if value is None else value}" for name, value in pairs)


def _maximum(cls: type, name: str) -> int:
    meta = next(f.metadata for f in dataclasses.fields(cls) if f.name == name)
    return meta["maximum"] if meta["maximum"] is not None else 1 << 62


def batch_fit(batch: Any, seq: Any, replay: Any, cls: type, where: tuple[Any, ...] = (),
              shown: str = "", prefix: str = "") -> Problem | None:
    """WF405 when ``batch`` sequences of ``seq`` steps do not fit in a replay buffer of ``replay`` steps.

    ``shown`` explains where null values came from (e.g. " (batch_size null: 256)"); ``where`` prefixes
    the path and ``prefix`` the field names in the hint (``("training",)`` and ``"training."`` in a run).
    """
    if not (_int(batch) and _int(seq) and _int(replay)) or batch * seq <= replay or seq <= 0:
        return None
    options = []
    if batch * seq <= _maximum(cls, "replay_size"):
        options.append((prefix + "replay_size", batch * seq))
    if replay // seq >= 1:
        options.append((prefix + "batch_size", replay // seq))
    return error("WF405", f"batch_size x sequence_length = {batch} x {seq}{shown} = {batch * seq} steps per batch "
                          f"is more than replay_size = {replay}",
                 fixes(*options), where + ("replay_size",))


def rule_training(v: dict[str, Any], cls: type) -> Iterator[Problem]:
    """Intervals and the prefill within the run's length; a batch within the replay buffer."""
    total = v.get("total_steps")
    if _int(total):
        prefill = v.get("prefill_steps")
        if _int(prefill) and prefill > total:
            yield error("WF401", f"prefill_steps = {prefill} is more than total_steps = {total}: training would "
                                 "never start", fixes(("prefill_steps", total), ("total_steps", prefill)),
                        ("prefill_steps",))
        interval, episodes = v.get("eval_interval"), v.get("eval_episodes")
        if _int(interval) and interval > total and episodes != 0:
            yield error("WF402", f"eval_interval = {interval} is more than total_steps = {total}: the agent would "
                                 "never be evaluated", fixes(("eval_interval", total), ("eval_episodes", 0)),
                        ("eval_interval",))
        interval = v.get("checkpoint_interval")
        if _int(interval) and interval > total:
            yield error("WF403", f"checkpoint_interval = {interval} is more than total_steps = {total}",
                        fixes(("checkpoint_interval", total), ("checkpoint_interval", 0)), ("checkpoint_interval",))
        interval = v.get("log_interval")
        if _int(interval) and interval > total:
            yield error("WF404", f"log_interval = {interval} is more than total_steps = {total}: nothing would be "
                                 "logged", fixes(("log_interval", total)), ("log_interval",))
    problem = batch_fit(v.get("batch_size"), v.get("sequence_length"), v.get("replay_size"), cls)
    if problem is not None:
        yield problem
