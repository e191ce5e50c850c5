"""Our side of the paired CPU comparisons: `worldflux bench -w train` at the configurations of issue 4.

Runs the same harness users run, on 2 threads, with glibc's allocator told to keep memory (the
tip in shared/model-facts.md), and prints our step times. The public implementations are not
run here (their code is not part of this repository): the drivers in benchmarks/paired/ time them
step by step beside ours from a checkout the user fetched, and benchmarks/RESULTS.md records those
ratios, which are the figures that count. The cases:

- DreamerV3 world-model step, B=16, T=64, 3x64x64, 4 discrete actions, at size12m-like dims
  (deter 2048, 16x16 stoch, hidden 256, MLP units 256, cnn depth 48) and at tiny dims (deter 64,
  4x4, hidden 32, cnn depth 8). Each three times:
  - the house CNN (official DreamerV3: kernel 5, multipliers 2,3,4,4) in the official form (stride-1
    convolution + 2x2 max-pool, nearest upsample + convolution; `dreamer-12m-like`, `dreamer-tiny`);
  - the same in the official 'strided' form (`"cnn_strided": true`; `-strided`);
  - "cnnmatch", the CNN laid out as dreamerv3-torch lays it out (kernel 4, multipliers 1,2,4,8,
    strided) with its world-model optimizer (Adam lr 1e-4, eps 1e-8, clip 1000, no warm-up) and no
    replay context: the pairing with NM512/dreamerv3-torch (benchmarks/paired/driver_dreamerv3_torch.py).
- TD-MPC2 official size 5 (latent 512, mlp 512, enc 256 x 2 layers, 5 Qs; 4.96M trainable),
  B=256, horizon 3, episode length 500 (discount 0.99): the pairing with the official TD-MPC2
  (benchmarks/paired/driver_tdmpc2.py).

Usage (from the repository root, venv active):

    python benchmarks/bench_paired.py                      # all cases, 5 timed steps each
    python benchmarks/bench_paired.py --cases tdmpc2-size5 --steps 10
    python benchmarks/bench_paired.py --rounds 2           # interleave cases, median of rounds
    python benchmarks/bench_paired.py --profile dreamer-12m-like   # top ops of one step
    python benchmarks/bench_paired.py --rounds 2 --from-results     # the table of the last run again

Each case's exact command is printed; its JSON result goes to benchmarks/paired/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRED = ROOT / "benchmarks" / "paired"

#: The allocator tip of shared/model-facts.md: erratic step times on 2-vCPU machines without it.
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_MMAP_THRESHOLD_": "100000000000",
              "MALLOC_TOP_PAD_": "1000000000"}
THREADS = 2

_DREAMER_12M = dict(obs_shape=[3, 64, 64], action_dim=4, action_type="discrete", deter_dim=2048, hidden_dim=256,
                    stoch_discrete=16, stoch_classes=16, mlp_units=256, cnn_depth=48)
_DREAMER_TINY = dict(obs_shape=[3, 64, 64], action_dim=4, action_type="discrete", deter_dim=64, hidden_dim=32,
                     stoch_discrete=4, stoch_classes=4, gru_blocks=4, mlp_units=32, cnn_depth=8)
#: dreamerv3-torch's CNN: kernel 4, multipliers 1,2,4,8, stride-2 convolutions (our official 'strided' form,
#: padded as JAX's SAME pads, which for kernel 4 is their symmetric padding of 1) and transposed ones.
_CNN_MATCH = dict(cnn_multipliers=[1, 2, 4, 8], cnn_kernels=[4, 4, 4, 4], cnn_strided=True)
#: dreamerv3-torch's world-model optimizer: Adam lr 1e-4, eps 1e-8, global-norm clip 1000, no warm-up; no
#: replay context (their sequences start from zeros).
_PEER_OPT = dict(optimizer="adam", learning_rate=1e-4, optimizer_eps=1e-8, grad_clip=1000.0, warmup_steps=0,
                 replay_context=0)


@dataclass
class Case:
    name: str
    config: dict
    batch: int
    seq: int
    warmup: int = 2
    extra: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return PAIRED / f"{self.name}.json"


CASES = [
    Case("dreamer-12m-like", {"model_type": "dreamer", "model_name": "paired-12m-like", **_DREAMER_12M}, 16, 64,
         warmup=1),
    Case("dreamer-12m-like-strided", {"model_type": "dreamer", "model_name": "paired-12m-like-strided",
                                      **_DREAMER_12M, "cnn_strided": True}, 16, 64, warmup=1),
    Case("dreamer-12m-like-cnnmatch", {"model_type": "dreamer", "model_name": "paired-12m-like-cnnmatch",
                                       **_DREAMER_12M, **_CNN_MATCH, **_PEER_OPT}, 16, 64, warmup=1),
    Case("dreamer-tiny", {"model_type": "dreamer", "model_name": "paired-tiny", **_DREAMER_TINY}, 16, 64),
    Case("dreamer-tiny-strided", {"model_type": "dreamer", "model_name": "paired-tiny-strided", **_DREAMER_TINY,
                                  "cnn_strided": True}, 16, 64),
    Case("dreamer-tiny-cnnmatch", {"model_type": "dreamer", "model_name": "paired-tiny-cnnmatch", **_DREAMER_TINY,
                                   **_CNN_MATCH, **_PEER_OPT}, 16, 64),
    Case("tdmpc2-size5", {"model_type": "tdmpc2", "model_name": "paired-official-size5", "obs_shape": [39],
                          "action_dim": 6, "latent_dim": 512, "hidden_dim": 512, "encoder_dim": 256,
                          "num_encoder_layers": 2, "num_hidden_layers": 2, "num_q_networks": 5, "horizon": 3,
                          "episode_length": 500},
         256, 3),
]


def write_config(case: Case) -> None:
    text = json.dumps(case.config, indent=2) + "\n"
    PAIRED.mkdir(parents=True, exist_ok=True)
    if not case.path.exists() or case.path.read_text() != text:
        case.path.write_text(text)


def command(case: Case, steps: int, out: Path) -> list[str]:
    rel = case.path.relative_to(ROOT)
    return ["worldflux", "bench", str(rel), "-w", "train", "--device", "cpu", "--threads", str(THREADS),
            "--batch", str(case.batch), "--seq", str(case.seq), "--steps", str(steps), "--warmup",
            str(case.warmup), "--format", "json", "-o", str(out.relative_to(ROOT)), "--force", *case.extra]


def env() -> dict[str, str]:
    return {**os.environ, **MALLOC_ENV, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def wait_idle(threshold: float, timeout: float) -> float:
    """Wait (up to ``timeout`` s) until the 1-minute load average is below ``threshold``; the load then."""
    start = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() - start < timeout:
        time.sleep(5)
    return os.getloadavg()[0]


def run_case(case: Case, steps: int, round_: int) -> dict:
    out = PAIRED / "results" / f"{case.name}.r{round_}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = command(case, steps, out)
    shown = " ".join(f"{k}={v}" for k, v in MALLOC_ENV.items()) + " " + " ".join(cmd)
    print(f"$ {shown}", flush=True)
    proc = subprocess.run([sys.executable, "-m", "worldflux_cli", *cmd[1:]], cwd=ROOT, env=env(),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{case.name} failed (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(out.read_text())


def profile(case: Case, steps: int) -> None:
    """Top ops of the train step (torch.profiler), in a child process with the allocator tip."""
    if os.environ.get("_PAIRED_CHILD") != "1":
        write_config(case)
        child = subprocess.run([sys.executable, __file__, "--profile", case.name, "--steps", str(steps)],
                               env={**env(), "_PAIRED_CHILD": "1"}, cwd=ROOT)
        raise SystemExit(child.returncode)
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from worldflux_cli.bench.workloads import Context, prepare
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.models import build_model

    torch.set_num_threads(THREADS)
    config = FAMILIES[case.config["model_type"]].from_dict(case.config)
    torch.manual_seed(0)
    model = build_model(config)
    ctx = Context(model, config.family, torch.device("cpu"), torch.float32, case.batch, case.seq, False, 0)
    wl = prepare(ctx, "train")
    for _ in range(case.warmup):
        wl.step()
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        for _ in range(steps):
            wl.step()
    print(f"{case.name}: torch.profiler over {steps} train step(s), {THREADS} threads")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(c.name for c in CASES), help="comma-separated case names")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run (default 5)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the median of their medians counts")
    ap.add_argument("--profile", metavar="CASE", help="print the top ops of one train step of CASE and exit")
    ap.add_argument("--wait-idle", type=float, metavar="LOAD", default=None,
                    help="before each case wait (up to 10 min) until the 1-min load average is below LOAD")
    ap.add_argument("--from-results", action="store_true",
                    help="print the table from the JSON results of an earlier run instead of running")
    args = ap.parse_args()
    by_name = {c.name: c for c in CASES}
    if args.profile:
        profile(by_name[args.profile], max(1, min(args.steps, 3)))
        return
    cases = [by_name[n.strip()] for n in args.cases.split(",") if n.strip()]
    for case in cases:
        write_config(case)
    medians: dict[str, list[float]] = {c.name: [] for c in cases}
    p90s: dict[str, list[float]] = {c.name: [] for c in cases}
    loads: dict[str, list[float]] = {c.name: [] for c in cases}
    results: dict[str, dict] = {}
    for r in range(args.rounds):
        for case in cases:
            if args.wait_idle is not None and not args.from_results:
                print(f"  load average before {case.name}: {wait_idle(args.wait_idle, 600):.2f}", flush=True)
            if args.from_results:
                res = json.loads((PAIRED / "results" / f"{case.name}.r{r}.json").read_text())
            else:
                res = run_case(case, args.steps, r)
            results[case.name] = res
            medians[case.name].append(res["workloads"]["train"]["median_s"])
            p90s[case.name].append(res["workloads"]["train"]["p90_s"])
            loads[case.name].append((res["environment"]["load_average"] or [float("nan")])[0])
            w = res["workloads"]["train"]
            print(f"  {case.name}: median {w['median_s']:.3f} s, p90 {w['p90_s']:.3f} s, "
                  f"{res['params']['trainable']:,} trainable params", flush=True)
    env_ = next(iter(results.values()))["environment"]
    print(f"\ntorch {env_['torch']}, {env_['device_name']}, {env_['threads']} threads, "
          f"malloc tip {'on' if env_['malloc_env'] else 'OFF'}, {args.rounds} round(s) x {args.steps} steps")
    print("| case | params (trainable) | FLOP per step | median step | per-round medians | worst p90 "
          "| load avg at start |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        ours = statistics.median(medians[case.name])
        rounds = " / ".join(f"{m:.3f}" for m in medians[case.name])
        w = results[case.name]["workloads"]["train"]
        print(f"| {case.name} | {results[case.name]['params']['trainable'] / 1e6:.2f}M | "
              f"{w['flops_per_step'] / 1e9:.1f} G | {ours:.3f} s | {rounds} | {max(p90s[case.name]):.3f} s | "
              f"{max(loads[case.name]):g} |")
    print("\nThe public implementations' paired figures: benchmarks/RESULTS.md.")

if __name__ == "__main__":
    main()
