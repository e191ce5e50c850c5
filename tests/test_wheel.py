"""The wheel carries presets/ and schemas/: build it, install it into a fresh venv, run it elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_wheel_installs_and_runs_from_another_directory(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(dist), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = dist.glob("worldflux-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q",
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr

    # Dependencies come from this environment's site-packages through PYTHONPATH, which (unlike a
    # site dir) does not run .pth files, so the editable install of the source tree stays invisible.
    site = sysconfig.get_paths()["purelib"]
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "PYTHONPATH": site, "NO_COLOR": "1", "HOME": str(tmp_path)}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(env_dir / "bin" / "worldflux"), *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=120)

    where = subprocess.run([str(py), "-c", "import worldflux_cli, sys; print(worldflux_cli.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(env_dir)), (where.stdout, where.stderr)  # the wheel, not the source tree
    made = run("new", "--model", "dreamer", "--size", "size50m", "-o", "c.json")
    assert made.returncode == 0, made.stderr
    data = json.loads((work / "c.json").read_text())
    schema_path = Path(data["$schema"].removeprefix("file://"))
    assert schema_path.is_file() and str(schema_path).startswith(str(env_dir))
    checked = run("validate", "c.json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert run("presets", "--format", "json").returncode == 0
    assert os.listdir(work) == ["c.json"]
