"""hf:// references in `worldflux validate` and `worldflux diff` (through sources.read_source)."""

from __future__ import annotations

import json

from huggingface_hub import HfApi

from tests.hub.fixtures import ALICE_TOKEN


def _publish_two(hub, saved) -> tuple[str, str]:
    config = (saved["tdmpc2"] / "config.json").read_bytes()
    first = hub.put_files("alice/cfg", {"config.json": config}, message="first")
    wider = {**json.loads(config), "hidden_dim": 96, "model_name": "wider"}
    second = hub.put_files("alice/cfg", {"config.json": json.dumps(wider, indent=2).encode()}, message="second")
    HfApi(token=ALICE_TOKEN).create_tag("alice/cfg", tag="v1", revision=first)
    return first, second


def test_validate_reads_config_json_from_the_hub(cli, fake_hub, saved):
    first, _ = _publish_two(fake_hub, saved)
    for ref in ("hf://alice/cfg", "hf://alice/cfg@v1", f"hf://alice/cfg@{first}", f"hf://alice/cfg@{first[:8]}"):
        r = cli("validate", ref)
        assert r.exit_code == 0, r.output
        assert f"ok {ref} (tdmpc2" in r.stdout
    r = cli("validate", "hf://alice/cfg@v1", "--format", "json")
    assert json.loads(r.stdout)["files"][0]["valid"] is True


def test_validate_an_invalid_config_on_the_hub(cli, fake_hub):
    fake_hub.put_files("alice/broken", {"config.json": b'{"model_type": "tdmpc2",\n "latent_dim": 500}\n'})
    r = cli("validate", "hf://alice/broken")
    assert r.exit_code == 1
    assert "hf://alice/broken:2:" in r.stdout and "WF210" in r.stdout


def test_validate_a_repo_without_config(cli, fake_hub):
    fake_hub.put_files("alice/noconfig", {"notes.txt": b"hello"})
    r = cli("validate", "hf://alice/noconfig")
    assert r.exit_code == 2 and "has no config.json" in r.stdout


def test_diff_local_against_hub_revisions(cli, fake_hub, saved):
    _publish_two(fake_hub, saved)
    local = str(saved["tdmpc2"] / "config.json")
    r = cli("diff", local, "hf://alice/cfg@v1")
    assert r.exit_code == 0, r.output
    assert "are equal" in r.stdout
    r = cli("diff", local, "hf://alice/cfg@main", "--format", "json")
    assert r.exit_code == 1, r.output
    changes = {c["path"]: c for c in json.loads(r.stdout)["changes"]} if "changes" in r.stdout else {}
    assert "hidden_dim" in r.stdout and changes
    r = cli("diff", "hf://alice/cfg@v1", "hf://alice/cfg")
    assert r.exit_code == 1 and "hidden_dim: 64 -> 96" in r.stdout
    r = cli("diff", local, "hf://alice/missing")
    assert r.exit_code == 2 and "repository alice/missing not found" in r.stderr


def test_validate_hub_offline_after_a_first_read(cli, fake_hub, saved, offline):
    _publish_two(fake_hub, saved)
    assert cli("validate", "hf://alice/cfg@v1").exit_code == 0
    offline()
    assert cli("validate", "hf://alice/cfg@v1").exit_code == 0
    r = cli("validate", "hf://alice/cfg@nope")
    assert r.exit_code == 2 and "not in the local cache" in r.stdout
