"""Options shared by several commands, declared once."""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated

import typer


class Format(str, Enum):
    text = "text"
    json = "json"


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)]


#: Ranges of numeric options, checked before use (typer prints the range when a value is outside it).
MAX_SEED = 2**63 - 1
MAX_BATCH = 1 << 20
MAX_SEQ = 1 << 16
MAX_STEPS = 1_000_000
MAX_THREADS = max(8, 4 * (os.cpu_count() or 1))  # oversubscribing past this only hurts; far past it, crashes
MAX_NPROC = max(8, 4 * (os.cpu_count() or 1))

SeedOpt = Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED, help="Seed of the weight initialisation.")]
ForceMemoryOpt = Annotated[bool, typer.Option("--force-memory", help="Build the model even when the memory "
                                              "estimate is over the device's free memory.")]
