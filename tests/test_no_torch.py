"""Commands that only read configs never import torch (nor the Hub client, nor the environments): pinned here."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, ROOT

HEAVY = ("torch", "huggingface_hub", "safetensors", "numpy", "dm_control", "mujoco", "gymnasium")

SCRIPT = """
import sys
from worldflux_cli.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY=" + ",".join(heavy))
"""


@pytest.mark.parametrize("args", [
    ["--help"],
    ["new", "--help"],
    ["new", "-m", "dreamer", "-s", "size200m"],
    ["validate", str(EXAMPLES / "valid" / "tdmpc2-vector.json")],
    ["validate", str(EXAMPLES / "invalid" / "WF205-preset-dims.json")],
    ["diff", "dreamer:size12m", "dreamer:size200m"],
    ["presets"],
    ["schema", "dreamer"],
    ["info", "dreamer:size200m"],
    ["info", "tdmpc2:317m", "--format", "json"],
    ["validate", "--help"],
    ["new", "-m", "tdmpc2", "-s", "5m"],
    ["validate", str(EXAMPLES / "valid" / "run-tdmpc2-walker.json")],
    ["validate", str(EXAMPLES / "valid" / "run-dreamer-preset-env-string.json")],
    ["validate", str(EXAMPLES / "invalid" / "WF420-run-env-suite.json")],
    ["diff", str(EXAMPLES / "valid" / "run-tdmpc2-walker.json"), str(EXAMPLES / "valid" / "run-tdmpc2-walker.json")],
    ["schema", "run"],
    ["info", str(EXAMPLES / "valid" / "run-tdmpc2-walker.json")],
    ["train", "--help"],
    ["eval", "--help"],
], ids=lambda a: " ".join(a)[:40])
def test_config_commands_do_not_import_torch(args, tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(heavy=HEAVY), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT),
                                                                          "PATH": "/usr/bin:/bin",
                                                                          "NO_COLOR": "1"})
    assert "HEAVY=" in proc.stdout, proc.stderr
    assert proc.stdout.rsplit("HEAVY=", 1)[1].strip() == "", f"{args} imported {proc.stdout.rsplit('HEAVY=', 1)[1]}"
    assert "Traceback" not in proc.stderr
