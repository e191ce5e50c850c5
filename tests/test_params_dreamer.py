"""The torch-free DreamerV3 count equals the built model's count exactly; presets are honest."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from worldflux_cli.config.dreamer import DreamerV3Config
from worldflux_cli.config.presets import presets_of
from worldflux_cli.params.dreamer import count

PRESETS = sorted(presets_of("dreamer"))
COMPONENTS = ["encoder", "rssm", "decoder", "reward", "continue", "actor", "critic"]


def _meta_counts(config):
    torch = pytest.importorskip("torch")
    from worldflux_cli.models import build_model

    model = build_model(config, device="meta")
    assert all(p.device == torch.device("meta") for p in model.parameters())
    return model.component_params(), model.frozen_params()


def random_config(rng: random.Random) -> DreamerV3Config:
    """A small valid DreamerV3 config: images or vectors, either action type, varied knobs."""
    stages = rng.randint(1, 4)
    kw = {}
    if rng.random() < 0.6:
        scale = 2**stages
        kw["obs_shape"] = (rng.randint(1, 4), scale * rng.randint(1, 3), scale * rng.randint(1, 3))
        kw["cnn_kernels"] = tuple(rng.randint(1, 6) for _ in range(stages))
        kw["cnn_multipliers"] = tuple(rng.randint(1, 4) for _ in range(stages))
        kw["cnn_depth"] = rng.randint(1, 6)
        if rng.random() < 0.3:
            kw["encoder_type"] = kw["decoder_type"] = "cnn"
    else:
        kw["obs_shape"] = (rng.randint(1, 20),)
        if rng.random() < 0.3:
            kw["encoder_type"] = "mlp"
    blocks = rng.randint(1, 8)
    deter = blocks * rng.randint(1, 6)
    if "cnn_depth" in kw:  # the decoder's blocks divide deter and the last stage's channels
        last = kw["cnn_depth"] * kw["cnn_multipliers"][-1]
        kw["decoder_blocks"] = rng.choice([d for d in range(1, last + 1) if deter % d == 0 and last % d == 0])
        kw["cnn_strided"] = rng.random() < 0.5
    return DreamerV3Config(
        action_type=rng.choice(["discrete", "continuous"]),
        action_dim=rng.randint(1, 6),
        deter_dim=deter,
        gru_blocks=blocks,
        hidden_dim=rng.randint(1, 24),
        stoch_discrete=rng.randint(1, 6),
        stoch_classes=rng.randint(2, 7),
        mlp_units=rng.randint(1, 24),
        mlp_layers=rng.randint(1, 3),
        head_layers=rng.randint(1, 3),
        reward_num_bins=rng.randint(2, 40),
        **kw,
    )


@pytest.mark.parametrize("name", PRESETS)
def test_preset_count_equals_model(name):
    config = DreamerV3Config.from_size(name)
    trainable, frozen = count(config)
    assert list(trainable) == COMPONENTS
    assert (trainable, frozen) == _meta_counts(config)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_within_ten_percent_of_its_name(name):
    preset = presets_of("dreamer")[name]
    assert preset.nominal_params, f"{name} has no nominal size"
    trainable, frozen = count(DreamerV3Config.from_size(name))
    total = sum(trainable.values())
    assert abs(total - preset.nominal_params) <= 0.10 * preset.nominal_params, (name, total)
    assert frozen["slow_critic"] == trainable["critic"]


def test_preset_notes_are_written():
    for name, preset in presets_of("dreamer").items():
        assert preset.note and "UNCALIBRATED" not in preset.note, name


def test_random_configs_count_equals_model():
    rng = random.Random(20240607)
    seen = set()
    for _ in range(200):
        config = random_config(rng)
        seen.add((config.resolved_encoder(), config.action_type))
        assert count(config) == _meta_counts(config), config.to_dict()
    assert seen == {(e, a) for e in ("cnn", "mlp") for a in ("discrete", "continuous")}


def test_official_size12m_reference_count():
    """The official size12m (32x16 latents, 8 blocks, depth 16, units 256) at 3x64x64, 4 actions:
    10.49M trainable, split as in the official code."""
    config = DreamerV3Config(obs_shape=(3, 64, 64), action_dim=4, action_type="discrete", deter_dim=2048,
                             hidden_dim=256, stoch_discrete=32, stoch_classes=16, gru_blocks=8, mlp_units=256,
                             cnn_depth=16)
    trainable, frozen = count(config)
    millions = {k: round(v / 1e6, 2) for k, v in trainable.items()}
    assert millions == {"encoder": 0.22, "rssm": 5.98, "decoder": 1.27, "reward": 0.72, "continue": 0.66,
                        "actor": 0.79, "critic": 0.85}
    assert round(sum(trainable.values()) / 1e6, 2) == 10.49
    assert round(frozen["slow_critic"] / 1e6, 2) == 0.85


def test_count_does_not_import_torch():
    code = ("import sys; from worldflux_cli.config.dreamer import DreamerV3Config; "
            "from worldflux_cli.params.dreamer import count; count(DreamerV3Config()); "
            "count(DreamerV3Config(obs_shape=(5,))); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
