"""Interleaved A/B of the training step: an older checkout against this one, in kernel modes auto and plain.

Answers two questions with side-by-side figures only (this machine's speed drifts 10-35% within minutes,
so numbers from different minutes do not compare):

- does this code, in the default mode (``WORLDFLUX_KERNELS=auto``), run as fast as the older code?
- what do the hand-written kernels buy (``auto`` against ``plain``)?

For each case one worker process per variant is started (``before``: the older checkout, ``auto`` and
``plain``: this checkout in that mode), each with 2 threads, the glibc allocator tip of
benchmarks/bench_paired.py, the same model seed and the same batch. Each builds the step `worldflux bench
-w train` times (bench/workloads.py), checks the loss and gradient norm of one fixed step (printed: auto
must give the older code's numbers), runs its warm-up steps, and then waits. The driver then asks the
workers for one timed step at a time, variant after variant (the order rotating from round to round),
so that only one works at any moment and the variants see the same minutes of the machine.

The cases are those of benchmarks/paired/*.json: the DreamerV3 world-model step (B=16, T=64, 3x64x64
images, 4 actions) at size12m-like dims and at tiny dims with the CNN laid out as dreamerv3-torch's, and
the TD-MPC2 size-5 update (B=256, horizon 3).

Usage (from the repository root; the older code in a worktree of the commit to compare against):

    git worktree add /tmp/wf-before HEAD
    .venv/bin/python benchmarks/bench_kernels_ab.py --before /tmp/wf-before --rounds 3
    .venv/bin/python benchmarks/bench_kernels_ab.py --before /tmp/wf-before --cases tdmpc2-size5 --steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRED = ROOT / "benchmarks" / "paired"
THREADS = 2
#: The allocator tip of benchmarks/bench_paired.py: erratic step times on 2-vCPU machines without it.
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_MMAP_THRESHOLD_": "100000000000",
              "MALLOC_TOP_PAD_": "1000000000"}
#: case -> (batch, seq, warm-up steps, timed steps per round by default)
CASES = {"dreamer-12m-like-cnnmatch": (16, 64, 1, 3), "dreamer-tiny-cnnmatch": (16, 64, 2, 8),
         "dreamer-tiny": (16, 64, 2, 8), "tdmpc2-size5": (256, 3, 3, 8)}
DEFAULT_CASES = "dreamer-12m-like-cnnmatch,dreamer-tiny-cnnmatch,tdmpc2-size5"
SEED = 0


# ------------------------------------------------------------------------------------------ worker
def worker(code_root: str, case: str, seed: int) -> None:
    """Build the case's train step from the checkout at ``code_root``, report, then time one step per line
    read from stdin (``step``) until ``quit``."""
    sys.path.insert(0, code_root)
    import torch

    import worldflux_cli
    from worldflux_cli.bench.workloads import Context, prepare
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.models import build_model

    if not Path(worldflux_cli.__file__).resolve().is_relative_to(Path(code_root).resolve()):
        raise SystemExit(f"imported {worldflux_cli.__file__}, not the code under {code_root}")
    torch.set_num_threads(THREADS)
    batch_size, seq, warmup, _ = CASES[case]
    values = json.loads((PAIRED / f"{case}.json").read_text())
    config = FAMILIES[values["model_type"]].from_dict(values)
    torch.manual_seed(seed)
    model = build_model(config, "cpu", torch.float32)
    # one fixed step's loss and gradient norm: the numbers each variant computes
    gen = torch.Generator().manual_seed(seed)
    if config.family == "dreamer":
        batch = model.random_batch(batch_size, seq, generator=gen)
        torch.manual_seed(seed + 1)
        loss = model.world_model_loss(batch)[0]
    else:
        batch = model.random_batch(batch_size, generator=gen)
        torch.manual_seed(seed + 1)
        loss = model.loss(batch)[0]
    grads = torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad], allow_unused=True)
    grad_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads if g is not None])).item()
    torch.manual_seed(seed)
    ctx = Context(model, config.family, torch.device("cpu"), torch.float32, batch_size, seq, False, seed)
    wl = prepare(ctx, "train")
    for _ in range(warmup):
        wl.step()
    print(json.dumps({"loss": loss.item(), "grad_norm": grad_norm, "torch": torch.__version__,
                      "kernels": os.environ.get("WORLDFLUX_KERNELS", "(unset)")}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        t0 = time.perf_counter()
        wl.step()
        print(f"{time.perf_counter() - t0:.6f}", flush=True)


# ------------------------------------------------------------------------------------- kernels alone
def _op_cases():
    """(name, make) pairs: make() returns a function that runs one forward + backward of the op at a shape of
    the DreamerV3 steps above, through the model's own layer (so the kernel switch decides the path)."""
    import torch

    from worldflux_cli.config.dreamer import DreamerV3Config
    from worldflux_cli.models import build_model
    from worldflux_cli.models.dreamer import Conv
    from worldflux_cli.models.kernels import image_input as image_input_kernel
    from worldflux_cli.models.layers import RMSNorm, sigmoid_squared_error

    cl = torch.channels_last

    def layer(module, shape):
        def make():
            x = torch.randn(shape).contiguous(memory_format=cl).requires_grad_()
            def run():
                y = module(x)
                y.backward(torch.ones_like(y))
            return run
        return make

    def norm(channels, n, size):
        m = RMSNorm(channels, act=True)
        def make():
            x = torch.randn(n, channels, size, size).contiguous(memory_format=cl).requires_grad_()
            def run():
                m.channels(x).backward(torch.ones_like(x))
            return run
        return make

    def image_loss():
        logits = torch.randn(1024, 3, 64, 64).contiguous(memory_format=cl).requires_grad_()
        target = torch.rand(1024, 3, 64, 64)
        return lambda: sigmoid_squared_error(logits, target).backward()

    def image_input():  # (ImageEncoder.forward's first line, without the convolutions after it)
        obs = torch.rand(1024, 3, 64, 64)
        return lambda: (image_input_kernel.centred_channels_last(obs) if image_input_kernel.usable(obs)
                        else (obs - 0.5).contiguous(memory_format=cl))

    def rollout(dims):
        values = json.loads((PAIRED / f"{dims}.json").read_text())
        values.pop("model_type"), values.pop("model_name")
        torch.manual_seed(0)
        model = build_model(DreamerV3Config(**values))
        tokens = torch.randn(16, 64, model.encoder.out_dim, requires_grad=True)
        batch = model.random_batch(16, 64, generator=torch.Generator().manual_seed(0))
        def run():
            deter, stoch, logits = model.rssm.observe(tokens, batch["action"], batch["is_first"])
            (deter.sum() + stoch.sum() + logits.sum()).backward()
        return run

    return [
        ("RMSNorm+SiLU, 256 maps x 48 ch x 32x32 (12m-like encoder stage 1)", norm(48, 256, 32)),
        ("RMSNorm+SiLU, 1024 maps x 8 ch x 32x32 (tiny encoder stage 1, packed rows)", norm(8, 1024, 32)),
        ("image loss, 1024 x 3x64x64", image_loss),
        ("image input copy, 1024 x 3x64x64 (forward only)", image_input),
        ("Conv 192->384, 8x8->4x4, 1024 maps (GEMM form)", layer(Conv(192, 384, 4, 2), (1024, 192, 8, 8))),
        ("ConvUp 384->192, 4x4->8x8, 1024 maps (GEMM form)",
         layer(Conv(384, 192, 4, 2, transposed=True), (1024, 384, 4, 4))),
        ("ConvUp 48->3, 32x32->64x64, 512 maps (phase form)",
         layer(Conv(48, 3, 4, 2, transposed=True), (512, 48, 32, 32))),
        ("ConvUp 16->8, 16x16->32x32, 1024 maps (weight grad via conv)",
         layer(Conv(16, 8, 4, 2, transposed=True), (1024, 16, 16, 16))),
        ("posterior rollout, tiny dims, B=16 T=64", lambda: rollout("dreamer-tiny-cnnmatch")),
        ("posterior rollout, 12m-like dims, B=16 T=64", lambda: rollout("dreamer-12m-like-cnnmatch")),
    ]


