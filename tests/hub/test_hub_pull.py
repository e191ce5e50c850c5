"""`worldflux pull` against the FakeHub: revisions, verification, refusals that leave DIR untouched, offline."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, constants

from tests.hub.conftest import one_line_error, save_tiny, tree_bytes
from tests.hub.fixtures import ALICE_TOKEN


def _publish(hub, repo: str, folder: Path, message: str = "Upload", **kwargs) -> str:
    """Commit a saved folder straight into the FakeHub (no client), returns the commit id."""
    return hub.put_files(repo, {p.name: p.read_bytes() for p in folder.iterdir()}, message=message, **kwargs)


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def _cached_blobs(repo: str) -> list[Path]:
    blobs = Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--")) / "blobs"
    return sorted(blobs.iterdir()) if blobs.is_dir() else []


def test_two_commits_pull_the_older_by_commit_and_by_tag(cli, fake_hub, alice, tmp_path):
    v1 = save_tiny("tdmpc2", tmp_path / "v1", seed=1)
    v2 = save_tiny("tdmpc2", tmp_path / "v2", seed=2)
    assert cli("push", str(v1), "--repo", "alice/two", "--tag", "v1").exit_code == 0
    assert cli("push", str(v2), "--repo", "alice/two").exit_code == 0
    api = HfApi()
    first = api.list_repo_refs("alice/two").tags[0].target_commit
    assert api.model_info("alice/two").sha != first

    for n, args in enumerate([["alice/two@v1"], [f"alice/two@{first}"], [f"hf://alice/two@{first[:7]}"],
                              ["alice/two", "--revision", "v1"]]):
        out = tmp_path / f"old{n}"
        r = cli("pull", *args, "-o", str(out))
        assert r.exit_code == 0, r.output
        assert first[:7] in r.stdout
        assert tree_bytes(out) == tree_bytes(v1), args
    out = tmp_path / "new"
    assert cli("pull", "alice/two", "-o", str(out)).exit_code == 0
    assert tree_bytes(out) == tree_bytes(v2)

    r = cli("pull", "alice/two@v1", "--revision", "main", "-o", str(tmp_path / "x"))
    assert r.exit_code == 2 and "two revisions given" in one_line_error(r.stderr)


def test_pull_defaults_to_the_repo_name_and_json(cli, fake_hub, saved, tmp_path, monkeypatch):
    _publish(fake_hub, "alice/tiny", saved["dreamer"])
    monkeypatch.chdir(tmp_path)
    r = cli("pull", "alice/tiny", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["dir"] == "tiny" and data["model_type"] == "dreamer" and data["offline"] is False
    assert data["files"] == ["README.md", "config.json", "model.safetensors"]
    assert tree_bytes(tmp_path / "tiny") == tree_bytes(saved["dreamer"])
    assert cli("validate", "tiny/config.json").exit_code == 0


def test_config_only(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/cfg", saved["tdmpc2"])
    r = cli("pull", "alice/cfg", "--config-only", "-o", str(tmp_path / "c"))
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["config.json"]
    assert not [p for _, p in fake_hub.request_log if p.endswith("model.safetensors")]


def test_corrupted_lfs_object_is_refused_then_a_retry_works(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/rot", saved["tdmpc2"])
    fake_hub.corrupt_lfs("alice/rot", "model.safetensors")
    out = tmp_path / "rot"
    r = cli("pull", "alice/rot", "-o", str(out))
    assert r.exit_code == 1
    line = one_line_error(r.stderr)
    assert "model.safetensors of alice/rot@main does not match the Hub's record" in line
    assert "deleted from the cache" in r.stderr
    assert not out.exists() and _siblings(out) == []
    assert all(b.stat().st_size < 10_000 for b in _cached_blobs("alice/rot"))  # the bad weights are gone

    # Into an existing folder with --force: untouched.
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "model.safetensors").write_bytes(b"old")
    r = cli("pull", "alice/rot", "-o", str(existing), "--force")
    assert r.exit_code == 1 and tree_bytes(existing) == {"model.safetensors": b"old"}

    fake_hub.corrupt_lfs("alice/rot", "model.safetensors")  # flips the bytes back: the object is sound again
    r = cli("pull", "alice/rot", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert tree_bytes(out) == tree_bytes(saved["tdmpc2"])


def test_a_corrupted_cache_is_not_trusted(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/cache", saved["tdmpc2"])
    assert cli("pull", "alice/cache", "-o", str(tmp_path / "a")).exit_code == 0
    blob = max(_cached_blobs("alice/cache"), key=lambda b: b.stat().st_size)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    r = cli("pull", "alice/cache", "-o", str(tmp_path / "b"))
    assert r.exit_code == 1 and "does not match the Hub's record" in r.stderr
    assert not blob.exists()
    r = cli("pull", "alice/cache", "-o", str(tmp_path / "b"))
    assert r.exit_code == 0, r.output
    assert tree_bytes(tmp_path / "b") == tree_bytes(saved["tdmpc2"])


def test_a_repo_with_only_pickle_weights_is_refused(cli, fake_hub, saved, tmp_path):
    import io

    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, buffer)
    fake_hub.put_files("alice/pickled", {"config.json": (saved["tdmpc2"] / "config.json").read_bytes(),
                                         "pytorch_model.bin": buffer.getvalue()})
    r = cli("pull", "alice/pickled", "-o", str(tmp_path / "p"))
    assert r.exit_code == 1
    assert "holds only pickle-format weights (pytorch_model.bin)" in one_line_error(r.stderr)
    assert not (tmp_path / "p").exists()
    assert not [p for _, p in fake_hub.request_log if p.endswith(".bin") or "/lfs-object/" in p]

    # Beside model.safetensors a pickle file is skipped, never downloaded.
    _publish(fake_hub, "alice/both", saved["tdmpc2"])
    fake_hub.put_files("alice/both", {"pytorch_model.bin": buffer.getvalue()})
    fake_hub.request_log.clear()
    r = cli("pull", "alice/both", "-o", str(tmp_path / "b"))
    assert r.exit_code == 0, r.output
    assert "skipped (pickle, never downloaded): pytorch_model.bin" in r.stdout
    assert tree_bytes(tmp_path / "b") == tree_bytes(saved["tdmpc2"])
    assert not [p for _, p in fake_hub.request_log if p.endswith(".bin")]


def test_a_pickle_under_another_name_is_refused(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/sneaky", saved["tdmpc2"])
    fake_hub.put_files("alice/sneaky", {"extra.dat": pickle.dumps({"w": 1}, protocol=4)})
    r = cli("pull", "alice/sneaky", "-o", str(tmp_path / "s"))
    assert r.exit_code == 1 and "pickle-format file refused: extra.dat" in one_line_error(r.stderr)
    assert not (tmp_path / "s").exists()


def test_an_invalid_or_mismatched_repo_is_refused(cli, fake_hub, saved, tmp_path):
    config = json.loads((saved["tdmpc2"] / "config.json").read_text())
    _publish(fake_hub, "alice/bad", saved["tdmpc2"])
    fake_hub.put_files("alice/bad", {"config.json": json.dumps({**config, "latent_dim": 60}).encode()})
    r = cli("pull", "alice/bad", "-o", str(tmp_path / "bad"))
    assert r.exit_code == 1 and "alice/bad@main/config.json is not a valid config" in one_line_error(r.stderr)
    assert not (tmp_path / "bad").exists()

    _publish(fake_hub, "alice/mismatch", saved["tdmpc2"])
    wider = {**config, "hidden_dim": 96, "model_name": "wider"}
    fake_hub.put_files("alice/mismatch", {"config.json": json.dumps(wider).encode()})
    r = cli("pull", "alice/mismatch", "-o", str(tmp_path / "mm"))
    assert r.exit_code == 1 and "model.safetensors does not fit the config" in one_line_error(r.stderr)
    assert not (tmp_path / "mm").exists()
    assert cli("pull", "alice/mismatch", "--config-only", "-o", str(tmp_path / "mm")).exit_code == 0

    fake_hub.put_files("alice/noconfig", {"weights.safetensors": (saved["tdmpc2"] / "model.safetensors").read_bytes()})
    r = cli("pull", "alice/noconfig", "-o", str(tmp_path / "nc"))
    assert r.exit_code == 1 and "has no config.json" in one_line_error(r.stderr)


def test_repo_paths_that_escape_are_refused(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/escape", saved["tdmpc2"])
    fake_hub.put_files("alice/escape", {"sub/../../evil.txt": b"gotcha"})
    out = tmp_path / "deep" / "escape"
    r = cli("pull", "alice/escape", "-o", str(out))
    assert r.exit_code == 1 and "unsafe path" in one_line_error(r.stderr)
    assert not out.exists() and not (tmp_path / "evil.txt").exists()
    assert not [p for _, p in fake_hub.request_log if "evil" in p]


def test_a_non_empty_folder_needs_force(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/force", saved["tdmpc2"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = cli("pull", "alice/force", "-o", str(out))
    assert r.exit_code == 2 and "is not empty" in one_line_error(r.stderr)
    assert fake_hub.request_log == []
    r = cli("pull", "alice/force", "-o", str(out), "--force")
    assert r.exit_code == 0, r.output
    assert tree_bytes(out) == {**tree_bytes(saved["tdmpc2"]), "keep.txt": b"mine"}
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli("pull", "alice/force", "-o", str(empty)).exit_code == 0  # an empty folder is fine
    assert tree_bytes(empty) == tree_bytes(saved["tdmpc2"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "hf_home", "out"]  # no staging left behind


def test_subfolders_are_pulled_inside_the_folder(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/nested", saved["tdmpc2"])
    fake_hub.put_files("alice/nested", {"logs/train.txt": b"step 1\n"})
    r = cli("pull", "alice/nested", "-o", str(tmp_path / "n"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "n" / "logs" / "train.txt").read_bytes() == b"step 1\n"


def test_offline_pull_from_the_cache(cli, fake_hub, alice, saved, tmp_path, offline):
    first = _publish(fake_hub, "alice/off", saved["tdmpc2"], message="first")
    HfApi().create_tag("alice/off", tag="v1", revision=first)
    _publish(fake_hub, "alice/off", saved["dreamer"], message="second")
    assert cli("pull", "alice/off@v1", "-o", str(tmp_path / "online-v1")).exit_code == 0
    assert cli("pull", "alice/off", "-o", str(tmp_path / "online-main")).exit_code == 0

    offline()
    fake_hub.request_log.clear()
    for rev, source in (("v1", "tdmpc2"), (first, "tdmpc2"), (first[:7], "tdmpc2"), ("main", "dreamer")):
        out = tmp_path / f"offline-{rev}"
        r = cli("pull", f"alice/off@{rev}", "-o", str(out))
        assert r.exit_code == 0, r.output
        assert "HF_HUB_OFFLINE=1: used the cached copy" in r.stderr
        assert tree_bytes(out) == tree_bytes(saved[source]), rev
    assert fake_hub.request_log == []

    from worldflux_cli.hub import load_pretrained

    model, config = load_pretrained("alice/off", revision="v1")
    assert config.family == "tdmpc2"

    r = cli("pull", "alice/never", "-o", str(tmp_path / "never"))
    assert r.exit_code == 2
    assert "HF_HUB_OFFLINE=1 is set and alice/never@main is not in the local cache" in one_line_error(r.stderr)
    assert not (tmp_path / "never").exists()


def test_network_down_falls_back_to_the_cache(cli, fake_hub, saved, tmp_path):
    _publish(fake_hub, "alice/net", saved["tdmpc2"])
    assert cli("pull", "alice/net", "-o", str(tmp_path / "a")).exit_code == 0
    fake_hub.set_offline(True)
    r = cli("pull", "alice/net", "-o", str(tmp_path / "b"))
    assert r.exit_code == 0, r.output
    assert "the Hub is unreachable: used the cached copy" in r.stderr
    assert tree_bytes(tmp_path / "b") == tree_bytes(saved["tdmpc2"])
    r = cli("pull", "alice/net@other", "-o", str(tmp_path / "c"))
    assert r.exit_code == 2
    line = one_line_error(r.stderr)
    assert "cannot reach the Hub" in line and "not in the local cache" in line


def test_the_cache_of_another_user_is_not_a_way_around_access(cli, fake_hub, saved, tmp_path, monkeypatch):
    """A private repo pulled with a token: without it, the Hub says no (the cache is only used offline)."""
    _publish(fake_hub, "alice/secret", saved["tdmpc2"], private=True)
    monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
    assert cli("pull", "alice/secret", "-o", str(tmp_path / "a")).exit_code == 0
    monkeypatch.delenv("HF_TOKEN")
    r = cli("pull", "alice/secret", "-o", str(tmp_path / "b"))
    assert r.exit_code == 2 and "private and no Hub token is set" in one_line_error(r.stderr)


def test_pull_api(fake_hub, saved, tmp_path):
    from worldflux_cli.hub import ModelRefused, pull_model

    _publish(fake_hub, "alice/api", saved["dreamer"])
    _publish(fake_hub, "alice/api2", saved["tdmpc2"])
    result = pull_model("hf://alice/api", tmp_path / "api")
    assert result.model_type == "dreamer" and result.tensors and result.commit
    fake_hub.corrupt_lfs("alice/api2", "model.safetensors")
    with pytest.raises(ModelRefused, match="does not match the Hub's record"):
        pull_model("alice/api2", tmp_path / "api", force=True)
    assert tree_bytes(tmp_path / "api") == tree_bytes(saved["dreamer"])
