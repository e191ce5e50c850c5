"""The failures of building an environment, each a WorldfluxError with its exit code (2: could not run)."""

from __future__ import annotations

from worldflux_cli.errors import WorldfluxError

#: What to install for the environments (the extra pins versions that work together).
INSTALL_HINT = 'pip install "worldflux[envs]"'


class EnvError(WorldfluxError):
    """An environment could not be built; ``code`` is its problem code when it is reported in a file."""

    code = "WF435"


class EnvsUnavailable(EnvError):
    """The environment libraries (dm_control, mujoco, gymnasium) are not installed or do not import."""


class UnknownEnv(EnvError):
    """No such dm_control task or gymnasium id (the hint names the closest one)."""

    code = "WF433"


class UnsupportedEnv(EnvError):
    """The environment exists but worldflux cannot wrap it (e.g. dict observations, unbounded actions)."""
