"""The real huggingface_hub client against FakeHub (tests/hub/server.py), over loopback only."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import random
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFolder  # not exported at the top level before 1.x

from tests.hub.fixtures import ALICE_TOKEN, BOB_TOKEN
from tests.hub.server import FakeHub, git_blob_sha1


def _safetensors(seed: int = 0, n_floats: int = 25_600) -> bytes:
    """A valid ~100 KB safetensors file: header length (u64 LE), JSON header, raw float32 data."""
    data = random.Random(seed).randbytes(4 * n_floats)
    header = json.dumps({"weight": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, len(data)]}}).encode()
    return struct.pack("<Q", len(header)) + header + data


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _request(url: str, method: str = "GET", body: bytes | None = None, **headers: str) -> tuple[Any, bytes]:
    """One raw HTTP request, without the client: (response, body)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def test_create_repo_visibility_namespaces_and_exist_ok(fake_hub: FakeHub) -> None:
    alice = HfApi(token=ALICE_TOKEN)
    url = alice.create_repo("alice/public-model")
    assert (url.repo_id, url.endpoint, url.repo_type) == ("alice/public-model", fake_hub.endpoint, "model")
    with pytest.raises(HfHubHTTPError) as conflict:
        alice.create_repo("alice/public-model")
    assert conflict.value.response.status_code == 409
    assert alice.create_repo("alice/public-model", exist_ok=True).repo_id == "alice/public-model"

    alice.create_repo("alice/secret-model", private=True)
    assert alice.model_info("alice/secret-model").private is True
    assert HfApi(token=False).model_info("alice/public-model").private is False
    with pytest.raises(RepositoryNotFoundError) as anonymous:
        HfApi(token=False).model_info("alice/secret-model")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError) as other_user:
        HfApi(token=BOB_TOKEN).model_info("alice/secret-model")
    assert other_user.value.response.status_code == 404

    assert alice.create_repo("worldflux/shared").repo_id == "worldflux/shared"  # alice is in the org
    with pytest.raises(HfHubHTTPError) as forbidden:
        HfApi(token=BOB_TOKEN).create_repo("worldflux/bobs")
    assert forbidden.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as anonymous_create:
        HfApi(token=False).create_repo("alice/anonymous")
    assert anonymous_create.value.response.status_code == 401


def test_upload_tag_and_download_every_revision(fake_hub: FakeHub, tmp_path: Path) -> None:
    api = HfApi(token=ALICE_TOKEN)
    repo_id = api.create_repo("alice/world-model").repo_id
    weights = _safetensors()
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "config.json").write_text('{"version": 1}\n')
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# World model\n")

    first = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="First export")
    # One commit with both files; the weights went through LFS to the storage.
    assert [path for method, path in fake_hub.request_log if "/commit/" in path] == [
        f"/api/models/{repo_id}/commit/main"
    ]
    assert [method for method, path in fake_hub.request_log if path.startswith("/lfs-upload/")] == ["PUT"]
    assert ("POST", "/api/validate-yaml") in fake_hub.request_log  # because of the README.md
    siblings = {sibling.rfilename: sibling for sibling in api.model_info(repo_id, files_metadata=True).siblings}
    assert set(siblings) == {".gitattributes", "README.md", "config.json", "model.safetensors"}
    assert siblings["model.safetensors"].lfs.sha256 == _sha256(weights)
    assert siblings["model.safetensors"].lfs.size == len(weights)
    assert siblings["config.json"].lfs is None
    assert siblings["config.json"].blob_id == git_blob_sha1(b'{"version": 1}\n')

    api.create_tag(repo_id, tag="v1", revision=first.oid)
    (folder / "config.json").write_text('{"version": 2}\n')
    fake_hub.request_log.clear()
    second = api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Second export")
    # Preupload reported the weights' sha256: unchanged, so neither uploaded nor committed again.
    assert not [path for _, path in fake_hub.request_log if path.startswith("/lfs-upload/")]
    assert second.oid != first.oid

    refs = api.list_repo_refs(repo_id)
    assert [(branch.name, branch.target_commit) for branch in refs.branches] == [("main", second.oid)]
    assert [(tag.name, tag.ref, tag.target_commit) for tag in refs.tags] == [("v1", "refs/tags/v1", first.oid)]
    assert refs.converts == []
    assert [commit.title for commit in api.list_repo_commits(repo_id)] == [
        "Second export",
        "First export",
        "initial commit",
    ]

    revisions = {None: 2, "main": 2, second.oid: 2, first.oid: 1, first.oid[:7]: 1, "v1": 1}
    for revision, version in revisions.items():
        snapshot = Path(snapshot_download(repo_id, revision=revision))
        assert json.loads((snapshot / "config.json").read_text()) == {"version": version}, revision
        assert (snapshot / "model.safetensors").read_bytes() == weights


