"""A folder written by `worldflux train` is a model folder `push` takes as is (checkpoints included)."""

from __future__ import annotations

import importlib.util
import json

import pytest
from huggingface_hub import HfApi

from tests.training.helpers import train_small, write_run

pytestmark = pytest.mark.skipif(importlib.util.find_spec("gymnasium") is None, reason="the envs extra is missing")


def test_push_a_trained_run_folder(cli, fake_hub, alice, tmp_path):
    import torch

    threads = torch.get_num_threads()
    try:
        out = train_small(cli, tmp_path / "out", write_run(cli, tmp_path / "run.json", total_steps=60,
                                                           eval_interval=60, log_interval=60, prefill_steps=40))
    finally:
        torch.set_num_threads(threads)
    r = cli("push", str(out), "--repo", "alice/pendulum", "--format", "json")
    assert r.exit_code == 0, r.output
    files = json.loads(r.stdout)["files"]
    events = {f for f in files if f.startswith("tensorboard/")}  # the Hub shows these in its TensorBoard tab
    assert {"config.json", "model.safetensors", "README.md", "metrics.jsonl", "run.json", "return_curve.svg",
            "checkpoints/checkpoint.safetensors", "checkpoints/replay.safetensors"} == set(files) - events
    assert all("tfevents" in f for f in events) and (events or importlib.util.find_spec("tensorboard") is None)
    assert set(HfApi().list_repo_files("alice/pendulum")) >= set(files)
