"""`worldflux presets` and `worldflux schema`, and the committed schema files."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from worldflux_cli.config.documents import SCHEMAS, render_document_schema
from worldflux_cli.config.registry import FAMILIES
from worldflux_cli.config.schema import build_schema, committed_schema_path, render_schema


def test_presets_json_lists_every_preset_with_dims(cli):
    data = json.loads(cli("presets", "--format", "json").stdout)["presets"]
    ids = {p["id"] for p in data}
    assert {"dreamer:size12m", "dreamer:size200m", "dreamer:tiny", "tdmpc2:5m", "tdmpc2:317m", "tdmpc2:tiny"} <= ids
    s50 = next(p for p in data if p["id"] == "dreamer:size50m")
    assert s50["nominal_params"] == 50_000_000 and s50["dims"]["deter_dim"] == 4096
    assert s50["reference"] == {"obs_shape": [3, 64, 64], "action_dim": 4, "action_type": "discrete"}
    t = json.loads(cli("presets", "-m", "tdmpc", "--format", "json").stdout)["presets"]
    assert {p["family"] for p in t} == {"tdmpc2"}


def test_presets_table(cli):
    out = cli("presets").stdout
    assert "dreamer:size50m" in out and "50.00M" in out and "tdmpc2:317m" in out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_committed_schemas_match_the_classes(family):
    path = committed_schema_path(family)
    assert path.read_text(encoding="utf-8") == render_schema(FAMILIES[family]), \
        f"{path} is stale: run `worldflux schema --write`"


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_every_committed_schema_matches_its_classes_run_file_and_sections_too(name):
    path = committed_schema_path(name)
    assert path.read_text(encoding="utf-8") == render_document_schema(name), \
        f"{path} is stale: run `worldflux schema --write`"
    Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))
    assert {"training", "env", "run"} <= set(SCHEMAS)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_schemas_are_valid_draft_2020_12_and_strict(family):
    schema = build_schema(FAMILIES[family])
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False and "$schema" in schema["properties"]
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
    v = Draft202012Validator(schema)
    assert list(v.iter_errors({"model_type": family, "$schema": "x"})) == []
    assert list(v.iter_errors({"model_type": family, "surprise": 1}))


def test_schema_command(cli, tmp_path):
    out = cli("schema", "tdmpc2")
    assert out.exit_code == 0 and json.loads(out.stdout)["title"] == "worldflux TD-MPC2 config"
    assert set(json.loads(cli("schema").stdout)) == set(SCHEMAS) == set(FAMILIES) | {"training", "env", "run"}
    assert json.loads(cli("schema", "training").stdout)["title"] == "worldflux training config"
    assert json.loads(cli("schema", "run").stdout)["required"] == ["model", "env"]
    assert cli("schema", "--check").exit_code == 0
    assert cli("schema", "nope").exit_code == 2
