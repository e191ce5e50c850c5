"""Checked once per construction: the machinery the model configs and the run-file sections share.

A config (``WorldModelConfig`` and its subclasses) or a section (``TrainingConfig``, ``EnvConfig``) is
checked by the one check (``worldflux_cli.config.check``) when it is constructed, whichever way:
the constructor and ``dataclasses.replace`` check in ``__post_init__``; ``from_dict`` checks the dict,
then constructs inside ``already_checked()`` so the check does not run twice; ``from_checked`` is for
values the validation pipeline has just checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar

from worldflux_cli.config import check as _check
from worldflux_cli.config.errors import ConfigurationError
from worldflux_cli.config.names import SCHEMA_KEY

T = TypeVar("T", bound="CheckedOnce")

#: True while a constructor runs on values that were checked just before.
_ALREADY_CHECKED: ContextVar[bool] = ContextVar("worldflux_config_already_checked", default=False)


@contextmanager
def already_checked() -> Iterator[None]:
    """Within this block, constructing a config or section does not check it: its values were just checked."""
    token = _ALREADY_CHECKED.set(True)
    try:
        yield
    finally:
        _ALREADY_CHECKED.reset(token)


def check_skipped() -> bool:
    """True inside ``already_checked()``."""
    return _ALREADY_CHECKED.get()


class CheckedOnce:
    """Mixin of the checked dataclasses: ``_raise_if_invalid`` and ``from_checked``."""

    #: Name for messages ("invalid DreamerV3 config").
    family_title: ClassVar[str] = "config"
    #: Where the user finds every problem with its line (the hint of ConfigurationError).
    check_hint: ClassVar[str] = "run `worldflux validate FILE` on its file for each problem's line and hint"

    def _check_on_construction(self, values: dict[str, Any]) -> None:
        """Called by ``__post_init__`` with the constructed values: the check, unless just done."""
        if not _ALREADY_CHECKED.get():
            self._raise_if_invalid(values)

    @classmethod
    def _raise_if_invalid(cls, values: dict[str, Any]) -> None:
        """The one check of ``values`` as this class; ConfigurationError listing every error."""
        problems = _check.errors_of(_check.check_values(values, cls))
        if problems:
            raise ConfigurationError(f"invalid {cls.family_title} config", problems, cls.check_hint)

    @classmethod
    def from_checked(cls: type[T], values: dict[str, Any]) -> T:
        """Construct from ``values`` (a JSON-shaped dict) that the check has just found valid for this class.

        For the validation pipeline, which has checked the document already: the check is not run twice.
        A ``"$schema"`` key is ignored. Anything else should use ``from_dict``.

        Args:
            values: Field values, as in a config file.

        Returns:
            The constructed instance.
        """
        with already_checked():
            return cls(**{k: v for k, v in values.items() if k != SCHEMA_KEY})
