#!/usr/bin/env bash
# Create .venv (if missing) and install worldflux with its test and documentation tools and its environments.
# Sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
# torch first, pinned: 2.13.0 is the CPU build this project is tested with; an open range would
# pull a multi-GB CUDA build.
python -m pip install -q --disable-pip-version-check torch==2.13.0
# envs: dm_control, mujoco, gymnasium and the video writers, pinned in pyproject.toml (tests/envs and
# tests/training run real environments); dev brings tensorboard, whose event files tests/training reads.
python -m pip install -q --disable-pip-version-check -e ".[dev,docs,envs]"
