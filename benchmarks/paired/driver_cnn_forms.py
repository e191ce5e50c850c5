"""Ours against ours: the official DreamerV3 CNN (default) against the strided form, at the same dims.

The official form is a stride-1 convolution at the stage's input resolution, then 2x2 max-pooling (encoder),
and nearest 2x upsampling, then a stride-1 convolution at the output resolution (decoder). The strided form
(``"cnn_strided": true``) is a stride-2 convolution and a fractionally strided one. The parameters are the same.

- default: one process per round builds both models (``benchmarks/paired/<case>.json`` and
  ``<case>-strided.json``) and times their world-model train steps (what ``worldflux bench -w train`` times)
  alternately, as the paired drivers do (pairing.py).
- ``--flops``: FLOPs of one eager step of each (``torch.utils.flop_counter``), in all and by operator, and
  the convolutions' share.
- ``--fastpath``: the official form as the model runs it (the decoder's stages through kernels/upsample_conv.py
  where ``upsample_conv.faster`` says so) against the same model with the plain decoder stages (a runtime patch
  of that model instance, this benchmark only), interleaved.
- ``--ops``: the decoder's "nearest upsample + convolution" against the same computed as one stride-1
  convolution over the four output phases on the low-resolution map (kernels/upsample_conv.py, where it
  exists), forward + backward, alternately.

    python benchmarks/paired/driver_cnn_forms.py --case dreamer-tiny --rounds 3
    python benchmarks/paired/driver_cnn_forms.py --case dreamer-12m-like --rounds 2 --pairs 3 --warmup 1
    python benchmarks/paired/driver_cnn_forms.py --case dreamer-12m-like --flops
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pairing  # noqa: E402

BATCH, SEQ = 16, 64


def build(name: str):
    import torch

    from worldflux_cli.bench.workloads import Context, prepare
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.models import build_model

    values = json.loads((pairing.ROOT / "benchmarks" / "paired" / f"{name}.json").read_text())
    config = FAMILIES["dreamer"].from_dict(values)
    torch.manual_seed(0)
    model = build_model(config, device="cpu")
    wl = prepare(Context(model, "dreamer", torch.device("cpu"), torch.float32, BATCH, SEQ, False, 0), "train")
    return model, wl


def flops(case: str) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    out = {}
    for name in (case, f"{case}-strided"):
        _, wl = build(name)
        with FlopCounterMode(display=False) as counter:
            wl.eager_step()
        by_op = {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}
        total = counter.get_total_flops()
        conv = sum(v for k, v in by_op.items() if "conv" in k)
        out[name] = {"total_gflop": total / 1e9, "conv_gflop": conv / 1e9,
                     "by_op_gflop": {k: round(v / 1e9, 2) for k, v in by_op.items()}}
        per_module = {}
        for mod, counts in counter.get_flop_counts().items():
            if re.search(r"(encoder|decoder)\.convs\.\d+$|decoder\.out$", mod):
                per_module[mod] = round(sum(counts.values()) / 1e9, 2)
        out[name]["cnn_layers_gflop"] = per_module
    return out


def ops(args) -> None:
    """Nearest upsample + conv (plain) against the phase form, at the decoder's shapes, forward + backward."""
    import statistics

    import torch
    import torch.nn.functional as F

    try:
        from worldflux_cli.models.kernels import upsample_conv
    except ImportError:
        upsample_conv = None
    torch.set_num_threads(pairing.THREADS)
    shapes = [  # (cin, cout, h): the decoder stages of the cases (house CNN), at their low-resolution input
        ("12m-like conv2", 192, 192, 4), ("12m-like conv1", 192, 144, 8), ("12m-like conv0", 144, 96, 16),
        ("12m-like out", 96, 3, 32), ("tiny conv2", 32, 32, 4), ("tiny conv1", 32, 24, 8),
        ("tiny conv0", 24, 16, 16), ("tiny out", 16, 3, 32),
        # where the phase form stops paying at 4 x 4 inputs (the bounds of upsample_conv.faster), and two 8 x 8 ones
        *((f"sweep {c} -> {c} at 4", c, c, 4) for c in (32, 64, 96, 128, 192)),
        ("sweep 16 -> 16 at 8", 16, 16, 8), ("sweep 32 -> 24 at 8", 32, 24, 8)]
    rows, n = [], args.maps
    for label, cin, cout, h in shapes:
        if args.only and args.only not in label:
            continue
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, cin, h, h, generator=g).contiguous(memory_format=torch.channels_last).requires_grad_()
        w = (torch.randn(cout, cin, 5, 5, generator=g) * 0.05).requires_grad_()
        b = torch.zeros(cout, requires_grad=True)
        dy = torch.randn(n, cout, 2 * h, 2 * h, generator=g).contiguous(memory_format=torch.channels_last)

        def plain(x=x, w=w, b=b, dy=dy):
            F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, b, 1, 2).backward(dy)

        def phase(x=x, w=w, b=b, dy=dy):
            upsample_conv.upsample_conv2d(x, w, b).backward(dy)

        sides = {"plain": plain} if upsample_conv is None else {"plain": plain, "phase": phase}
        times: dict[str, list[float]] = {k: [] for k in sides}
        for i in range(args.reps + 1):
            for name, fn in (sides.items() if i % 2 == 0 else list(sides.items())[::-1]):
                x.grad = w.grad = b.grad = None
                t = time.perf_counter()
                fn()
                if i:
                    times[name].append(time.perf_counter() - t)
        row = {"op": label, "maps": n, **{k: statistics.median(v) for k, v in times.items()}}
        if "phase" in row:
            row["plain/phase"] = row["plain"] / row["phase"]
        rows.append(row)
        print(json.dumps(row), flush=True)