def time_ops(reps: int) -> None:
    """Each kernel against its plain twin, through the model's layers, interleaved rep by rep (the order
    alternating), 2 threads; the ratio is the median over reps of plain / auto within the rep."""
    import torch

    from worldflux_cli.models import kernels

    torch.set_num_threads(THREADS)
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {THREADS} threads, {reps} reps, load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| op (forward + backward, fp32) | auto: median | plain: median | plain / auto: median (quartiles) |")
    print("|---|---|---|---|")
    for name, make in _op_cases():
        run = make()
        times: dict[str, list[float]] = {"auto": [], "plain": []}
        for mode in ("auto", "plain"):  # warm-up
            with kernels.use(mode):
                run()
        for r in range(reps):
            for mode in ("auto", "plain") if r % 2 == 0 else ("plain", "auto"):
                with kernels.use(mode):
                    t0 = time.perf_counter()
                    run()
                    times[mode].append(time.perf_counter() - t0)
        ratios = [p / a for a, p in zip(times["auto"], times["plain"], strict=True)]
        q1, q2, q3 = statistics.quantiles(ratios, n=4)
        print(f"| {name} | {statistics.median(times['auto']) * 1e3:.1f} ms | "
              f"{statistics.median(times['plain']) * 1e3:.1f} ms | {q2:.2f}x ({q1:.2f}–{q3:.2f}) |", flush=True)


