"""The Hub support costs nothing until used: no huggingface_hub, safetensors or torch on the config paths."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, ROOT

HEAVY = ("torch", "huggingface_hub", "safetensors", "httpx2", "httpx")

CLI = """
import sys
from worldflux_cli.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""

API = """
import sys
import worldflux_cli, worldflux_cli.hub, worldflux_cli.hub.refs, worldflux_cli.hub.errors, worldflux_cli.hub.card
from worldflux_cli.sources import read_source
read_source({example!r})
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def _heavy(script: str, *args: str, cwd) -> str:
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    assert "HEAVY=" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout.rsplit("HEAVY=", 1)[1].strip()


VALID = str(EXAMPLES / "valid" / "tdmpc2-vector.json")


@pytest.mark.parametrize("args", [
    ["--help"],
    ["save", "--help"],
    ["push", "--help"],
    ["pull", "--help"],
    ["validate", VALID],
    ["diff", VALID, str(EXAMPLES / "valid" / "tdmpc2-image.json")],
    ["pull", "not a repo"],
    ["push", "/nonexistent/folder", "--repo", "alice/x"],
], ids=lambda a: " ".join(a)[:40])
def test_commands_do_not_import_the_hub_client(args, tmp_path):
    assert _heavy(CLI.format(heavy=HEAVY), *args, cwd=tmp_path) == "", args


def test_importing_the_hub_package_is_light(tmp_path):
    assert _heavy(API.format(heavy=HEAVY, example=VALID), cwd=tmp_path) == ""


def test_help_documents_exit_codes_and_examples(cli):
    for command in ("save", "push", "pull"):
        text = cli(command, "--help").stdout
        assert "Exit code 0" in text and "Examples" in text, command
    assert "--create-pr" in cli("push", "--help").stdout and "--config-only" in cli("pull", "--help").stdout
