"""`worldflux save`, save_pretrained / load_pretrained and the safetensors files they write (no Hub)."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from tests.hub.conftest import FAMILIES, one_line_error, save_tiny, tree_bytes


@pytest.mark.parametrize("family", FAMILIES)
def test_save_cli_writes_config_weights_and_card(cli, tmp_path, family):
    from worldflux_cli.config import WorldModelConfig
    from worldflux_cli.params import count_params

    out = tmp_path / "model"
    r = cli("save", f"{family}:tiny", "-o", str(out), "--seed", "3", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert sorted(data["files"]) == ["README.md", "config.json", "model.safetensors"]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left

    config = WorldModelConfig.load(out / "config.json")
    assert config.family == family and data["params"] == count_params(config).trainable
    assert cli("validate", str(out / "config.json")).exit_code == 0

    card = (out / "README.md").read_text()
    front = card.split("---")[1]
    assert "library_name: worldflux" in front
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "worldflux"
    assert {"world-model", "reinforcement-learning", family} <= set(meta["tags"])
    for tag in ("world-model", "reinforcement-learning", family):
        assert f"- {tag}\n" in front
    assert f"{count_params(config).trainable:,}" in card
    assert "| `deter_dim` |" in card and "load_pretrained" in card and "worldflux pull" in card

    # The full state_dict: trainable parameters, EMA copies and persistent buffers, in the config's dtype.
    from safetensors import safe_open

    from worldflux_cli.models import build_model

    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
        names = set(f.keys())
    assert names == set(build_model(config, device="meta").state_dict())
    frozen = {n for n, p in build_model(config, device="meta").named_parameters() if not p.requires_grad}
    assert frozen and frozen <= names


def test_save_is_deterministic_per_seed(cli, tmp_path):
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert cli("save", "tdmpc2:tiny", "-o", str(tmp_path / name), "--seed", seed).exit_code == 0
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    assert (tmp_path / "a/model.safetensors").read_bytes() != (tmp_path / "c/model.safetensors").read_bytes()


def test_safetensors_file_is_readable_by_the_library(saved):
    from safetensors.torch import load_file

    from worldflux_cli.hub.weights import read_header

    path = saved["dreamer"] / "model.safetensors"
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0 and "__metadata__" in json.loads(raw[8 : 8 + n])
    parsed = read_header(path)
    loaded = load_file(str(path))
    assert {k: tuple(v.shape) for k, v in loaded.items()} == {k: t.shape for k, t in parsed.tensors.items()}


def test_save_refuses_a_non_empty_folder_without_force(cli, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = cli("save", "tdmpc2:tiny", "-o", str(out))
    assert r.exit_code == 2 and "not empty" in one_line_error(r.stderr) and "--force" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    r = cli("save", "tdmpc2:tiny", "-o", str(out), "--force")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors", "notes.txt"]


def test_save_refuses_an_invalid_config(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model_type": "tdmpc2", "latent_dim": 63, "simnorm_dim": 8}))
    r = cli("save", str(bad), "-o", str(tmp_path / "out"))
    assert r.exit_code == 1
    assert "not a valid config" in one_line_error(r.stderr) and "WF210" in r.stderr
    assert not (tmp_path / "out").exists()
    r = cli("save", str(tmp_path / "missing.json"), "-o", str(tmp_path / "out"))
    assert r.exit_code == 2 and "no such file" in r.stderr


@pytest.mark.parametrize("family", FAMILIES)
def test_load_pretrained_from_a_folder_gives_the_saved_state(saved, family):
    from worldflux_cli.hub import load_pretrained
    from worldflux_cli.models import build_model

    model, config = load_pretrained(saved[family])
    assert config.family == family
    torch.manual_seed(0)
    reference = build_model(config).state_dict()
    state = model.state_dict()
    assert state.keys() == reference.keys()
    assert all(torch.equal(state[k], reference[k]) for k in state)


def test_save_pretrained_refuses_a_model_that_is_not_its_config(tmp_path):
    from worldflux_cli.config import TDMPC2Config
    from worldflux_cli.hub import ModelRefused, save_pretrained
    from worldflux_cli.models import build_model

    small, wide = TDMPC2Config.from_size("tiny"), TDMPC2Config.from_size("tiny", hidden_dim=96)
    with pytest.raises(ModelRefused, match="not the one its config builds"):
        save_pretrained(build_model(wide), small, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_load_pretrained_refuses_weights_that_do_not_fit(copy_saved, tmp_path):
    from worldflux_cli.hub import ModelRefused, load_pretrained

    folder = copy_saved("tdmpc2")
    other = save_tiny("tdmpc2", tmp_path / "wide", hidden_dim=96)
    (folder / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(ModelRefused, match="does not fit the config") as info:
        load_pretrained(folder)
    assert any("shape" in line for line in info.value.details)


def test_pickle_sniffing(tmp_path):
    import pickle
    import zipfile

    from worldflux_cli.hub.weights import sniff_pickle

    cases = {
        "proto4.dat": pickle.dumps({"w": [1.0, 2.0]}, protocol=4),
        "proto0.dat": pickle.dumps({"w": [1.0, 2.0]}, protocol=0),
        "proto1.dat": pickle.dumps([1, 2, 3], protocol=1),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert sniff_pickle(tmp_path / name), name
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.data")
    assert sniff_pickle(tmp_path / "model.data")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    innocent = {"README.md": b"---\nlibrary_name: worldflux\n---\n", "config.json": b'{"a": 1}',
                "notes.txt": b"I think this works.", "empty": b""}
    for name, data in innocent.items():
        (tmp_path / name).write_bytes(data)
    for name in [*innocent, "plain.zip"]:
        assert not sniff_pickle(tmp_path / name), name


def test_a_safetensors_file_that_starts_like_a_pickle_is_not_one(tmp_path):
    """A header of 0x280 bytes makes the file start with 80 02, pickle's PROTO 2; ending in "." too."""
    from worldflux_cli.hub.weights import read_header, sniff_pickle

    data = b"abc."
    header = json.dumps({"t": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}).encode()
    header += b" " * (0x280 - len(header))
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    assert path.read_bytes()[:2] == b"\x80\x02" and path.read_bytes()[-1:] == b"."
    assert read_header(path).tensors["t"].shape == (4,)
    assert not sniff_pickle(path)
