"""tests/training: skipped as a whole only when the envs extra is not installed (as tests/envs)."""

from __future__ import annotations

import importlib.util

import pytest

MISSING = [name for name in ("gymnasium",) if importlib.util.find_spec(name) is None]


def pytest_collection_modifyitems(config, items):
    if MISSING:
        skip = pytest.mark.skip(reason='the envs extra is not installed: pip install "worldflux[envs]"')
        for item in items:
            if "tests/training/" in str(item.fspath).replace("\\", "/"):
                item.add_marker(skip)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
