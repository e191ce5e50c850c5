"""The config API of the seed (shared/seed-config-api.md): fields, presets, dict and file round trips."""

from __future__ import annotations

import dataclasses
import json

import pytest

from worldflux_cli import (
    ConfigurationError,
    DreamerV3Config,
    DynamicsType,
    LatentType,
    TDMPC2Config,
    WorldModelConfig,
)
from worldflux_cli.config.presets import presets_of

BASE_FIELDS = {"model_type", "model_name", "obs_shape", "action_dim", "action_type", "latent_type", "latent_dim",
               "deter_dim", "stoch_dim", "dynamics_type", "hidden_dim", "learning_rate", "grad_clip", "device",
               "dtype"}
DREAMER_FIELDS = {"stoch_discrete", "stoch_classes", "encoder_type", "decoder_type", "cnn_depth", "cnn_kernels",
                  "kl_free", "kl_balance", "loss_scales", "use_symlog"}
TDMPC2_FIELDS = {"simnorm_dim", "num_hidden_layers", "task_dim", "num_tasks", "num_q_networks", "horizon",
                 "num_samples", "num_elites", "temperature", "momentum", "use_decoder"}


def test_every_seed_attribute_exists():
    assert set(WorldModelConfig.field_names()) >= BASE_FIELDS
    assert set(DreamerV3Config.field_names()) >= BASE_FIELDS | DREAMER_FIELDS
    assert set(TDMPC2Config.field_names()) >= BASE_FIELDS | TDMPC2_FIELDS


def test_seed_examples_work(tmp_path):
    config = WorldModelConfig(obs_shape=(84, 84, 3), action_dim=4)
    config.save(tmp_path / "config.json")
    loaded = WorldModelConfig.load(tmp_path / "config.json")
    assert type(loaded) is WorldModelConfig and loaded == config
    assert DreamerV3Config.from_size("size12m").deter_dim == 2048
    custom = DreamerV3Config(obs_shape=(3, 64, 64), action_dim=4, deter_dim=1024, stoch_discrete=16, stoch_classes=16)
    assert custom.stoch_dim == 256 and custom.latent_dim == 1024 + 256
    t = TDMPC2Config.from_size("5m", obs_shape=(39,), action_dim=6)
    assert (t.latent_dim, t.hidden_dim, t.obs_shape) == (256, 256, (39,))
    assert TDMPC2Config(obs_shape=(39,), action_dim=6, latent_dim=256, hidden_dim=256).deter_dim == 256


@pytest.mark.parametrize("cls", [DreamerV3Config, TDMPC2Config])
def test_every_preset_has_its_seed_dimensions(cls):
    seed = {
        "size12m": (2048, 16, 16, 256), "size25m": (4096, 32, 16, 512), "size50m": (4096, 32, 32, 640),
        "size100m": (8192, 32, 32, 768), "size200m": (8192, 32, 32, 1024),
        "5m": (256, 256), "19m": (512, 512), "48m": (512, 1024), "317m": (1024, 2048),
    }
    names = {n for n in presets_of(cls.family) if n != "tiny" and not n.startswith("official-")}
    assert names == {k for k in seed if (k.startswith("size")) == (cls is DreamerV3Config)}
    for name in names:
        c = cls.from_size(name)
        dims = (c.deter_dim, c.stoch_discrete, c.stoch_classes, c.hidden_dim) if cls is DreamerV3Config \
            else (c.latent_dim, c.hidden_dim)
        assert dims == seed[name], name
        assert c.model_name == name


@pytest.mark.parametrize("cls,size", [(c, s) for c in (DreamerV3Config, TDMPC2Config) for s in presets_of(c.family)])
def test_dict_and_file_round_trip(cls, size, tmp_path):
    config = cls.from_size(size)
    d = config.to_dict()
    assert json.loads(json.dumps(d)) == d  # JSON ready
    assert cls.from_dict(d) == config
    config.save(tmp_path / "c.json")
    loaded = WorldModelConfig.load(tmp_path / "c.json")
    assert type(loaded) is cls and loaded == config


