"""Importing the environment libraries: the extra's check, and headless rendering set up first.

MuJoCo picks its OpenGL backend when it is imported, from ``MUJOCO_GL``. Unless the user set it,
:func:`configure_mujoco_gl` sets it before that import: ``egl`` when libEGL is present (headless,
no display; measured to work on CPU-only machines with Mesa), else ``osmesa`` when libOSMesa is (software
rendering), else it is left unset (MuJoCo then tries GLFW, which needs a display).
"""

from __future__ import annotations

import ctypes.util
import importlib
import os
import sys
from typing import Any

from worldflux_cli.envs.errors import INSTALL_HINT, EnvsUnavailable

#: The extra's pins, for messages (pyproject.toml's `envs` extra is the source).
PINNED = "dm-control 1.0.50 with mujoco 3.17.0, gymnasium 1.4.0"


def configure_mujoco_gl() -> str | None:
    """Set ``MUJOCO_GL`` for headless rendering unless it is set; returns the backend in force (or None).

    Has no effect once mujoco is imported (it has chosen its backend by then).
    """
    if "MUJOCO_GL" in os.environ or "mujoco" in sys.modules:
        return os.environ.get("MUJOCO_GL")
    for backend, library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(library):
            os.environ["MUJOCO_GL"] = backend
            return backend
    return None


def import_module(name: str, suite: str) -> Any:
    """Import one of the extra's libraries; EnvsUnavailable (exit code 2) naming the extra when it fails."""
    if suite == "dmc":
        configure_mujoco_gl()
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise EnvsUnavailable(f"{suite}:* environments need {exc.name or name}, which is not installed",
                              INSTALL_HINT) from None
    except Exception as exc:  # a library that is there but broken (e.g. versions that do not work together)
        raise EnvsUnavailable(f"{name} could not be imported: {type(exc).__name__}: {exc}",
                              f"{INSTALL_HINT} (it pins {PINNED}, which work together)") from None
