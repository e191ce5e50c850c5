"""`worldflux info`: what a preset or file builds, without building it."""

from __future__ import annotations

import json

import pytest

from worldflux_cli.config import DreamerV3Config, TDMPC2Config
from worldflux_cli.params import count_params


@pytest.mark.parametrize("ref,cls,size", [("dreamer:size200m", DreamerV3Config, "size200m"),
                                          ("tdmpc2:317m", TDMPC2Config, "317m")])
def test_info_json_for_the_largest_presets(cli, ref, cls, size):
    result = cli("info", ref, "--format", "json", "--batch", "4")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    counts = count_params(cls.from_size(size))
    assert data["preset"] == ref and data["source"] == ref
    assert data["params"]["components"] == counts.components and data["params"]["frozen"] == counts.frozen
    assert data["params"]["trainable"] == counts.trainable
    assert data["memory"]["weights_fp32_bytes"] == 4 * counts.total
    assert data["memory"]["batch"] == 4


def test_info_text_for_a_file(cli, tmp_path):
    f = tmp_path / "c[red].json"  # brackets in a name are shown as they are, not read as markup
    f.write_text('{"model_type": "dreamer", "model_name": "mine", "obs_shape": [17], "action_type": "continuous"}')
    result = cli("info", str(f))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{f}: DreamerV3 'mine'" in out and "obs 17" in out and "continuous" in out
    assert "slow_critic (EMA copy, frozen)" in out and "activations per sample" in out
    assert "preset" not in out.splitlines()[0]


def test_info_errors(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "tdmpc2", "latent_dim": 100}')
    r = cli("info", str(bad))
    assert r.exit_code == 1 and "WF210" in r.stderr
    base = tmp_path / "base.json"
    base.write_text('{"model_type": "base"}')
    r = cli("info", str(base))
    assert r.exit_code == 1 and "builds no model" in r.stderr
    assert cli("info", "dreamer:size13m").exit_code == 2