def test_recursive_tree_listing(fake_hub: FakeHub) -> None:
    weights = _safetensors(seed=2)
    first = fake_hub.put_files(
        "alice/tree", {"config.json": b"{}", "ckpt/step1/model.safetensors": weights, "ckpt/notes.txt": b"hi"}
    )
    fake_hub.put_files("alice/tree", {"ckpt/notes.txt": b"hi again"})
    api = HfApi(token=False)

    tree = {entry.path: entry for entry in api.list_repo_tree("alice/tree", recursive=True)}
    assert list(tree) == [  # folders first, as on the Hub
        "ckpt",
        "ckpt/step1",
        ".gitattributes",
        "ckpt/notes.txt",
        "ckpt/step1/model.safetensors",
        "config.json",
    ]
    assert isinstance(tree["ckpt/step1"], RepoFolder)
    assert tree["ckpt/step1/model.safetensors"].lfs.sha256 == _sha256(weights)
    assert tree["ckpt/step1/model.safetensors"].size == len(weights)
    assert tree["ckpt/notes.txt"].lfs is None
    assert tree["ckpt/notes.txt"].blob_id == git_blob_sha1(b"hi again")
    assert api.list_repo_files("alice/tree") == [path for path in tree if path not in ("ckpt", "ckpt/step1")]
    assert api.list_repo_files("alice/tree", revision=first[:7]) == api.list_repo_files("alice/tree")
    old = {entry.path: entry for entry in api.list_repo_tree("alice/tree", recursive=True, revision=first)}
    assert old["ckpt/step1"].tree_id == tree["ckpt/step1"].tree_id  # a folder's oid follows its content
    assert old["ckpt"].tree_id != tree["ckpt"].tree_id
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files("alice/tree", revision="no-such-branch")

    assert api.file_exists("alice/tree", "ckpt/notes.txt")
    assert not api.file_exists("alice/tree", "missing.txt")
    path = hf_hub_download("alice/tree", "ckpt/step1/model.safetensors", revision=first)
    assert Path(path).read_bytes() == weights


def test_private_repo_download_needs_the_owners_token(fake_hub: FakeHub) -> None:
    fake_hub.put_files("alice/private-model", {"config.json": b'{"secret": true}'}, private=True)
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("alice/private-model")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/private-model", "config.json")
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("alice/private-model", token=BOB_TOKEN)
    snapshot = Path(snapshot_download("alice/private-model", token=ALICE_TOKEN))
    assert (snapshot / "config.json").read_bytes() == b'{"secret": true}'


def test_bad_token_is_a_plain_401(fake_hub: FakeHub) -> None:
    fake_hub.put_files("alice/public", {"config.json": b"{}"})
    with pytest.raises(HfHubHTTPError) as excinfo:
        HfApi(token="hf_not_a_real_token").model_info("alice/public")
    assert excinfo.value.response.status_code == 401
    assert not isinstance(excinfo.value, RepositoryNotFoundError)
    assert "Invalid credentials in Authorization header" in str(excinfo.value)
    with pytest.raises(HfHubHTTPError) as download:
        hf_hub_download("alice/public", "config.json", token="hf_not_a_real_token")
    assert download.value.response.status_code == 401