# ------------------------------------------------------------------------------------------ driver
class Worker:
    def __init__(self, name: str, code_root: Path, case: str, mode: str | None) -> None:
        env = {**os.environ, **MALLOC_ENV, "OMP_NUM_THREADS": str(THREADS), "NO_COLOR": "1"}
        env.pop("PYTHONPATH", None)
        if mode is None:
            env.pop("WORLDFLUX_KERNELS", None)
        else:
            env["WORLDFLUX_KERNELS"] = mode
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker", str(code_root), "--cases", case],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def ready(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker {self.name} failed (exit {self.proc.wait()})")
        return json.loads(line)

    def step(self) -> float:
        self.proc.stdin.write("step\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker {self.name} failed (exit {self.proc.wait()})")
        return float(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def run_case(case: str, before: Path | None, rounds: int, steps: int | None) -> dict:
    specs = ([("before", before, None)] if before else []) + [("auto", ROOT, "auto"), ("plain", ROOT, "plain")]
    workers = []
    try:
        for name, code, mode in specs:  # started one after the other: the warm-ups do not overlap
            w = Worker(name, code, case, mode)
            workers.append(w)
            print(f"  {case} {name}: {w.ready()}", flush=True)
        steps = steps or CASES[case][3]
        times: dict[str, list[list[float]]] = {w.name: [] for w in workers}
        for r in range(rounds):
            order = workers[r % len(workers):] + workers[:r % len(workers)]
            for w in workers:
                times[w.name].append([])
            for _ in range(steps):
                for w in order:
                    times[w.name][r].append(w.step())
            print(f"  {case} round {r + 1}: " + ", ".join(f"{n} {statistics.median(t[r]):.3f} s"
                                                       for n, t in times.items()), flush=True)
        return times
    finally:
        for w in workers:
            w.close()


def ratio(a: list[list[float]], b: list[list[float]]) -> tuple[float, list[float]]:
    """Median over all pairs of step i of a / step i of b (same round, adjacent in time), and per round."""
    per_round = [statistics.median(x / y for x, y in zip(ra, rb, strict=True)) for ra, rb in zip(a, b, strict=True)]
    every = [x / y for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True)]
    return statistics.median(every), per_round


def _reexec_with_malloc_env() -> None:
    """Run this command again with the allocator tip in the environment (glibc reads it at start-up)."""
    os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], {**os.environ, **MALLOC_ENV})


def _cell(times: dict, name: str) -> str:
    flat = [t for r in times.get(name, []) for t in r]
    return f"{statistics.median(flat):.3f} ({min(flat):.3f}–{max(flat):.3f})" if flat else "–"


def _ratio_cell(times: dict, a: str, b: str) -> str:
    if a not in times or b not in times:
        return "–"
    med, per = ratio(times[a], times[b])
    return f"**{med:.3f}** ({' / '.join(f'{x:.3f}' for x in per)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="a checkout of the older code (e.g. a git worktree of HEAD)")
    ap.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated, from: {', '.join(CASES)}")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per variant per round (default per case)")
    ap.add_argument("--ops", type=int, metavar="REPS", help="time each kernel against its plain twin alone, "
                    "REPS interleaved repetitions (this checkout only), and exit")
    ap.add_argument("--worker", metavar="CODE_ROOT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ops:
        if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
            _reexec_with_malloc_env()
        time_ops(args.ops)
        return
    if args.worker:
        worker(args.worker, args.cases, SEED)
        return
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {THREADS} threads, load average {os.getloadavg()[0]:.2f}; "
          f"before = {args.before or '(not run)'}", flush=True)
    results = {case: run_case(case, args.before, args.rounds, args.steps) for case in cases}
    print(f"\nfinished {time.strftime('%H:%M:%S')}, load average {os.getloadavg()[0]:.2f}\n")
    print("| case | steps per variant | before: median (range) | auto: median (range) | plain: median (range) "
          "| auto / before (per round) | plain / auto (per round) |")
    print("|---|---|---|---|---|---|---|")
    for case, times in results.items():
        n = sum(len(r) for r in times["auto"])
        print(f"| {case} | {n} | {_cell(times, 'before')} | {_cell(times, 'auto')} | {_cell(times, 'plain')} "
              f"| {_ratio_cell(times, 'auto', 'before')} | {_ratio_cell(times, 'plain', 'auto')} |")

if __name__ == "__main__":
    main()
