"""The torch-free TD-MPC2 parameter count equals the built model's, and the presets are honest."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from worldflux_cli.config import TDMPC2Config
from worldflux_cli.config.presets import presets_of
from worldflux_cli.params import count_params
from worldflux_cli.params.tdmpc2 import count

PRESETS = presets_of("tdmpc2")


def model_counts(config):
    from worldflux_cli.models import build_model

    model = build_model(config, device="meta")
    return model.component_params(), model.frozen_params()


def test_counting_does_not_import_torch():
    code = ("import sys; from worldflux_cli.config import TDMPC2Config; from worldflux_cli.params.tdmpc2 import count; "
            "count(TDMPC2Config.from_size('317m')); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_count_equals_model(name):
    config = TDMPC2Config.from_size(name)
    assert count(config) == model_counts(config)


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_within_ten_percent_of_its_name(name):
    preset = PRESETS[name]
    counts = count_params(TDMPC2Config.from_dict(preset.config_values()))
    assert preset.nominal_params, f"{name} has no nominal size"
    assert abs(counts.trainable / preset.nominal_params - 1) <= 0.10, (name, counts.trainable)
    assert "UNCALIBRATED" not in preset.note


def test_tiny_nominal_is_its_real_count():
    preset = PRESETS["tiny"]
    trainable = count_params(TDMPC2Config.from_size("tiny")).trainable
    assert preset.nominal_params == round(trainable, -3)


def test_official_size_5_by_hand():
    """The official TD-MPC2 size 5 (enc 256 x 2, mlp 512, latent 512, 5 Qs, 101 bins; 39 obs, 6 actions).

    normed(i, o) = i*o + 3o, linear(i, o) = i*o + o:
    encoder  normed(39, 256) + normed(256, 512)                      =   143,360
    dynamics normed(518, 512) + normed(512, 512) + normed(512, 512)  =   794,112
    reward   normed(518, 512) + normed(512, 512) + linear(512, 101)  =   582,245
    policy   normed(512, 512) x 2 + linear(512, 12)                  =   533,516
    Qs       5 x 582,245                                             = 2,911,225
    """
    config = TDMPC2Config(obs_shape=(39,), action_dim=6, latent_dim=512, hidden_dim=512, encoder_dim=256,
                          num_encoder_layers=2, num_hidden_layers=2, num_q_networks=5)
    parts, frozen = count(config)
    assert parts == {"encoder": 143_360, "dynamics": 794_112, "reward": 582_245, "policy": 533_516,
                     "q_ensemble": 2_911_225}
    assert sum(parts.values()) == 4_964_458 and frozen == {"target_qs": 2_911_225}


def _random_config(rng: random.Random) -> TDMPC2Config:
    group = rng.choice([1, 2, 4, 8])
    if rng.random() < 0.4:
        obs_shape = (rng.randint(1, 4), 8 * rng.randint(1, 5), 8 * rng.randint(1, 5))
    else:
        obs_shape = (rng.randint(1, 64),)
    return TDMPC2Config(
        obs_shape=obs_shape,
        action_dim=rng.randint(1, 9),
        simnorm_dim=group,
        latent_dim=group * rng.randint(1, 8),
        hidden_dim=rng.randint(1, 40),
        num_hidden_layers=rng.randint(1, 4),
        encoder_dim=rng.randint(1, 40),
        num_encoder_layers=rng.randint(1, 4),
        cnn_channels=rng.randint(1, 8),
        num_tasks=rng.choice([1, 1, rng.randint(2, 6)]),
        task_dim=rng.randint(1, 12),
        num_q_networks=rng.randint(2, 7),
        num_bins=rng.randint(2, 64),
        use_decoder=rng.random() < 0.5,
    )


def test_random_configs_count_equals_model():
    rng = random.Random(20240611)
    seen = set()
    for _ in range(200):
        config = _random_config(rng)
        parts, frozen = count(config)
        assert (parts, frozen) == model_counts(config), config
        seen.add((len(config.obs_shape), config.num_tasks > 1, config.use_decoder))
    assert len(seen) == 8  # vector/image x single/multi-task x decoder or not