def test_corrupted_lfs_object_is_only_caught_by_a_sha256_check(fake_hub: FakeHub) -> None:
    weights = _safetensors(seed=1)
    fake_hub.put_files("alice/corrupt", {"model.safetensors": weights})
    fake_hub.corrupt_lfs("alice/corrupt", "model.safetensors")

    downloaded = Path(hf_hub_download("alice/corrupt", "model.safetensors")).read_bytes()  # size check only
    assert len(downloaded) == len(weights)
    assert downloaded != weights
    api = HfApi(token=False)
    info = api.model_info("alice/corrupt", files_metadata=True)
    (lfs,) = [sibling.lfs for sibling in info.siblings if sibling.rfilename == "model.safetensors"]
    tree = api.list_repo_tree("alice/corrupt", recursive=True)
    (entry,) = [entry for entry in tree if entry.path == "model.safetensors"]
    assert lfs.sha256 == entry.lfs.sha256 == _sha256(weights) != _sha256(downloaded)
    storage_gets = [path for method, path in fake_hub.request_log if method == "GET" and path.startswith("/lfs-object")]
    assert storage_gets == [f"/lfs-object/alice/corrupt/{_sha256(weights)}"]  # from the storage, not the hub


def test_offline_mode_serves_revisions_pulled_before(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = _safetensors(seed=3)
    first = fake_hub.put_files("alice/offline", {"config.json": b'{"v": 1}', "model.safetensors": weights})
    fake_hub.put_files("alice/offline", {"config.json": b'{"v": 2}'})
    pulled_first = snapshot_download("alice/offline", revision=first)
    pulled_main = snapshot_download("alice/offline")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    fake_hub.request_log.clear()
    assert snapshot_download("alice/offline", revision=first) == pulled_first
    assert snapshot_download("alice/offline") == pulled_main  # main -> commit through the cached refs/main
    assert (Path(pulled_first) / "model.safetensors").read_bytes() == weights
    with pytest.raises(LocalEntryNotFoundError):
        snapshot_download("alice/offline", revision="never-pulled")
    assert fake_hub.request_log == []


def test_unreachable_hub_falls_back_to_the_cache(fake_hub: FakeHub) -> None:
    fake_hub.put_files("alice/network", {"config.json": b"{}"})
    cached = hf_hub_download("alice/network", "config.json")
    port = urlsplit(fake_hub.endpoint).port
    fake_hub.set_offline(True)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert hf_hub_download("alice/network", "config.json") == cached
    finally:
        fake_hub.set_offline(False)
    assert urlsplit(fake_hub.endpoint).port == port
    assert HfApi(token=False).model_info("alice/network").id == "alice/network"


def test_error_codes(fake_hub: FakeHub) -> None:
    fake_hub.put_files("alice/errors", {"config.json": b"{}"})
    api = HfApi(token=ALICE_TOKEN)
    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/errors", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("alice/errors", "config.json", revision="no-such-branch")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("alice/errors", "missing.json")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("alice/nothing-here")

    api.create_tag("alice/errors", tag="v1")
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_tag("alice/errors", tag="v1")
    assert conflict.value.response.status_code == 409
    api.create_tag("alice/errors", tag="v1", exist_ok=True)
    with pytest.raises(RevisionNotFoundError):
        api.create_tag("alice/errors", tag="v2", revision="nope")

    head = api.model_info("alice/errors").sha
    with pytest.raises(RevisionNotFoundError):
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/errors", revision="no-branch")
    with pytest.raises(HfHubHTTPError) as to_a_tag:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/errors", revision="v1")
    assert to_a_tag.value.response.status_code == 400
    with pytest.raises(HfHubHTTPError) as forbidden:
        HfApi(token=BOB_TOKEN).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="alice/errors")
    assert forbidden.value.response.status_code == 403
    assert api.model_info("alice/errors").sha == head  # no refused commit moved main


