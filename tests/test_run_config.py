"""Run files: one document with env, model and training sections, checked as a whole, once per construction."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest

from tests.conftest import EXAMPLES
from worldflux_cli.config import ConfigurationError, DreamerV3Config, TDMPC2Config
from worldflux_cli.config.env import EnvConfig
from worldflux_cli.config.run import RunConfig
from worldflux_cli.config.training import TrainingConfig
from worldflux_cli.validation.validate import validate_bytes

WALKER = EXAMPLES / "valid" / "run-tdmpc2-walker.json"


# ---------------------------------------------------------------------------------- one check per construction


@pytest.fixture
def checks(monkeypatch):
    """The runs of the one validity check (by section family) and of the run's rules between sections."""
    import worldflux_cli.config.check as check
    import worldflux_cli.config.run as run

    calls: list[str] = []
    real_check, real_rules = check.check_values, run.run_rule_problems

    def counting(values, cls):
        calls.append(cls.family)
        return real_check(values, cls)

    def counting_rules(*args):
        calls.append("run rules")
        return real_rules(*args)

    monkeypatch.setattr(check, "check_values", counting)
    monkeypatch.setattr(run, "run_rule_problems", counting_rules)
    return calls


def _constructions(tmp_path):
    (tmp_path / "run.json").write_text(WALKER.read_text())
    made = TrainingConfig(batch_size=32)
    model, env = TDMPC2Config(obs_shape=(24,)), EnvConfig(id="dmc:walker-walk")
    doc = json.loads(WALKER.read_text())
    return {
        "training constructor": (lambda: TrainingConfig(batch_size=32), ["training"]),
        "training from_dict": (lambda: TrainingConfig.from_dict({"batch_size": 32}), ["training"]),
        "training replace": (lambda: dataclasses.replace(made, total_steps=10_000, eval_interval=1000,
                                                         checkpoint_interval=0, log_interval=100), ["training"]),
        "training from_checked": (lambda: TrainingConfig.from_checked({"batch_size": 32}), []),
        "env constructor": (lambda: EnvConfig(id="gym:Pendulum-v1"), ["env"]),
        "env from_ref": (lambda: EnvConfig.from_ref("dmc:cartpole-balance?obs=pixels"), ["env"]),
        "run constructor": (lambda: RunConfig(model=model, env=env, training=made), ["run rules"]),
        "run from_dict": (lambda: RunConfig.from_dict(doc), ["tdmpc2", "env", "training", "run rules"]),
        "run load": (lambda: RunConfig.load(tmp_path / "run.json"), ["tdmpc2", "env", "training", "run rules"]),
        "run validate": (lambda: validate_bytes(WALKER.read_bytes(), "run.json").run,
                         ["tdmpc2", "env", "training", "run rules"]),
    }


@pytest.mark.parametrize("way", ["training constructor", "training from_dict", "training replace",
                                 "training from_checked", "env constructor", "env from_ref", "run constructor",
                                 "run from_dict", "run load", "run validate"])
def test_each_section_is_checked_once_per_construction(way, checks, tmp_path):
    build, expected = _constructions(tmp_path)[way]
    checks.clear()
    made = build()
    assert made is not None
    assert sorted(checks) == sorted(expected), (way, checks)


def test_an_invalid_training_config_is_refused_by_that_one_check(checks):
    with pytest.raises(ConfigurationError) as info:
        TrainingConfig(total_steps=10)
    assert checks == ["training"] and {p.code for p in info.value.problems} == {"WF401", "WF402", "WF403", "WF404"}


# ---------------------------------------------------------------------------------- the run file


def test_a_run_round_trips_and_resolves_its_nulls_from_the_model():
    run = RunConfig.load(WALKER)
    assert isinstance(run.model, TDMPC2Config) and run.env.id == "dmc:walker-walk"
    assert RunConfig.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    resolved = run.resolved_training()
    assert resolved["batch_size"] == 256 and resolved["sequence_length"] == run.model.horizon + 1
    assert resolved["learning_rate"] == run.model.learning_rate and resolved["device"] == run.model.device


