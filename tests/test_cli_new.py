"""`worldflux new`: presets to files, overrides, renaming, refusal to overwrite."""

from __future__ import annotations

import json

from worldflux_cli.validation.validate import validate_bytes


def test_new_to_stdout_is_a_valid_preset_config(cli):
    result = cli("new", "--model", "dreamer", "--size", "size50m")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["$schema"].startswith("file://") and data["$schema"].endswith("dreamer.schema.json")
    assert (data["model_name"], data["deter_dim"], data["hidden_dim"], data["stoch_dim"]) == ("size50m", 4096, 640,
                                                                                              1024)
    assert validate_bytes(result.stdout.encode(), "x").problems == []
    assert "trainable parameters" in result.stderr


def test_new_writes_file_atomically_and_refuses_to_overwrite(cli, tmp_path):
    out = tmp_path / "c.json"
    assert cli("new", "-m", "tdmpc2", "-s", "5m", "-o", str(out)).exit_code == 0
    first = out.read_text()
    again = cli("new", "-m", "tdmpc2", "-s", "19m", "-o", str(out))
    assert again.exit_code == 2 and "--force" in again.stderr
    assert out.read_text() == first
    assert cli("new", "-m", "tdmpc2", "-s", "19m", "-o", str(out), "--force").exit_code == 0
    assert json.loads(out.read_text())["model_name"] == "19m"
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]  # no temp files left


def test_aliases_and_suggestions(cli):
    assert json.loads(cli("new", "-m", "dreamerv3", "-s", "tiny").stdout)["model_type"] == "dreamer"
    assert json.loads(cli("new", "-m", "tdmpc", "-s", "tiny").stdout)["model_type"] == "tdmpc2"
    bad = cli("new", "-m", "dremer", "-s", "tiny")
    assert bad.exit_code == 2 and "did you mean 'dreamer'" in bad.stderr
    bad = cli("new", "-m", "dreamer", "-s", "size50")
    assert bad.exit_code == 2 and "did you mean 'size50m'" in bad.stderr


def test_overrides_are_typed_and_shapes_keep_the_name(cli):
    result = cli("new", "-m", "tdmpc2", "-s", "5m", "--obs-shape", "24", "--action-dim", "4",
                 "--set", "horizon=5", "--set", "temperature=0.25", "--set", "use_decoder=false")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["obs_shape"] == [24] and data["action_dim"] == 4 and data["model_name"] == "5m"
    assert data["horizon"] == 5 and data["temperature"] == 0.25 and data["use_decoder"] is False
    nested = json.loads(cli("new", "-m", "dreamer", "-s", "tiny", "--set", "loss_scales.kl=0.5").stdout)
    assert nested["loss_scales"] == {"kl": 0.5}  # the other terms: the variant's weights
    merged = json.loads(cli("new", "-m", "dreamer", "-s", "tiny", "--set", "loss_scales.kl=0.5",
                            "--set", "loss_scales.reward=2").stdout)
    assert merged["loss_scales"] == {"kl": 0.5, "reward": 2.0}


def test_changing_dims_renames_and_says_so(cli):
    result = cli("new", "-m", "dreamer", "-s", "size12m", "--set", "deter_dim=1024")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["model_name"] == "size12m-custom" and data["latent_dim"] == 1024 + data["stoch_dim"]
    assert "renamed to 'size12m-custom'" in result.stderr and "deter_dim" in result.stderr


def test_invalid_overrides_write_nothing(cli, tmp_path):
    out = tmp_path / "c.json"
    bad = cli("new", "-m", "tdmpc2", "-s", "5m", "--set", "latent_dim=100", "-o", str(out))
    assert bad.exit_code == 1 and "WF210" in bad.stderr and not out.exists()
    for args in (["--set", "nope=1"], ["--set", "horizon=abc"], ["--set", "horizon"], ["--obs-shape", "a,b"]):
        r = cli("new", "-m", "tdmpc2", "-s", "5m", *args)
        assert r.exit_code in (1, 2) and r.stdout == "" and "error" in r.stderr, args
    assert "did you mean 'horizon'" in cli("new", "-m", "tdmpc2", "-s", "5m", "--set", "horizn=3").stderr
    discrete = cli("new", "-m", "tdmpc2", "-s", "5m", "--action-type", "discrete")
    assert discrete.exit_code == 1 and "WF213" in discrete.stderr


def test_missing_output_folder(cli, tmp_path):
    r = cli("new", "-m", "dreamer", "-s", "tiny", "-o", str(tmp_path / "no" / "c.json"))
    assert r.exit_code == 2 and "does not exist" in r.stderr