def test_branches_and_pull_requests(fake_hub: FakeHub) -> None:
    fake_hub.put_files("alice/prs", {"config.json": b'{"v": 1}'})
    api = HfApi(token=ALICE_TOKEN)
    api.create_branch("alice/prs", branch="dev")
    api.upload_file(path_or_fileobj=b'{"v": "dev"}', path_in_repo="config.json", repo_id="alice/prs", revision="dev")
    pr = api.upload_file(
        path_or_fileobj=b'{"v": "pr"}', path_in_repo="config.json", repo_id="alice/prs", create_pr=True
    )
    assert (pr.pr_num, pr.pr_revision) == (1, "refs/pr/1")

    def read(revision: str) -> object:
        return json.loads(Path(hf_hub_download("alice/prs", "config.json", revision=revision)).read_text())

    assert (read("main"), read("dev"), read("refs/pr/1")) == ({"v": 1}, {"v": "dev"}, {"v": "pr"})
    refs = api.list_repo_refs("alice/prs")
    assert sorted(branch.name for branch in refs.branches) == ["dev", "main"]  # refs/pr/1 is not a branch
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_branch("alice/prs", branch="dev")
    assert exists.value.response.status_code == 409
    api.create_branch("alice/prs", branch="dev", exist_ok=True)
    second = api.upload_file(
        path_or_fileobj=b'{"v": "pr2"}', path_in_repo="config.json", repo_id="alice/prs", create_pr=True
    )
    assert second.pr_revision == "refs/pr/2"


def test_resolve_headers_and_signed_storage_urls(fake_hub: FakeHub) -> None:
    weights, config = _safetensors(seed=4), b'{"abc": 1}'
    oid = fake_hub.put_files("alice/raw", {"config.json": config, "model.safetensors": weights})
    request = _request

    resolve = f"{fake_hub.endpoint}/alice/raw/resolve"
    head, _ = request(f"{resolve}/main/config.json", "HEAD")
    assert head.status == 200
    assert head.headers["ETag"] == f'"{git_blob_sha1(config)}"'
    assert (head.headers["X-Repo-Commit"], head.headers["Content-Length"]) == (oid, "10")
    get, body = request(f"{resolve}/{oid[:7]}/config.json")
    assert (get.status, body, get.headers["X-Repo-Commit"]) == (200, config, oid)

    redirect, _ = request(f"{resolve}/main/model.safetensors", "HEAD")
    assert redirect.status == 302
    assert redirect.headers["X-Linked-Etag"] == f'"{_sha256(weights)}"'
    assert redirect.headers["X-Linked-Size"] == str(len(weights))
    location = redirect.headers["Location"]
    assert location.startswith(fake_hub.storage_endpoint + "/")
    assert request(location, Authorization=f"Bearer {ALICE_TOKEN}")[0].status == 400  # signed URL: no token
    assert request(location.replace("sig=", "sig=0"))[0].status == 403
    blob, body = request(location)
    assert (blob.status, body) == (200, weights)
    assert request(location, "PUT", body=b"x" * len(weights))[0].status == 404  # a download URL is no upload URL
    assert request(location)[1] == weights

    missing, _ = request(f"{resolve}/main/missing.txt", "HEAD")
    assert (missing.status, missing.headers["X-Error-Code"], missing.headers["X-Repo-Commit"]) == (
        404,
        "EntryNotFound",
        oid,
    )
    unknown, _ = request(f"{resolve}/nope/config.json", "HEAD")
    assert (unknown.status, unknown.headers["X-Error-Code"]) == (404, "RevisionNotFound")