def plain_decoder(model) -> None:
    """Runtime patch (this benchmark only; the model file is not changed): the model's ImageDecoder runs every
    stage as the plain 'nearest upsample + convolution' pair (its definition), whatever upsample_conv.faster says."""
    dec = model.decoder
    assert not dec.strided
    dec._stage = lambda conv, x: conv(dec._up(x))


def child(args) -> None:
    pairing.set_threads()
    env = pairing.environment_block()
    if args.fastpath:  # the official form, plain decoder against the phase-form decoder
        import torch

        plain_model, official = build(args.case)
        plain_decoder(plain_model)
        model, phase = build(args.case)
        b = model.random_batch(4, 16, generator=torch.Generator().manual_seed(1))  # 64 maps, gradients on
        plain_model.load_state_dict(model.state_dict())
        torch.manual_seed(5)
        a = model.world_model_loss(b)[0]
        torch.manual_seed(5)
        c = plain_model.world_model_loss(b)[0]
        print(f"  loss with the phase decoder {a.item():.6f}, plain {c.item():.6f}", flush=True)
        records = pairing.interleave({"phase": phase.step, "official": official.step}, args.warmup, args.pairs,
                                     log=lambda s: print(s, flush=True))
        summary = pairing.summarise(records, "phase", "official")  # ratio = plain / phase
        print(json.dumps({"case": f"{args.case}-fastpath", "env": env, "md5": pairing.model_files_md5(),
                          "summary": summary, "records": records}))
        return
    _, official = build(args.case)
    _, strided = build(f"{args.case}-strided")
    records = pairing.interleave({"official": official.step, "strided": strided.step}, args.warmup, args.pairs,
                                 log=lambda s: print(s, flush=True))
    summary = pairing.summarise(records, "strided", "official")  # ratio = official / strided
    print(json.dumps({"case": args.case, "env": env, "md5": pairing.model_files_md5(), "summary": summary,
                      "records": records}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=("dreamer-tiny", "dreamer-12m-like"), default="dreamer-tiny")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--flops", action="store_true")
    ap.add_argument("--fastpath", action="store_true",
                    help="time the official form with its decoder's upsample + conv in the phase form (runtime patch)"
                         " against the plain official form")
    ap.add_argument("--ops", action="store_true")
    ap.add_argument("--only", default="", help="--ops: only shapes whose label contains this")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--maps", type=int, default=256, help="--ops: maps per op (the step has B x T = 1024)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    pairing.ensure_environment()
    if args.flops:
        pairing.set_threads()
        print(json.dumps(flops(args.case), indent=1))
        return
    if args.ops:
        ops(args)
        return
    if args.child:
        child(args)
        return
    results = pairing.run_rounds(sys.argv, args.rounds, args.out)
    fast, other = ("phase", "plain decoder") if args.fastpath else ("strided", "official")
    for r in results:
        s = r["summary"]
        print(f"{r['env']['utc']}: {other} {s['theirs_median']:.3f} s, {fast} {s['ours_median']:.3f} s, "
              f"{other}/{fast} {s['ratio']:.3f} (pairs {s['pair_ratio_min']:.2f}-{s['pair_ratio_max']:.2f})")


if __name__ == "__main__":
    main()
