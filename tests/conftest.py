"""Shared test fixtures: the CLI runner and the example-config folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "examples"

os.environ.setdefault("NO_COLOR", "1")

# The loopback Hub server and the client environment (set before huggingface_hub is imported).
pytest_plugins = ["tests.hub.fixtures"]


@pytest.fixture
def cli():
    """Run the CLI in-process: cli('validate', 'x.json') -> click Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from worldflux_cli.cli.app import app

    runner = CliRunner()

    def run(*args: str, input: str | bytes | None = None):
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run
