"""`worldflux bench`: build the real PyTorch model of a config and measure it."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import (
    MAX_BATCH,
    MAX_NPROC,
    MAX_SEED,
    MAX_SEQ,
    MAX_STEPS,
    MAX_THREADS,
    ForceMemoryOpt,
    Format,
    FormatOpt,
)
from worldflux_cli.errors import WorldfluxError


class Dtype(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


def _load_old(path: Path) -> dict:
    from worldflux_cli.bench.results import check_contract

    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorldfluxError(f"no such file: {path}",
                             "--compare takes a result written by `worldflux bench -o`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WorldfluxError(f"cannot read {path}: {exc}", "--compare takes a result written by `worldflux bench -o`"
                       ) from None
    problems = check_contract(old)
    if problems:
        raise WorldfluxError(f"{path} is not a worldflux bench result ({problems[0]})",
                       "--compare takes a result written by `worldflux bench -o`")
    return old


class _RichProgress:
    """A rich progress bar on stderr: one task per workload."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.task = None
        self.bar.start()

    def note(self, text: str) -> None:
        self._replace(text, None)

    def start(self, workload: str, total: int) -> None:
        self._replace(f"bench {workload}", total)

    def _replace(self, text: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
        self.task = self.bar.add_task(text, total=total)

    def advance(self) -> None:
        if self.task is not None:
            self.bar.advance(self.task)

    def stop(self) -> None:
        self.bar.stop()


@guarded
def bench(
    config: Annotated[str | None, typer.Argument(help="Config: a file, '-', a preset id (dreamer:tiny) or "
                                                      "hf://ORG/NAME or hf://ORG/NAME@REV. Or use --model and --size.",
                                                 show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model family of a preset: dreamer or "
                                              "tdmpc2 (with --size).", show_default=False)] = None,
    size: Annotated[str | None, typer.Option("--size", "-s", help="Size preset, e.g. tiny, size12m, 5m.",
                                             show_default=False)] = None,
    device: Annotated[str | None, typer.Option("--device", "-d", help="cpu, cuda, cuda:N, or auto (cuda when "
                                               "available). Overrides the config's device.",
                                               show_default="the config's device")] = None,
    dtype: Annotated[Dtype | None, typer.Option("--dtype", help="Compute dtype; bfloat16/float16 run the "
                                                "forward under torch.autocast (float32 parameters). Overrides "
                                                "the config's dtype.", case_sensitive=False,
                                                show_default="the config's dtype")] = None,
    batch: Annotated[int | None, typer.Option("--batch", "-b", min=1, max=MAX_BATCH, help="Batch size (per process). "
                                              "Default: 16 (DreamerV3), 256 (TD-MPC2).", show_default=False)
                     ] = None,
    seq: Annotated[int | None, typer.Option("--seq", min=1, max=MAX_SEQ, help="DreamerV3 sequence length (default 64); "
                                            "TD-MPC2 horizon (default: the config's).", show_default=False)] = None,
    steps: Annotated[int, typer.Option("--steps", min=1, max=MAX_STEPS, help="Timed steps per workload.")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", min=0, max=MAX_STEPS,
                                        help="Untimed warm-up steps per workload.")] = 2,
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model's loss / rollout / "
                                          "planner. The warm-up pays the compile (minutes for DreamerV3; "
                                          "its posterior recurrence stays eager). Meant for GPUs: on a "
                                          "small CPU the eager fast paths are faster.")] = False,
    workloads: Annotated[str | None, typer.Option("--workloads", "-w", help="Comma-separated: train, imagine, "
                                                  "agent (DreamerV3), train, plan (TD-MPC2). Default: train,imagine "
                                                  "/ train,plan.", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=MAX_SEED,
                                      help="Seed of the weights, batches and sampling.")] = 0,
    threads: Annotated[int | None, typer.Option("--threads", min=1, max=MAX_THREADS, help="torch intra-op threads. "
                                                "Default: torch's (all cores), divided by --nproc on CPU.",
                                                show_default=False)] = None,
    nproc: Annotated[int, typer.Option("--nproc", min=1, max=MAX_NPROC, help="Run the train workload data-parallel "
                                       "(DDP) on N processes: gloo on CPU, nccl on N GPUs.")] = 1,
    format: FormatOpt = Format.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the JSON result here "
                                                "(atomically).", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --output file (or a symbolic link "
                                        "there: the link itself).")] = False,
    force_memory: ForceMemoryOpt = False,
    compare: Annotated[Path | None, typer.Option("--compare", help="An earlier result (-o) to print each "
                                                 "figure beside, with the ratio new/old.", show_default=False)
                       ] = None,
) -> None:
    """Measure the real model: step time, throughput, peak memory, FLOPs, utilisation.

    Builds the PyTorch model of CONFIG (or --model/--size), then per workload runs --warmup
    untimed steps and --steps timed, device-synchronised steps (CUDA events on GPU) and reports
    the median and p90 step time, samples/s and env-steps/s, peak memory (CUDA allocator peak,
    or the process's RSS high-water mark on CPU), FLOPs per step (torch.utils.flop_counter),
    achieved TFLOP/s and, on a known GPU, utilisation of its dense peak. train is one
    world-model update (forward + backward + clip + Adam; TD-MPC2 also updates its target Qs);
    agent adds DreamerV3's imagination and actor-critic update; imagine and plan are no-grad
    rollouts. Random batches are made on the device beforehand. Exit code 0: measured;
    1: invalid config; 2: could not run (device, memory, options).

    Examples:

      worldflux bench dreamer:tiny --device cpu

      worldflux bench --model tdmpc2 --size 5m --device cuda --dtype bfloat16 --compile

      worldflux bench my.json -w train --batch 32 --seq 64 -o before.json

      worldflux bench my.json -w train --batch 32 --seq 64 --compare before.json

      worldflux bench tdmpc2:tiny --device cpu --nproc 2 --batch 64
    """
    if config is not None and (model or size):
        raise WorldfluxError("give either CONFIG or --model/--size, not both", "e.g. worldflux bench dreamer:tiny")
    if config is None:
        if not (model and size):
            raise WorldfluxError("no config to measure", "give CONFIG (a file or dreamer:tiny) or --model M --size S")
        config = f"{model}:{size}"
    if output is not None:
        from worldflux_cli.fileio import check_output

        check_output(output, force)
    from worldflux_cli.loading import load_config

    loaded = load_config(config, consequence="nothing was measured")
    label, cfg = loaded.label, loaded.config
    old = _load_old(compare) if compare is not None else None

    from worldflux_cli.bench.results import compare as compare_results
    from worldflux_cli.bench.results import dumps, finish, render_text
    from worldflux_cli.bench.runner import BenchSpec, run_bench

    spec = BenchSpec(cfg, label=label, device=device, dtype=dtype.value if dtype else None, batch=batch, seq=seq,
                     steps=steps, warmup=warmup, compile=compile, seed=seed, nproc=nproc, threads=threads,
                     force_memory=force_memory,
                     workloads=workloads.split(",") if workloads is not None else None)
    progress = _RichProgress() if sys.stderr.isatty() else None
    try:
        result = run_bench(spec, progress)
    finally:
        if progress is not None:
            progress.stop()
    result = finish(result, " ".join(["worldflux", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else None)
    if old is not None:
        result["comparison"] = compare_results(result, old, str(compare))
    if output is not None:
        from worldflux_cli.fileio import write_atomic

        write_atomic(output, dumps(result))
    typer.echo(dumps(result).rstrip("\n") if format is Format.json else render_text(result))
    if output is not None:
        print(f"wrote {output}", file=sys.stderr)