def test_commits_refuse_what_the_hub_refuses(fake_hub: FakeHub) -> None:
    """Commits that the real client never sends, checked as the Hub checks them; main does not move."""
    head = fake_hub.put_files("alice/strict", {"config.json": b"{}"})
    url = f"{fake_hub.endpoint}/api/models/alice/strict/commit/main"
    auth = {"Authorization": f"Bearer {ALICE_TOKEN}", "Content-Type": "application/x-ndjson"}

    def commit(*operations: dict[str, Any]) -> tuple[int, str]:
        lines = [{"key": "header", "value": {"summary": "raw"}}, *operations]
        response, body = _request(url, "POST", "\n".join(json.dumps(line) for line in lines).encode(), **auth)
        return response.status, json.loads(body).get("error", "")

    binary = base64.b64encode(b"\0\1\2").decode()
    assert commit({"key": "file", "value": {"path": "w.dat", "content": binary, "encoding": "base64"}}) == (
        400,
        "Your push was rejected because w.dat is a binary file: use LFS",
    )
    never_uploaded = {"path": "w.safetensors", "algo": "sha256", "oid": _sha256(b"w"), "size": 1}
    assert commit({"key": "lfsFile", "value": never_uploaded})[0] == 400
    escaping = {"path": "../x.txt", "content": "", "encoding": "base64"}
    assert commit({"key": "file", "value": escaping})[0] == 400
    assert HfApi(token=False).model_info("alice/strict").sha == head
    assert commit({"key": "file", "value": {"path": "ok.txt", "content": "b2s=", "encoding": "base64"}})[0] == 200
    assert HfApi(token=False).model_info("alice/strict").sha != head


def test_what_fakehub_leaves_out_fails_loudly(fake_hub: FakeHub) -> None:
    """Hub features worldflux does not use answer 404 (route) or 501 (option), never made-up data."""
    fake_hub.put_files("alice/partial", {"ckpt/config.json": b"{}"})
    api = HfApi(token=ALICE_TOKEN)

    def status(call: Any, *args: Any, **kwargs: Any) -> int:
        with pytest.raises(HfHubHTTPError) as excinfo:
            call(*args, **kwargs)
        return excinfo.value.response.status_code

    assert status(api.create_repo, "alice/rollouts", repo_type="dataset") == 501
    assert status(list, api.list_repo_tree("alice/partial")) == 501  # not recursive
    assert status(list, api.list_repo_tree("alice/partial", recursive=True, path_in_repo="ckpt")) == 501
    assert status(list, api.list_repo_tree("alice/partial", recursive=True, expand=True)) == 501
    assert status(api.list_repo_refs, "alice/partial", include_pull_requests=True) == 501
    assert status(api.delete_file, "ckpt/config.json", "alice/partial") == 501
    parent = api.model_info("alice/partial").sha
    assert status(api.upload_file, path_or_fileobj=b"x", path_in_repo="x", repo_id="alice/partial",
                  parent_commit=parent) == 501
    assert status(api.whoami) == 404
    assert status(api.delete_repo, "alice/partial") == 404
    assert status(api.update_repo_settings, "alice/partial", private=True) == 404
    assert api.model_info("alice/partial").sha == parent


def test_client_imported_before_configure_env_is_retargeted() -> None:
    """If huggingface_hub is imported before `configure_env()`, the loaded client is re-pointed at the hub."""
    script = textwrap.dedent(
        """
        import socket

        real_connect = socket.socket.connect

        def loopback_only(sock, address):
            assert sock.family == socket.AF_UNIX or address[0] == "127.0.0.1", address
            real_connect(sock, address)

        socket.socket.connect = loopback_only

        import huggingface_hub  # reads HF_ENDPOINT (unset: huggingface.co) now
        from tests.hub import fixtures as hub_fixtures

        hub = hub_fixtures.configure_env()
        token = hub_fixtures.ALICE_TOKEN
        huggingface_hub.create_repo("alice/early", token=token)  # the module-level HfApi
        huggingface_hub.upload_file(path_or_fileobj=b"w" * 64, path_in_repo="w.bin", repo_id="alice/early", token=token)
        path = huggingface_hub.hf_hub_download("alice/early", "w.bin")
        assert open(path, "rb").read() == b"w" * 64
        assert path.startswith(huggingface_hub.constants.HF_HUB_CACHE)
        assert ("POST", "/api/repos/create") in hub.request_log
        assert any(path.startswith("/lfs-object/") for _, path in hub.request_log)
        """
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith(("HF_", "HUGGING"))}
    subprocess.run(
        [sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], env=env, check=True, timeout=60
    )