def test_model_by_preset_id_and_env_as_one_string():
    run = RunConfig.from_dict({"env": "dmc:cartpole-balance?obs=pixels&action_repeat=4", "model": "dreamer:size12m"})
    assert run.env == EnvConfig(id="dmc:cartpole-balance", obs="pixels", action_repeat=4)
    assert run.model == DreamerV3Config.from_size("size12m")
    assert run.training == TrainingConfig()


def test_model_by_path_is_read_relative_to_the_run_file(tmp_path, monkeypatch):
    (tmp_path / "models").mkdir()
    TDMPC2Config.from_size("5m", obs_shape=(24,)).save(tmp_path / "models" / "m.json")
    (tmp_path / "run.json").write_text(json.dumps({"env": "dmc:walker-walk", "model": "models/m.json"}))
    monkeypatch.chdir(tmp_path / "models")  # not the current folder: the run file's
    assert RunConfig.load(tmp_path / "run.json").model.obs_shape == (24,)


def _problems(doc, base_dir=None) -> dict[str, tuple[str, str]]:
    report = validate_bytes(json.dumps(doc, indent=1), "run.json", base_dir=base_dir)
    return {p.path: (p.code, p.message) for p in report.problems}


def test_a_referenced_model_file_is_reported_at_model_with_its_own_paths(tmp_path):
    (tmp_path / "bad.json").write_text('{"model_type": "tdmpc2", "latent_dim": 100}')
    (tmp_path / "run.json").write_text('{"model_type": "tdmpc2"}')
    (tmp_path / "a-run.json").write_text(json.dumps({"env": "dmc:walker-walk", "model": "tdmpc2:5m"}))
    (tmp_path / "broken.json").write_text('{"model_type": ')
    cases = {"bad.json": ("WF210", "bad.json: $.latent_dim: latent_dim = 100"),
             "a-run.json": ("WF440", "is not a model config (it is a run file)"),
             "broken.json": ("WF440", "could not be read"),
             "missing.json": ("WF440", "is neither a preset id nor a file")}
    for ref, (code, text) in cases.items():
        found = _problems({"env": "dmc:walker-walk", "model": ref}, tmp_path)
        assert list(found) == ["$.model"] and found["$.model"][0] == code and text in found["$.model"][1], found
    # without a folder to read from (a run from the Hub), a path is refused, a preset id is not
    assert _problems({"env": "dmc:walker-walk", "model": "bad.json"})["$.model"][0] == "WF440"
    assert _problems({"env": "dmc:walker-walk", "model": "tdmpc2:5m"}) == {}


def test_problems_in_sections_have_their_paths_and_positions():
    text = EXAMPLES.joinpath("invalid", "WF102+WF104-run-types.json").read_text()
    report = validate_bytes(text, "x.json")
    lines = text.splitlines()
    for problem in report.problems:
        key = problem.path.rsplit(".", 1)[-1]
        line = lines[problem.line - 1]
        # the caret is on the value of the key the path names
        assert line[:problem.column - 1].rstrip().endswith(f'"{key}":'), (problem, line)
    assert {p.path for p in report.problems} == {"$.run", "$.training.batch_size"}


def test_run_rules_between_model_and_training():
    tdmpc2 = {"env": "dmc:walker-walk", "model": {"model_type": "tdmpc2", "horizon": 5}}
    assert _problems({**tdmpc2, "training": {"sequence_length": 6}}) == {}
    assert _problems({**tdmpc2, "training": {"sequence_length": 7}})["$.training.sequence_length"][0] == "WF410"
    found = _problems({**tdmpc2, "training": {"critic_learning_rate": 1e-4}})
    assert found["$.training.critic_learning_rate"][0] == "WF411"
    dreamer = {"env": "dmc:walker-walk", "model": "dreamer:tiny"}
    assert _problems({**dreamer, "training": {"actor_learning_rate": 1e-4}}) == {}
    # the model's batch (16 x 64 for DreamerV3) must fit the buffer, nulls resolved
    assert _problems({**dreamer, "training": {"replay_size": 1024}}) == {}
    code, message = _problems({**dreamer, "training": {"replay_size": 1023}})["$.training.replay_size"]
    assert code == "WF405" and "16 x 64" in message


