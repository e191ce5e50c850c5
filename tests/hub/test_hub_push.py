"""`worldflux push` against the FakeHub: round trips, refusals with nothing uploaded, options."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from huggingface_hub import HfApi

from tests.hub.conftest import FAMILIES, one_line_error, save_tiny, sha256, tree_bytes, uploads
from tests.hub.fixtures import ALICE_TOKEN, BOB_TOKEN


@pytest.mark.parametrize("family", FAMILIES)
def test_round_trip_byte_for_byte(cli, fake_hub, alice, saved, tmp_path, family):
    r = cli("push", str(saved[family]), "--repo", f"alice/{family}-tiny", "--format", "json")
    assert r.exit_code == 0, r.output
    pushed = json.loads(r.stdout)
    assert set(pushed) == {"repo", "revision", "commit", "url", "files"}
    assert pushed["repo"] == f"alice/{family}-tiny" and pushed["revision"] == "main"
    assert pushed["files"] == ["README.md", "config.json", "model.safetensors"]
    assert pushed["url"].endswith(f"/alice/{family}-tiny/commit/{pushed['commit']}")
    commits = [p for m, p in fake_hub.request_log if m == "POST" and "/commit/" in p]
    assert commits == [f"/api/models/alice/{family}-tiny/commit/main"]  # one commit

    info = HfApi().model_info(f"alice/{family}-tiny", files_metadata=True)
    assert info.sha == pushed["commit"]
    weights = (saved[family] / "model.safetensors").read_bytes()
    assert {s.rfilename: s.lfs.sha256 for s in info.siblings if s.lfs} == {"model.safetensors": sha256(weights)}

    out = tmp_path / "pulled"
    r = cli("pull", f"alice/{family}-tiny", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert pushed["commit"][:7] in r.stdout and f"bench {out / 'config.json'}" in r.stdout
    assert tree_bytes(out) == tree_bytes(saved[family])

    from worldflux_cli.hub import load_pretrained

    local_model, _ = load_pretrained(saved[family])
    hub_model, config = load_pretrained(f"alice/{family}-tiny")
    assert config.family == family
    a, b = local_model.state_dict(), hub_model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_push_text_output_and_private_tag_branch(cli, fake_hub, alice, saved):
    r = cli("push", str(saved["tdmpc2"]), "--repo", "worldflux/tdmpc2-tiny", "--private", "--tag", "v1",
            "--revision", "exp", "-m", "First release")
    assert r.exit_code == 0, r.output
    api = HfApi()
    info = api.model_info("worldflux/tdmpc2-tiny")
    assert info.private is True
    refs = api.list_repo_refs("worldflux/tdmpc2-tiny")
    exp = next(b for b in refs.branches if b.name == "exp")
    assert [t.name for t in refs.tags] == ["v1"] and refs.tags[0].target_commit == exp.target_commit
    assert f"commit: {exp.target_commit}" in r.stdout and "url: " in r.stdout and "tag: v1" in r.stdout
    assert api.list_repo_commits("worldflux/tdmpc2-tiny", revision="exp")[0].title == "First release"
    assert ALICE_TOKEN not in r.output

    again = cli("push", str(saved["tdmpc2"]), "--repo", "worldflux/tdmpc2-tiny", "--tag", "v1")
    assert again.exit_code == 2 and "already exists" in one_line_error(again.stderr)

    pr = cli("push", str(saved["dreamer"]), "--repo", "worldflux/tdmpc2-tiny", "--create-pr", "--format", "json")
    assert pr.exit_code == 0, pr.output
    data = json.loads(pr.stdout)
    assert data["revision"] == "refs/pr/1" and data["pr_url"].endswith("/discussions/1")
    assert api.model_info("worldflux/tdmpc2-tiny", revision="main").sha != data["commit"]


def test_push_adds_a_card_when_readme_is_missing(cli, fake_hub, alice, copy_saved):
    folder = copy_saved()
    (folder / "README.md").unlink()
    r = cli("push", str(folder), "--repo", "alice/no-card")
    assert r.exit_code == 0, r.output
    assert "generated model card" in r.stderr
    assert not (folder / "README.md").exists()
    files = HfApi().list_repo_files("alice/no-card")
    assert "README.md" in files


def _assert_nothing_uploaded(hub) -> None:
    assert uploads(hub) == [], uploads(hub)
    assert not [p for _, p in hub.request_log if "/preupload/" in p or "/commit/" in p]


def test_push_refuses_an_invalid_config_with_nothing_uploaded(cli, fake_hub, alice, copy_saved):
    folder = copy_saved()
    config = json.loads((folder / "config.json").read_text())
    config.update(latent_dim=60, learning_rate=-1)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    r = cli("push", str(folder), "--repo", "alice/bad")
    assert r.exit_code == 1
    line = one_line_error(r.stderr)
    assert "config.json is not a valid config (" in line
    assert "WF103" in r.stderr  # the validation report is printed above the error line
    assert fake_hub.request_log == []  # not even a repo lookup


def test_push_refuses_weights_that_do_not_fit_the_config(cli, fake_hub, alice, copy_saved, tmp_path):
    folder = copy_saved()
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dim=96, model_name="wider")  # a valid config, but not the one the weights were built from
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    r = cli("push", str(folder), "--repo", "alice/mismatch")
    assert r.exit_code == 1
    assert "model.safetensors does not fit the config" in one_line_error(r.stderr)
    assert "shape" in r.stderr
    _assert_nothing_uploaded(fake_hub)

    # Same shapes, other dtype: refused too.
    folder = copy_saved(name="dtype")
    config = json.loads((folder / "config.json").read_text())
    config.update(dtype="bfloat16")
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    r = cli("push", str(folder), "--repo", "alice/mismatch")
    assert r.exit_code == 1 and "dtype F32, the config builds BF16" in r.stderr
    _assert_nothing_uploaded(fake_hub)


@pytest.mark.parametrize("name, content", [
    ("pytorch_model.bin", "torch"),
    ("extra/optimizer.pt", "torch"),
    ("weights.dat", "pickle"),
    ("notes.txt", "pickle0"),
], ids=["bin", "pt-in-subfolder", "pickle-renamed", "protocol0-renamed"])
def test_push_refuses_pickle_files(cli, fake_hub, alice, copy_saved, tmp_path, name, content):
    folder = copy_saved()
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    if content == "torch":
        torch.save({"w": torch.zeros(3)}, target)
    else:
        target.write_bytes(pickle.dumps({"w": [0.0]}, protocol=0 if content == "pickle0" else 4))
    r = cli("push", str(folder), "--repo", "alice/pickled")
    assert r.exit_code == 1
    line = one_line_error(r.stderr)
    assert "pickle-format file refused" in line and name in line
    _assert_nothing_uploaded(fake_hub)


def test_push_refuses_a_folder_without_weights(cli, fake_hub, alice, copy_saved):
    folder = copy_saved()
    (folder / "model.safetensors").unlink()
    r = cli("push", str(folder), "--repo", "alice/empty")
    assert r.exit_code == 2 and "has no model.safetensors" in one_line_error(r.stderr)
    r = cli("push", str(folder / "nope"), "--repo", "alice/empty")
    assert r.exit_code == 2 and "no such folder" in one_line_error(r.stderr)
    _assert_nothing_uploaded(fake_hub)


def test_push_needs_a_token_and_rights(cli, fake_hub, saved, monkeypatch):
    r = cli("push", str(saved["tdmpc2"]), "--repo", "alice/anon")
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "not logged in" in line and "hf auth login" in r.stderr and "HF_TOKEN" in r.stderr
    assert fake_hub.request_log == []

    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token_123")
    r = cli("push", str(saved["tdmpc2"]), "--repo", "alice/anon")
    assert r.exit_code == 2
    assert "rejected the token from the HF_TOKEN environment variable" in one_line_error(r.stderr)
    assert "hf_not_a_real_token_123" not in r.output

    monkeypatch.setenv("HF_TOKEN", BOB_TOKEN)
    r = cli("push", str(saved["tdmpc2"]), "--repo", "worldflux/bobs")
    assert r.exit_code == 2 and "may not write to worldflux/bobs" in one_line_error(r.stderr)
    assert BOB_TOKEN not in r.output
    assert not [p for _, p in fake_hub.request_log if "/preupload/" in p or "/commit/" in p or "lfs" in p]


def test_push_bad_repo_id_is_a_usage_error(cli, fake_hub, alice, saved):
    for repo in ("no-namespace", "a/b/c", "alice/../x", "alice/x@main"):
        r = cli("push", str(saved["tdmpc2"]), "--repo", repo)
        assert r.exit_code == 2, repo
        assert "is not a Hub repository id" in one_line_error(r.stderr)
    assert fake_hub.request_log == []


def test_push_api_returns_the_commit(fake_hub, alice, tmp_path):
    from worldflux_cli.hub import push_folder

    folder = save_tiny("tdmpc2", tmp_path / "m", seed=5)
    result = push_folder(folder, "alice/api")
    assert result.created and result.files == ["README.md", "config.json", "model.safetensors"]
    assert HfApi().model_info("alice/api").sha == result.commit
