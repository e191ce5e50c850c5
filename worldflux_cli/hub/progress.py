"""huggingface_hub's transfer progress bars: shown on a terminal, off otherwise (logs, pipes, CI)."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def progress_bars(enabled: bool | None = None) -> Iterator[None]:
    """Within the block, turn huggingface_hub's bars off unless ``enabled`` (default: stderr is a terminal).

    Never turns them on against HF_HUB_DISABLE_PROGRESS_BARS; restores the previous state on exit.
    """
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if enabled is None:
        enabled = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    if enabled or are_progress_bars_disabled():
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        disable_progress_bars()
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enable_progress_bars()
