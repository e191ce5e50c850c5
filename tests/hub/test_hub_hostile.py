"""push uploads only regular files that really lie inside the folder (see also tests/test_hostile.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def _saved_folder(cli, tmp_path: Path) -> Path:
    out = tmp_path / "model"
    assert cli("save", "tdmpc2:tiny", "-o", str(out)).exit_code == 0
    return out


def test_push_refuses_links_that_leave_the_folder(cli, tmp_path, fake_hub, alice):
    out = _saved_folder(cli, tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    (out / "notes.txt").symlink_to(secret)
    r = cli("push", str(out), "--repo", "alice/leak")
    assert r.exit_code == 1 and "notes.txt" in r.stderr and "outside" in r.stderr
    assert not [p for m, p in fake_hub.request_log if m == "POST" and "/commit/" in p]
    (out / "notes.txt").unlink()
    (out / "data").symlink_to(tmp_path, target_is_directory=True)
    r = cli("push", str(out), "--repo", "alice/leak")
    assert r.exit_code == 1 and "data/" in r.stderr
    (out / "data").unlink()
    os.mkfifo(out / "pipe")
    r = cli("push", str(out), "--repo", "alice/leak")
    assert r.exit_code == 1 and "pipe" in r.stderr and "not regular files" in r.stderr
    assert not [p for m, p in fake_hub.request_log if m == "POST" and "/commit/" in p]


def test_push_uploads_a_link_inside_the_folder_once(cli, tmp_path, fake_hub, alice):
    out = _saved_folder(cli, tmp_path)
    (out / "extra.md").write_text("notes")
    (out / "alias.md").symlink_to(out / "extra.md")
    r = cli("push", str(out), "--repo", "alice/inside", "--format", "json")
    assert r.exit_code == 0, r.output
    files = json.loads(r.stdout)["files"]
    assert "extra.md" in files and "alias.md" not in files and "uploaded once" in r.stderr
