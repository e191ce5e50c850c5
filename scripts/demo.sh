#!/usr/bin/env bash
# Set up (if needed), then the main job: create, validate, diff, inspect and bench a config on the CPU.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
set -x
worldflux presets
worldflux new --model dreamer --size tiny --obs-shape 3,64,64 --action-dim 6 -o "$out/dreamer-tiny.json"
worldflux validate "$out/dreamer-tiny.json"
worldflux diff "$out/dreamer-tiny.json" dreamer:tiny || true   # exit 1 means "different"
worldflux info "$out/dreamer-tiny.json"
worldflux bench "$out/dreamer-tiny.json" --device cpu --batch 4 --seq 16 --steps 3 --warmup 1
worldflux new --model tdmpc2 --size tiny -o "$out/tdmpc2-tiny.json"
worldflux bench "$out/tdmpc2-tiny.json" --device cpu --batch 32 --steps 3 --warmup 1 --workloads train,plan
