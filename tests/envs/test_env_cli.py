"""`worldflux new --env` and `worldflux validate --env` on real environments, and headless rendering set-up."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import EXAMPLES, ROOT
from worldflux_cli.envs import env_spec, libraries


def test_new_with_env_writes_a_run_shaped_by_the_environment(cli, tmp_path):
    out = tmp_path / "run.json"
    result = cli("new", "--model", "tdmpc2", "--size", "5m", "--env", "dmc:walker-walk", "-o", str(out))
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())
    spec = env_spec("dmc:walker-walk")
    assert run["run"] == 1 and run["$schema"].endswith("run.schema.json")
    assert {k: run["model"][k] for k in ("obs_shape", "action_dim", "action_type")} == spec.model_fields()
    assert run["model"]["model_name"] == "5m"  # shapes are not what a preset's name promises
    assert run["env"] == {"id": "dmc:walker-walk", "obs": "state", "image_size": 64, "action_repeat": 2,
                          "episode_length": spec.episode_length}
    schema = json.loads((ROOT / "schemas" / "run.schema.json").read_text())
    assert not list(Draft202012Validator(schema).iter_errors(run))  # editors accept what the tool writes
    assert cli("validate", str(out), "--env", "run").exit_code == 0


def test_new_with_pixels_and_training_sets(cli):
    result = cli("new", "-m", "dreamer", "-s", "size12m", "--env", "dmc:cartpole-balance?obs=pixels&action_repeat=4",
                 "--set", "training.batch_size=32", "--set", "training.device=null", "--set", "gru_blocks=4")
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert run["model"]["obs_shape"] == [3, 64, 64] and run["model"]["action_type"] == "continuous"
    assert run["env"]["episode_length"] == 250 and run["training"]["batch_size"] == 32
    assert run["training"]["device"] is None and run["model"]["gru_blocks"] == 4


def test_new_refuses_a_model_that_cannot_act_in_the_env(cli, tmp_path):
    out = tmp_path / "run.json"
    result = cli("new", "-m", "tdmpc2", "-s", "5m", "--env", "gym:CartPole-v1", "-o", str(out))
    assert result.exit_code == 1 and "WF213" in result.output and "dreamer" in result.output
    assert not out.exists()
    result = cli("new", "-m", "tdmpc2", "-s", "5m", "--env", "dmc:walker-wlak", "-o", str(out))
    assert result.exit_code == 2 and "did you mean 'dmc:walker-walk'" in result.output and not out.exists()




def test_new_names_a_training_field_a_short_run_must_change(cli, tmp_path):
    """A short run whose default checkpoint interval is past its end is refused with the field to --set."""
    out = tmp_path / "run.json"
    result = cli("new", "-m", "tdmpc2", "-s", "tiny", "--env", "dmc:cartpole-balance",
                 "--set", "training.total_steps=20000", "-o", str(out))
    assert result.exit_code == 1 and "WF403" in result.output and "checkpoint_interval" in result.output
    assert "training.*" in result.output and not out.exists()
    result = cli("new", "-m", "tdmpc2", "-s", "tiny", "--env", "dmc:cartpole-balance", "--set",
                 "training.total_steps=20000", "--set", "training.checkpoint_interval=10000", "-o", str(out))
    assert result.exit_code == 0, result.output
def _apply(values: dict, hint: str) -> dict:
    name, raw = re.fullmatch(r"set (\w+) to (.+)", hint).groups()
    return {**values, name: json.loads(raw.replace("'", '"'))}


@pytest.mark.parametrize("env", ["dmc:walker-walk", "dmc:cartpole-balance?obs=pixels", "gym:Pendulum-v1",
                                 "gym:CartPole-v1"])
def test_validate_env_names_the_right_values_and_they_fit(env, cli, tmp_path):
    config = tmp_path / "c.json"
    values = {"model_type": "dreamer", "obs_shape": [7], "action_dim": 9, "action_type": "discrete"}
    config.write_text(json.dumps(values))
    result = cli("validate", str(config), "--env", env, "--format", "json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["files"][0]["problems"]
    spec = env_spec(env)
    expected = {"WF430", "WF431"} | ({"WF432"} if spec.action_type == "continuous" else set())
    assert {p["code"] for p in problems} == expected
    for p in problems:  # each hint names the environment's value; applying them all makes the config fit
        values = _apply(values, p["hint"])
    config.write_text(json.dumps(values))
    assert cli("validate", str(config), "--env", env).exit_code == 0
    assert {k: values[k] for k in ("obs_shape", "action_dim", "action_type")} == spec.model_fields()


def test_validate_env_run_checks_each_run_against_its_own_env(cli, tmp_path):
    walker = EXAMPLES / "valid" / "run-tdmpc2-walker.json"
    assert cli("validate", str(walker), "--env", "run").exit_code == 0
    doc = json.loads(walker.read_text())
    other = tmp_path / "run.json"
    other.write_text(json.dumps({**doc, "env": "dmc:cheetah-run"}))
    result = cli("validate", str(other), "--env", "run", "--format", "json")
    problems = json.loads(result.stdout)["files"][0]["problems"]
    assert result.exit_code == 1 and [(p["code"], p["path"]) for p in problems] == [("WF430", "$.model.obs_shape")]
    assert problems[0]["hint"] == f"set obs_shape to {list(env_spec('dmc:cheetah-run').obs_shape)}"
    other.write_text(json.dumps({**doc, "env": {"id": "dmc:walker-wlak"}}))
    result = cli("validate", str(other), "--env", "run", "--format", "json")
    problems = json.loads(result.stdout)["files"][0]["problems"]
    assert [(p["code"], p["path"], p["hint"]) for p in problems] == [("WF433", "$.env.id", "use dmc:walker-walk")]
    model = EXAMPLES / "valid" / "tdmpc2-vector.json"
    result = cli("validate", str(model), "--env", "run")
    assert result.exit_code == 1 and "WF434" in result.output


def test_mujoco_gl_is_chosen_before_mujoco_is_imported_unless_the_user_chose(monkeypatch):
    monkeypatch.delitem(sys.modules, "mujoco", raising=False)
    found = {"EGL": "libEGL.so.1", "OSMesa": None}
    monkeypatch.setattr(libraries.ctypes.util, "find_library", lambda name: found.get(name))
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    assert libraries.configure_mujoco_gl() == "egl" and os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.delenv("MUJOCO_GL")
    found.update(EGL=None, OSMesa="libOSMesa.so.8")
    assert libraries.configure_mujoco_gl() == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    found.update(OSMesa=None)
    assert libraries.configure_mujoco_gl() is None and "MUJOCO_GL" not in os.environ
    monkeypatch.setenv("MUJOCO_GL", "glfw")  # the user's choice stands
    found.update(EGL="libEGL.so.1")
    assert libraries.configure_mujoco_gl() == "glfw" and os.environ["MUJOCO_GL"] == "glfw"


def test_pixels_render_headless_in_a_fresh_process_without_mujoco_gl(tmp_path):
    script = ("import os; from worldflux_cli.envs import make_env\n"
              "env = make_env('dmc:cartpole-balance?obs=pixels&image_size=16', seed=0)\n"
              "print(os.environ['MUJOCO_GL'], env.reset().std() > 0)")
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY")}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**env, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() in (["egl", "True"], ["osmesa", "True"])
