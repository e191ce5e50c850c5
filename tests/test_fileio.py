"""Atomic writes: whole files only, usual permissions, nothing left behind on failure."""

from __future__ import annotations

import os

import pytest

from worldflux_cli.fileio import write_atomic


def test_new_file_gets_umask_permissions_and_old_file_keeps_its_own(tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.json"
        write_atomic(new, "{}")
        assert new.read_text() == "{}" and new.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.json"
        kept.write_text("old")
        kept.chmod(0o640)
        write_atomic(kept, b"new")
        assert kept.read_bytes() == b"new" and kept.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_failure_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "c.json"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_atomic_path_renames_a_finished_file_into_place_and_removes_a_failed_one(tmp_path):
    from worldflux_cli.fileio import atomic_path, new_file_mode

    target = tmp_path / "video.mp4"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target, suffix=".mp4") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp != target
        tmp.write_bytes(b"half")
        raise RuntimeError("the encoder died")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]
    fresh = tmp_path / "new.gif"
    with atomic_path(fresh, suffix=".gif") as tmp:
        tmp.write_bytes(b"whole")
        assert not fresh.exists()  # nothing there until the block ends
    assert fresh.read_bytes() == b"whole" and (fresh.stat().st_mode & 0o777) == new_file_mode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.gif", "video.mp4"]