def test_to_dict_writes_derived_fields_and_enums_as_strings():
    d = DreamerV3Config(stoch_discrete=8, stoch_classes=4, deter_dim=64, gru_blocks=4).to_dict()
    assert d["stoch_dim"] == 32 and d["latent_dim"] == 96
    assert d["latent_type"] == "categorical" and d["dynamics_type"] == "rssm"
    config = DreamerV3Config.from_dict(d)
    assert config.latent_type is LatentType.CATEGORICAL and config.dynamics_type is DynamicsType.RSSM
    assert TDMPC2Config().to_dict()["stoch_dim"] == 0


def test_derived_value_that_disagrees_is_an_error_not_recomputed():
    with pytest.raises(ConfigurationError) as info:
        DreamerV3Config.from_dict({"model_type": "dreamer", "stoch_discrete": 32, "stoch_classes": 32,
                                   "stoch_dim": 512})
    assert [p.code for p in info.value.problems] == ["WF203"]
    with pytest.raises(ConfigurationError):
        DreamerV3Config(stoch_dim=7)


def test_from_dict_reports_every_problem():
    with pytest.raises(ConfigurationError) as info:
        TDMPC2Config.from_dict({"latent_dim": 100, "horizn": 3, "num_elites": 4096, "action_type": "discrete"})
    codes = sorted(p.code for p in info.value.problems)
    assert codes == ["WF101", "WF210", "WF211", "WF213"]
    assert "did you mean 'horizon'" in info.value.problems[0].hint or any(
        "horizon" in p.hint for p in info.value.problems)


def test_load_dispatches_on_model_type_and_rejects_bad_files(tmp_path):
    (tmp_path / "t.json").write_text('{"model_type": "tdmpc2", "latent_dim": 64}')
    assert type(WorldModelConfig.load(tmp_path / "t.json")) is TDMPC2Config
    (tmp_path / "bad.json").write_text('{"model_type": "dreamer",}')
    with pytest.raises(json.JSONDecodeError):
        WorldModelConfig.load(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError):
        WorldModelConfig.load(tmp_path / "missing.json")
    (tmp_path / "dup.json").write_text('{"model_type": "dreamer", "deter_dim": 8, "deter_dim": 16}')
    with pytest.raises(ConfigurationError, match="duplicate"):
        WorldModelConfig.load(tmp_path / "dup.json")
    (tmp_path / "other.json").write_text('{"model_type": "dreamer"}')
    with pytest.raises(ConfigurationError):
        TDMPC2Config.load(tmp_path / "other.json")  # a dreamer file is not a TD-MPC2 config


def test_unknown_model_type_suggests():
    with pytest.raises(ConfigurationError, match="did you mean 'dreamer'"):
        WorldModelConfig.from_dict({"model_type": "dreamr"})


def test_from_size_unknown_raises_value_error_with_suggestion():
    with pytest.raises(ValueError, match="size50m"):
        DreamerV3Config.from_size("size50")
    with pytest.raises(ValueError):
        TDMPC2Config.from_size("size12m")


def test_from_size_overrides_and_renaming():
    assert DreamerV3Config.from_size("size50m", action_dim=18).model_name == "size50m"  # shapes are not dims
    changed = DreamerV3Config.from_size("size50m", deter_dim=2048)
    assert changed.model_name == "size50m-custom" and changed.deter_dim == 2048
    assert DreamerV3Config.from_size("size50m", deter_dim=2048, model_name="mine").model_name == "mine"
    with pytest.raises(ConfigurationError) as info:  # keeping the preset name with other dims is refused
        DreamerV3Config.from_size("size50m", deter_dim=2048, model_name="size50m")
    assert info.value.problems[0].code == "WF205"


def test_configs_are_dataclasses_with_described_fields():
    for cls in (WorldModelConfig, DreamerV3Config, TDMPC2Config):
        for f in dataclasses.fields(cls):
            assert f.metadata["description"], f"{cls.__name__}.{f.name} has no description"
