"""TrainingConfig: fields declared once, its schema, its rules (WF401-WF405) and hints that are themselves valid."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from worldflux_cli.config import ConfigurationError
from worldflux_cli.config.check import check_values, errors_of
from worldflux_cli.config.schema import build_schema, nullable_fields
from worldflux_cli.config.training import MAX_STEPS, TrainingConfig

RULE_CODES = {"WF401", "WF402", "WF403", "WF404", "WF405"}


def _codes(values: dict) -> set[str]:
    return {p.code for p in errors_of(check_values(values, TrainingConfig))}


def test_every_field_is_declared_with_a_description_and_its_schema_says_the_same():
    schema = build_schema(TrainingConfig, allow_null=True)
    assert schema["required"] == [] and schema["additionalProperties"] is False
    for f in dataclasses.fields(TrainingConfig):
        prop = schema["properties"][f.name]
        assert f.metadata["description"] and prop["description"] == f.metadata["description"]
        assert prop["default"] == f.default
        if f.metadata["minimum"] is not None:
            assert prop["minimum"] == f.metadata["minimum"]
    assert schema["properties"]["batch_size"]["type"] == ["integer", "null"]
    assert schema["properties"]["total_steps"]["type"] == "integer"
    assert nullable_fields(TrainingConfig) == {"batch_size", "sequence_length", "learning_rate",
                                               "actor_learning_rate", "critic_learning_rate", "device"}
    # the editor schema accepts what the class accepts, and refuses a null where the class refuses it
    validator = Draft202012Validator(schema)
    assert not list(validator.iter_errors(TrainingConfig().to_dict()))
    assert list(validator.iter_errors({"total_steps": None}))


def test_defaults_are_valid_and_round_trip():
    config = TrainingConfig()
    assert TrainingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert TrainingConfig.from_dict({"$schema": "x", "batch_size": 32}).batch_size == 32


def test_a_null_is_a_value_only_where_a_field_is_nullable():
    assert TrainingConfig.from_dict({"learning_rate": None, "device": None}).learning_rate is None
    with pytest.raises(ConfigurationError) as info:
        TrainingConfig.from_dict({"total_steps": None, "batch_size": "64"})
    problems = {p.path: p for p in info.value.problems}
    assert problems["$.total_steps"].code == "WF102"
    # a wrong value in a nullable field gets the plain type's message, not a list of types
    assert problems["$.batch_size"].message == 'batch_size must be an integer, not "64"'


@pytest.mark.parametrize("values, code, path", [
    ({"total_steps": 100, "prefill_steps": 101, "eval_interval": 50, "checkpoint_interval": 0,
      "log_interval": 10}, "WF401", "$.prefill_steps"),
    ({"total_steps": 100, "prefill_steps": 0, "eval_interval": 101, "checkpoint_interval": 0,
      "log_interval": 10}, "WF402", "$.eval_interval"),
    ({"total_steps": 100, "prefill_steps": 0, "eval_interval": 100, "checkpoint_interval": 200,
      "log_interval": 10}, "WF403", "$.checkpoint_interval"),
    ({"total_steps": 100, "prefill_steps": 0, "eval_interval": 100, "checkpoint_interval": 0,
      "log_interval": 101}, "WF404", "$.log_interval"),
    ({"batch_size": 16, "sequence_length": 64, "replay_size": 1023}, "WF405", "$.replay_size"),
])
def test_each_rule_has_its_code_and_path(values, code, path):
    with pytest.raises(ConfigurationError) as info:
        TrainingConfig(**values)
    assert [(p.code, p.path) for p in info.value.problems] == [(code, path)]


def test_the_rules_stop_at_their_boundaries():
    # equal is fine: prefill == total, every interval == total, a batch that exactly fills the buffer
    TrainingConfig(total_steps=100, prefill_steps=100, eval_interval=100, checkpoint_interval=100, log_interval=100,
                   batch_size=10, sequence_length=10, replay_size=100)
    # no evaluation: its interval does not matter; checkpoint 0: only the final one
    TrainingConfig(total_steps=100, prefill_steps=0, eval_interval=1000, eval_episodes=0, checkpoint_interval=0,
                   log_interval=10)
    # a null batch size is the model's: only a run (which knows the model) can check it
    assert "WF405" not in _codes({"sequence_length": 64, "replay_size": 10})


def test_resolved_fills_the_nulls_from_the_model():
    training = TrainingConfig(batch_size=None, sequence_length=None)
    assert training.resolved("dreamer", {})["batch_size"] == 16
    assert training.resolved("dreamer", {})["sequence_length"] == 64
    assert training.resolved("tdmpc2", {"horizon": 5})["sequence_length"] == 6
    assert TrainingConfig(batch_size=8).resolved("tdmpc2", {"horizon": 3})["batch_size"] == 8


# ---------------------------------------------------------------------------------- hints that are valid

FIX = re.compile(r"set (\w+) to (null|-?[0-9][0-9.e+-]*)")


def _fixes(hint: str) -> list[tuple[str, object]]:
    """Every ``set FIELD to VALUE`` of a hint (its alternatives), the values as JSON."""
    return [(name, json.loads(raw)) for name, raw in FIX.findall(hint)]


_INTERVAL = st.integers(min_value=0, max_value=MAX_STEPS)
_values = st.fixed_dictionaries({
    "total_steps": st.integers(min_value=1, max_value=MAX_STEPS),
    "prefill_steps": _INTERVAL,
    "eval_interval": st.integers(min_value=1, max_value=MAX_STEPS),
    "eval_episodes": st.integers(min_value=0, max_value=20),
    "checkpoint_interval": _INTERVAL,
    "log_interval": st.integers(min_value=1, max_value=MAX_STEPS),
    "batch_size": st.none() | st.integers(min_value=1, max_value=1 << 16),
    "sequence_length": st.none() | st.integers(min_value=1, max_value=1 << 16),
    "replay_size": st.integers(min_value=1, max_value=1 << 34),
})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(_values.filter(lambda v: bool(_codes(v))))
def test_every_hint_of_an_invalid_config_suggests_valid_values_that_fix_it(values):
    problems = errors_of(check_values(values, TrainingConfig))
    assert {p.code for p in problems} <= RULE_CODES  # drawn within the schema: only the rules object
    for problem in problems:
        options = _fixes(problem.hint)
        assert options, problem.hint
        for name, value in options:
            fixed = {**values, name: value}
            left = errors_of(check_values(fixed, TrainingConfig))
            assert not [p for p in left if p.code.startswith("WF1")], (problem, name, value, left)
            assert problem.code not in {p.code for p in left}, (problem, name, value, left)
    # applying the first fix of every problem, again while any is left, ends in a valid config
    current = dict(values)
    for _ in range(len(RULE_CODES) + 1):
        left = errors_of(check_values(current, TrainingConfig))
        if not left:
            break
        for problem in left:
            name, value = _fixes(problem.hint)[0]
            current[name] = value
    assert TrainingConfig.from_dict(current).total_steps >= 1
