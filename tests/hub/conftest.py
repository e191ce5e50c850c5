"""Helpers for the Hub tests: saved tiny models, logins, and what the FakeHub was asked."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.hub.fixtures import ALICE_TOKEN

FAMILIES = ("tdmpc2", "dreamer")
UPLOAD_MARKERS = ("/preupload/", "/commit/", "/lfs-upload/", "/info/lfs/objects", "/api/repos/create")


def save_tiny(family: str, directory: Path, seed: int = 0, **overrides) -> Path:
    """Build <family>:tiny (with overrides) seeded and save it with save_pretrained."""
    import torch

    from worldflux_cli.config.registry import FAMILIES as CLASSES
    from worldflux_cli.hub import save_pretrained
    from worldflux_cli.models import build_model

    config = CLASSES[family].from_size("tiny", **overrides)
    torch.manual_seed(seed)
    save_pretrained(build_model(config), config, directory)
    return directory


def uploads(hub) -> list[tuple[str, str]]:
    """Requests of the log that create, upload or commit something."""
    return [(m, p) for m, p in hub.request_log if m != "GET" and m != "HEAD" and any(k in p for k in UPLOAD_MARKERS)]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too), by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def one_line_error(stderr: str) -> str:
    """The error line of a failed command; asserts it is one line (+ one hint) and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("worldflux: error: ")]
    assert len(lines) == 1, stderr
    hints = [line for line in stderr.splitlines() if line.startswith("  hint: ")]
    assert len(hints) <= 1, stderr
    return lines[0]


@pytest.fixture(scope="session")
def saved(tmp_path_factory) -> dict[str, Path]:
    """family -> a folder written by save_pretrained (tiny preset, seed 0). Copy it before changing it."""
    root = tmp_path_factory.mktemp("saved")
    return {family: save_tiny(family, root / family) for family in FAMILIES}


@pytest.fixture
def copy_saved(saved, tmp_path):
    def copy(family: str = "tdmpc2", name: str | None = None) -> Path:
        dest = tmp_path / (name or f"{family}-copy")
        shutil.copytree(saved[family], dest)
        return dest

    return copy


@pytest.fixture
def alice(monkeypatch, fake_hub) -> str:
    """Logged in as alice (through HF_TOKEN, as a user would in CI)."""
    monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
    return ALICE_TOKEN


@pytest.fixture
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 for the rest of the test (huggingface_hub reads the constant at call time)."""
    from huggingface_hub import constants

    def go() -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    return go
