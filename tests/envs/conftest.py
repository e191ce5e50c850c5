"""tests/envs builds real environments: skipped as a whole only when the envs extra is not installed.

A library that is installed but broken (e.g. dm_control with a mujoco it does not work with) fails these
tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util

import pytest

from worldflux_cli.envs.libraries import configure_mujoco_gl

MISSING = [name for name in ("dm_control", "mujoco", "gymnasium") if importlib.util.find_spec(name) is None]

# The tests import dm_control themselves (to compare with it): headless rendering is set up first, as
# worldflux does before its own import.
configure_mujoco_gl()


def pytest_collection_modifyitems(config, items):
    if MISSING:
        skip = pytest.mark.skip(reason=f"the envs extra is not installed ({', '.join(MISSING)} missing): "
                                       'pip install "worldflux[envs]"')
        for item in items:
            if "tests/envs/" in str(item.fspath).replace("\\", "/"):
                item.add_marker(skip)