def test_a_run_refuses_what_is_not_a_run(capsys):
    with pytest.raises(ConfigurationError):
        RunConfig.from_dict([1, 2])
    with pytest.raises(ConfigurationError) as info:
        RunConfig.from_dict({"env": "dmc:walker-walk", "model": {"model_type": "base"}})
    assert [p.code for p in info.value.problems] == ["WF412"]
    with pytest.raises(ConfigurationError) as info:
        RunConfig(model=TDMPC2Config(horizon=3), env=EnvConfig(id="dmc:walker-walk"),
                  training=TrainingConfig(sequence_length=10))
    assert [p.code for p in info.value.problems] == ["WF410"]


# ---------------------------------------------------------------------------------- the commands


def test_validate_a_run_file_json_paths(cli):
    bad = EXAMPLES / "invalid" / "WF401+WF402+WF403+WF404-run-intervals.json"
    result = cli("validate", "--format", "json", str(bad), str(WALKER))
    assert result.exit_code == 1
    files = json.loads(result.stdout)["files"]
    assert {p["path"] for p in files[0]["problems"]} == {"$.training.prefill_steps", "$.training.eval_interval",
                                                        "$.training.checkpoint_interval", "$.training.log_interval"}
    assert files[1]["valid"] and files[1]["model_type"] == "tdmpc2" and files[1]["params"] > 0


def test_diff_two_runs_compares_every_section(cli, tmp_path):
    doc = json.loads(WALKER.read_text())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**doc, "training": {**doc["training"], "batch_size": 64},
                                 "env": {**doc["env"], "action_repeat": 4}}))
    result = cli("diff", str(WALKER), str(other), "--format", "json")
    assert result.exit_code == 1
    paths = {c["path"] for c in json.loads(result.stdout)["changes"]}
    assert paths == {"$.training.batch_size", "$.env.action_repeat"}
    assert cli("diff", str(WALKER), str(WALKER)).exit_code == 0
    # a run against a model config: the run's model is compared
    model = tmp_path / "model.json"
    model.write_text(json.dumps(doc["model"]))
    result = cli("diff", str(WALKER), str(model))
    assert result.exit_code == 0 and "comparing the model of run file" in result.output


def test_new_without_env_still_writes_a_model_config(cli, tmp_path):
    out = tmp_path / "m.json"
    assert cli("new", "-m", "tdmpc2", "-s", "5m", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["model_type"] == "tdmpc2"


def test_env_commands_without_the_extra_say_what_to_install(cli, tmp_path, monkeypatch):
    for name in ("dm_control", "dm_control.suite", "gymnasium"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed: importing them fails
    out = tmp_path / "run.json"
    for args in (["validate", str(WALKER), "--env", "dmc:walker-walk"], ["validate", str(WALKER), "--env", "run"],
                 ["validate", str(WALKER), "--env", "gym:Pendulum-v1"],
                 ["new", "-m", "tdmpc2", "-s", "5m", "--env", "dmc:walker-walk", "-o", str(out)]):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert 'pip install "worldflux[envs]"' in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_bad_env_ids_on_the_command_line_are_usage_errors(cli):
    for env, text in (("dmx:walker-walk", "did you mean 'dmc:walker-walk'"), ("walker-walk", "no suite"),
                      ("dmc:walker-walk?obs=pixel", "must be one of"), ("dmc:walker-walk?repeat=2", "not one of")):
        result = cli("validate", str(WALKER), "--env", env)
        assert result.exit_code == 2 and text in result.output, (env, result.output)
        result = cli("new", "-m", "tdmpc2", "-s", "5m", "--env", env)
        assert result.exit_code == 2 and "Traceback" not in result.output, (env, result.output)
