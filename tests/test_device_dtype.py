"""The config's device and dtype are honoured by build_model, bench, save and load_pretrained; flags override."""

from __future__ import annotations

import json

import pytest
import torch

from worldflux_cli.config import TDMPC2Config
from worldflux_cli.errors import WorldfluxError
from worldflux_cli.models import build_model

NO_CUDA = not torch.cuda.is_available()


def small(**kw) -> TDMPC2Config:
    return TDMPC2Config.from_size("tiny", **kw)


def test_build_model_takes_the_config_dtype_unless_given():
    model = build_model(small(dtype="bfloat16"), device="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    model = build_model(small(dtype="bfloat16"), device="cpu", dtype="float32")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert {p.dtype for p in build_model(small(), device="cpu").parameters()} == {torch.float32}


def test_build_model_takes_the_config_device_unless_given():
    model = build_model(small(device="cpu"))
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    auto = build_model(small(device="auto"))
    assert {p.device.type for p in auto.parameters()} == {"cuda" if torch.cuda.is_available() else "cpu"}
    meta = build_model(small(device="cuda"), device="meta")  # the argument wins over the config
    assert {p.device.type for p in meta.parameters()} == {"meta"}


@pytest.mark.skipif(not NO_CUDA, reason="checks the message on a machine without CUDA")
def test_a_config_that_asks_for_cuda_on_a_cpu_machine_says_so():
    with pytest.raises(WorldfluxError, match="CUDA was asked for") as info:
        build_model(small(device="cuda"))
    assert info.value.exit_code == 2 and "device" in info.value.hint


def _bench_json(cli, path, *flags):
    r = cli("bench", str(path), "-w", "train", "--batch", "4", "--steps", "1", "--warmup", "0", "--format", "json",
            *flags)
    return r, (json.loads(r.stdout) if r.exit_code == 0 else None)


def test_bench_uses_the_config_dtype_and_device_and_flags_override(cli, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(small(dtype="bfloat16", device="cpu").to_dict()))
    r, result = _bench_json(cli, path)
    assert r.exit_code == 0, r.output
    assert result["settings"]["dtype"] == "bfloat16" and result["environment"]["dtype"] == "bfloat16"
    assert result["settings"]["device"] == "cpu" and result["environment"]["device_type"] == "cpu"
    r, result = _bench_json(cli, path, "--dtype", "float32")
    assert r.exit_code == 0 and result["environment"]["dtype"] == "float32"


@pytest.mark.skipif(not NO_CUDA, reason="checks the message on a machine without CUDA")
def test_bench_of_a_cuda_config_on_a_cpu_machine_exits_2_unless_overridden(cli, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(small(device="cuda").to_dict()))
    r, _ = _bench_json(cli, path)
    assert r.exit_code == 2 and "CUDA was asked for" in r.stderr
    r, result = _bench_json(cli, path, "--device", "cpu")
    assert r.exit_code == 0 and result["environment"]["device_type"] == "cpu"


def test_save_and_load_pretrained_keep_the_config_dtype(cli, tmp_path):
    from safetensors import safe_open

    from worldflux_cli.hub import load_pretrained

    path = tmp_path / "c.json"
    path.write_text(json.dumps(small(dtype="bfloat16", device="cpu").to_dict()))
    r = cli("save", str(path), "-o", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    with safe_open(str(tmp_path / "out" / "model.safetensors"), "pt") as fh:
        assert {fh.get_slice(k).get_dtype() for k in fh.keys()} == {"BF16"}  # noqa: SIM118 (not iterable)
    model, config = load_pretrained(tmp_path / "out")
    assert config.dtype == "bfloat16" and {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with pytest.raises(WorldfluxError, match="meta device holds no weights"):
        load_pretrained(tmp_path / "out", device="meta")


def test_failed_rank_reason_is_the_first_failed_ranks_last_line():
    """What `bench --nproc` and `train --nproc` say when a rank fails (one helper for both)."""
    from worldflux_cli.models.device import failed_rank_reason

    class Failure:
        def __init__(self, message):
            self.message = message

    class Failed(Exception):
        def __init__(self, text, failures):
            super().__init__(text)
            self.failures = failures

    two = {1: Failure("Traceback (most recent call last):\n  ...\nValueError: rank 1 broke\n"), 0: Failure("other")}
    assert failed_rank_reason(Failed("launch failed", two)) == "ValueError: rank 1 broke"
    assert failed_rank_reason(Failed("launch failed\nsee the error file", {0: Failure({"message": "x"})})) == \
        "see the error file"  # a structured message: the exception's own text
    assert failed_rank_reason(Failed("launch failed", {})) == "launch failed"
    assert failed_rank_reason(ValueError("")) == ""
