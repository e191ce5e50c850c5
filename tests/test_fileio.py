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
