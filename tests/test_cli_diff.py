"""`worldflux diff`: comparison after defaults, by path, with exit codes."""

from __future__ import annotations

import json


def test_equal_after_defaults(cli, tmp_path):
    f = tmp_path / "a.json"
    preset = json.loads(cli("presets", "--format", "json").stdout)["presets"]
    tiny = next(p for p in preset if p["id"] == "dreamer:tiny")
    f.write_text(json.dumps({"model_type": "dreamer", "model_name": "tiny", **tiny["reference"], **tiny["dims"],
                             **tiny["knobs"]}))
    result = cli("diff", str(f), "dreamer:tiny")
    assert result.exit_code == 0, result.output
    assert "equal" in result.stdout


def test_changed_fields_by_path_and_param_delta(cli):
    result = cli("diff", "dreamer:size25m", "dreamer:size50m", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    changes = {c["path"]: c for c in data["changes"]}
    assert changes["$.model_name"] == {"path": "$.model_name", "kind": "changed", "a": "size25m", "b": "size50m"}
    assert changes["$.stoch_classes"]["a"] == 16 and changes["$.stoch_classes"]["b"] == 32
    assert data["params"]["delta"] == data["params"]["b"] - data["params"]["a"] > 0
    text = cli("diff", "dreamer:size25m", "dreamer:size50m").stdout
    assert "~ $.stoch_classes: 16 -> 32" in text and "trainable parameters:" in text


def test_nested_and_cross_family(cli, tmp_path):
    f = tmp_path / "a.json"
    f.write_text('{"model_type": "dreamer", "loss_scales": {"reconstruction": 1, "reward": 1, "continue": 1, '
                 '"kl": 0.3}}')
    g = tmp_path / "b.json"
    g.write_text('{"model_type": "dreamer"}')
    data = json.loads(cli("diff", str(f), str(g), "-f", "json").stdout)
    assert [(c["path"], c["a"], c["b"]) for c in data["changes"]] == [("$.loss_scales.kl", 0.3, 1.1)]
    h = tmp_path / "c.json"
    h.write_text('{"model_type": "dreamer", "variant": "paper2023"}')  # every field the variant changes shows
    paths = {c["path"] for c in json.loads(cli("diff", str(g), str(h), "-f", "json").stdout)["changes"]}
    assert {"$.variant", "$.loss_scales.kl", "$.loss_scales.repval", "$.learning_rate", "$.optimizer",
            "$.twohot_bins", "$.continue_discount", "$.discount", "$.grad_clip.world"} <= paths
    cross = json.loads(cli("diff", str(g), "tdmpc2:tiny", "-f", "json").stdout)
    kinds = {c["path"]: c["kind"] for c in cross["changes"]}
    assert kinds["$.model_type"] == "changed" and kinds["$.gru_blocks"] == "removed"
    assert kinds["$.simnorm_dim"] == "added"


def test_errors_exit_1_when_invalid_and_2_when_unreadable(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "tdmpc2", "latent_dim": 100}')
    r = cli("diff", str(bad), "tdmpc2:5m")
    assert r.exit_code == 1 and "WF210" in r.stderr and "not a valid config" in r.stderr
    r = cli("diff", str(tmp_path / "missing.json"), "tdmpc2:5m")
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = cli("diff", "dreamer:size51m", "tdmpc2:5m")
    assert r.exit_code == 2 and "did you mean 'size50m'" in r.stderr
