"""The result of `worldflux bench`: a JSON contract, its text rendering, and --compare.

JSON contract, schema "worldflux.bench/1" (keys and types are stable; new keys may be
added, none removed or retyped without a new schema id). ``T|null`` may be null.

    schema        str     "worldflux.bench/1"
    created       str     ISO 8601 UTC time the run finished
    command       str|null  the command line, when run from the CLI
    config        {label: str, model_type: "dreamer"|"tdmpc2", model_name: str, values: object
                   (the full config, defaults filled, TD-MPC2 horizon = --seq)}
    settings      {device: str (as asked), dtype: str, batch: int|null (as asked; null: each workload's
                   default), seq: int (DreamerV3 T / TD-MPC2 horizon), steps: int, warmup: int,
                   compile: bool, workloads: [str], seed: int, nproc: int}
    environment   {torch: str, cuda: str|null, python: str, platform: str, device: str ("cpu",
                   "cuda:0"), device_type: "cpu"|"cuda", device_name: str, device_memory_bytes:
                   int|null, capability: str|null, known_gpu: str|null, peak_tflops: float|null
                   (dense peak of the device for dtype), threads: int, interop_threads: int,
                   cpu_count: int|null, dtype: str, precision: str, float32_matmul_precision: str,
                   compile: bool, malloc_env: {str: str}, load_average: [float]|null (1/5/15 min, at start),
                   kernels: "auto"|"plain" (WORLDFLUX_KERNELS: the models' hand-written CPU kernels on or
                   off; added later: see LATER_KEYS)}
    params        {trainable: int, frozen: int, total: int (of the built model), analytic_trainable:
                   int|null, analytic_frozen: int|null (params.count_params), matches: bool|null}
    workloads     {name: WORKLOAD} in run order; name in train, imagine, agent (DreamerV3), plan (TD-MPC2)
    distributed   null, or DISTRIBUTED (--nproc > 1)
    comparison    only with --compare: {old: str, rows: [ROW], notes: [str]}

    WORKLOAD      {includes: str (what one step does), batch: int, seq: int, steps: int, warmup: int, times_s: [float]
                   (each timed step), median_s, p90_s, mean_s, min_s, max_s, std_s: float,
                   first_step_s: float|null (first warm-up step, compilation included),
                   samples_per_step: int, sample_unit: str, samples_per_s: float (per median step),
                   env_steps_per_step: int|null, env_step_unit: str|null, env_steps_per_s: float|null,
                   peak_memory: MEMORY, flops_per_step: int|null, achieved_tflops: float|null
                   (flops_per_step / median_s / 1e12), utilisation: float|null (achieved / peak, 0..1)}
    MEMORY        {kind: "cuda_allocator"|"cpu_rss", scope: "workload"|"process", peak_bytes: int,
                   baseline_bytes: int, increase_bytes: int, reserved_peak_bytes: int|null}
    DISTRIBUTED   {nproc: int, backend: "gloo"|"nccl", launcher: str, device_type: str,
                   threads_per_rank: int|null, batch_per_rank: int, global_batch: int,
                   per_rank: [{rank: int, device: str, pid: int, median_s: float, p90_s: float,
                   samples_per_s: float, env_steps_per_s: float|null, peak_memory: MEMORY}],
                   step_median_s: float (median over steps of the slowest rank's time),
                   total_samples_per_s: float, total_env_steps_per_s: float|null,
                   baseline_samples_per_s: float (1 process, same per-rank settings: workloads.train),
                   scaling_efficiency: float (total / (nproc x baseline))}
    ROW           {workload: str, metric: str, new: float|null, old: float|null, ratio: float|null
                   (new / old), better: "lower"|"higher"|null, verdict: str}
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

SCHEMA_ID = "worldflux.bench/1"

_NUM = (int, float)
_OPT = type(None)

#: Key -> accepted types, per object of the contract (checked by check_contract).
MEMORY_KEYS = {"kind": str, "scope": str, "peak_bytes": int, "baseline_bytes": int, "increase_bytes": int,
               "reserved_peak_bytes": (int, _OPT)}
WORKLOAD_KEYS = {"includes": str, "batch": int, "seq": int, "steps": int, "warmup": int, "times_s": list,
                 "median_s": _NUM, "p90_s": _NUM, "mean_s": _NUM, "min_s": _NUM, "max_s": _NUM, "std_s": _NUM,
                 "first_step_s": (*_NUM, _OPT), "samples_per_step": int, "sample_unit": str, "samples_per_s": _NUM,
                 "env_steps_per_step": (int, _OPT), "env_step_unit": (str, _OPT), "env_steps_per_s": (*_NUM, _OPT),
                 "peak_memory": dict, "flops_per_step": (int, _OPT), "achieved_tflops": (*_NUM, _OPT),
                 "utilisation": (*_NUM, _OPT)}
TOP_KEYS = {"schema": str, "created": str, "command": (str, _OPT), "config": dict, "settings": dict,
            "environment": dict, "params": dict, "workloads": dict, "distributed": (dict, _OPT)}
CONFIG_KEYS = {"label": str, "model_type": str, "model_name": str, "values": dict}
SETTINGS_KEYS = {"device": str, "dtype": str, "batch": (int, _OPT), "seq": int, "steps": int, "warmup": int,
                 "compile": bool, "workloads": list, "seed": int, "nproc": int}
ENV_KEYS = {"torch": str, "cuda": (str, _OPT), "python": str, "platform": str, "device": str, "device_type": str,
            "device_name": str, "device_memory_bytes": (int, _OPT), "capability": (str, _OPT),
            "known_gpu": (str, _OPT), "peak_tflops": (*_NUM, _OPT), "threads": int, "interop_threads": int,
            "cpu_count": (int, _OPT), "dtype": str, "precision": str, "float32_matmul_precision": str,
            "compile": bool, "malloc_env": dict, "load_average": (list, _OPT), "kernels": str}
#: Keys added to the contract after results were first written: checked where present, not required of
#: older results (so that --compare still reads them).
LATER_KEYS = {"environment": {"kernels"}}
PARAMS_KEYS = {"trainable": int, "frozen": int, "total": int, "analytic_trainable": (int, _OPT),
               "analytic_frozen": (int, _OPT), "matches": (bool, _OPT)}
RANK_KEYS = {"rank": int, "device": str, "pid": int, "median_s": _NUM, "p90_s": _NUM, "samples_per_s": _NUM,
             "env_steps_per_s": (*_NUM, _OPT), "peak_memory": dict}
DISTRIBUTED_KEYS = {"nproc": int, "backend": str, "launcher": str, "device_type": str,
                    "threads_per_rank": (int, _OPT), "batch_per_rank": int, "global_batch": int, "per_rank": list,
                    "step_median_s": _NUM, "total_samples_per_s": _NUM, "total_env_steps_per_s": (*_NUM, _OPT),
                    "baseline_samples_per_s": _NUM, "scaling_efficiency": _NUM}


def workload_result(wl, ctx, stats: dict[str, float], times: list[float], first: float | None, memory: dict,
                    flops: int | None, peak: float | None, steps: int, warmup: int) -> dict:
    """The WORKLOAD object of the contract from one measured workload."""
    median = stats["median_s"]
    achieved = flops / median / 1e12 if flops and median > 0 else None
    return {
        "includes": wl.includes,
        "batch": ctx.batch,
        "seq": ctx.seq,
        "steps": steps,
        "warmup": warmup,
        "times_s": [float(t) for t in times],
        **{k: float(v) for k, v in stats.items()},
        "first_step_s": first,
        "samples_per_step": wl.samples,
        "sample_unit": wl.sample_unit,
        "samples_per_s": wl.samples / median,
        "env_steps_per_step": wl.env_steps,
        "env_step_unit": wl.env_step_unit,
        "env_steps_per_s": wl.env_steps / median if wl.env_steps else None,
        "peak_memory": memory,
        "flops_per_step": flops,
        "achieved_tflops": achieved,
        "utilisation": achieved / peak if achieved is not None and peak else None,
    }


def finish(result: dict, command: str | None = None) -> dict:
    """Stamp the creation time and command; keys in contract order."""
    stamped = {"schema": result["schema"], "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "command": command}
    stamped.update({k: v for k, v in result.items() if k not in stamped})
    return stamped


# ---------------------------------------------------------------------------------- contract check
def _check(obj: Any, keys: dict[str, Any], where: str, problems: list[str]) -> None:
    if not isinstance(obj, dict):
        problems.append(f"{where}: expected an object")
        return
    for key, types in keys.items():
        if key not in obj:
            problems.append(f"{where}.{key}: missing")
            continue
        value, allowed = obj[key], types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) and bool not in allowed:
            problems.append(f"{where}.{key}: bool where {allowed} expected")
        elif not isinstance(value, allowed):
            problems.append(f"{where}.{key}: {type(value).__name__} where {[t.__name__ for t in allowed]} expected")


def check_contract(result: Any) -> list[str]:
    """Problems of ``result`` against the JSON contract ([] when it conforms)."""
    problems: list[str] = []
    _check(result, TOP_KEYS, "$", problems)
    if problems:
        return problems
    if result["schema"] != SCHEMA_ID:
        problems.append(f"$.schema: {result['schema']!r}, expected {SCHEMA_ID!r}")
    for key, keys in (("config", CONFIG_KEYS), ("settings", SETTINGS_KEYS), ("environment", ENV_KEYS),
                      ("params", PARAMS_KEYS)):
        present = result[key] if isinstance(result[key], dict) else {}
        keys = {k: t for k, t in keys.items() if k in present or k not in LATER_KEYS.get(key, ())}
        _check(result[key], keys, f"$.{key}", problems)
    for name, wl in result["workloads"].items():
        _check(wl, WORKLOAD_KEYS, f"$.workloads.{name}", problems)
        if isinstance(wl, dict) and isinstance(wl.get("peak_memory"), dict):
            _check(wl["peak_memory"], MEMORY_KEYS, f"$.workloads.{name}.peak_memory", problems)
    dist = result["distributed"]
    if dist is not None:
        _check(dist, DISTRIBUTED_KEYS, "$.distributed", problems)
        for i, rank in enumerate(dist.get("per_rank") or []):
            _check(rank, RANK_KEYS, f"$.distributed.per_rank[{i}]", problems)
    return problems


def dumps(result: dict) -> str:
    return json.dumps(result, indent=2, allow_nan=False) + "\n"


# ------------------------------------------------------------------------------------- formatting
def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def fmt_rate(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def fmt_flops(n: float | None) -> str:
    if not n:
        return "-"
    for unit, scale in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} FLOP"


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return out


def render_text(result: dict) -> str:
    """The human-readable report of a result."""
    cfg, st, env, par = result["config"], result["settings"], result["environment"], result["params"]
    family = {"dreamer": "DreamerV3", "tdmpc2": "TD-MPC2"}.get(cfg["model_type"], cfg["model_type"])
    check = {True: "analytic count matches", False: f"analytic count DIFFERS: {par['analytic_trainable']:,}"
             if par["analytic_trainable"] is not None else "analytic count differs", None: "no analytic count"}
    lines = [f"worldflux bench: {cfg['label']} ({family} {cfg['model_name']}): {par['trainable']:,} trainable + "
             f"{par['frozen']:,} frozen parameters ({check[par['matches']]})"]
    device = env["device_name"] + (f" ({fmt_bytes(env['device_memory_bytes'])})" if env["device_type"] == "cuda"
                                   else "")
    peak = f", dense peak {env['peak_tflops']:g} TFLOP/s" if env["peak_tflops"] else ""
    malloc = "malloc env " + ", ".join(env["malloc_env"]) if env["malloc_env"] else ""
    lines += [
        f"environment: torch {env['torch']}" + (f" (CUDA {env['cuda']})" if env["cuda"] else "")
        + f", python {env['python']}, {env['device']}: {device}{peak}",
        f"             threads {env['threads']} (interop {env['interop_threads']}, {env['cpu_count']} CPUs), "
        f"{env['precision']}, {'torch.compile' if env['compile'] else 'eager'}"
        + (f", kernels {env['kernels']}" if env.get("kernels") else "") + (f", {malloc}" if malloc else "")
        + (f", load average {env['load_average'][0]:g}" if env["load_average"] else ""),
        f"settings:    batch {st['batch'] or 'per workload (default)'}, "
        f"{'seq' if cfg['model_type'] == 'dreamer' else 'horizon'} {st['seq']}, "
        f"{st['steps']} timed steps after {st['warmup']} warm-up, seed {st['seed']}",
        "",
    ]
    rows = [["workload", "batch", "median", "p90", "samples/s", "env-steps/s", "peak memory", "FLOP/step", "TFLOP/s",
             "util"]]
    for name, w in result["workloads"].items():
        mem = w["peak_memory"]
        rows.append([
            name, str(w["batch"]), fmt_time(w["median_s"]), fmt_time(w["p90_s"]),
            f"{fmt_rate(w['samples_per_s'])} {w['sample_unit']}",
            f"{fmt_rate(w['env_steps_per_s'])} {w['env_step_unit']}" if w["env_steps_per_s"] else "-",
            f"{fmt_bytes(mem['peak_bytes'])} (+{fmt_bytes(mem['increase_bytes'])})",
            fmt_flops(w["flops_per_step"]),
            f"{w['achieved_tflops']:.3g}" if w["achieved_tflops"] is not None else "-",
            f"{w['utilisation']:.1%}" if w["utilisation"] is not None else "-",
        ])
    lines += _table(rows, {1, 2, 3, 4, 5, 6, 7, 8, 9})
    lines.append("")
    for name, w in result["workloads"].items():
        first = f" (first warm-up step {fmt_time(w['first_step_s'])})" if w["first_step_s"] is not None else ""
        lines.append(f"{name}: one step = {w['includes']}{first}")
    kinds = {w["peak_memory"]["kind"] + "/" + w["peak_memory"]["scope"] for w in result["workloads"].values()}
    notes = {"cpu_rss/workload": "peak memory: process RSS high-water mark during the workload (reset at its "
                                 "start); + is the rise over the RSS at its start",
             "cpu_rss/process": "peak memory: process RSS high-water mark since the process started; + is the "
                                "rise over the RSS at the workload's start",
             "cuda_allocator/workload": "peak memory: CUDA caching-allocator peak during the workload; + is the "
                                        "rise over what was allocated at its start"}
    lines += [notes[k] for k in sorted(kinds) if k in notes]
    if env["device_type"] == "cpu" and not env["malloc_env"] and env["platform"].startswith("Linux"):
        lines.append("note: CPU step times on small VMs are steadier with glibc told to keep memory (MALLOC_"
                     "TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_, MALLOC_TOP_PAD_: see benchmarks/RESULTS.md)")
    if env["device_type"] == "cpu" and env["dtype"] != "float32":
        lines.append(f"note: autocast {env['dtype']} on CPU runs on CPUs without fast {env['dtype']} math too, "
                     "and is then much slower than float32")
    if env["device_type"] == "cuda" and not env["peak_tflops"]:
        lines.append(f"utilisation: no known dense peak for {env['device_name']} / {env['dtype']}")
    lines.append("FLOPs: matmuls and convolutions counted by torch.utils.flop_counter (forward + backward)")
    dist = result.get("distributed")
    if dist:
        lines += ["", render_distributed(dist)]
    if result.get("comparison"):
        lines += ["", render_comparison(result["comparison"])]
    return "\n".join(lines)


def render_distributed(d: dict) -> str:
    threads = f", {d['threads_per_rank']} thread(s) per rank" if d["threads_per_rank"] else ""
    lines = [f"distributed train: {d['nproc']} processes, DDP over {d['backend']} ({d['launcher']}), batch "
             f"{d['batch_per_rank']} per rank (global {d['global_batch']}){threads}"]
    rows = [["rank", "device", "median", "p90", "samples/s", "peak memory"]]
    for r in d["per_rank"]:
        rows.append([str(r["rank"]), r["device"], fmt_time(r["median_s"]), fmt_time(r["p90_s"]),
                     fmt_rate(r["samples_per_s"]), fmt_bytes(r["peak_memory"]["peak_bytes"])])
    lines += _table(rows, {2, 3, 4, 5})
    env_steps = (f" ({fmt_rate(d['total_env_steps_per_s'])} env-steps/s)" if d["total_env_steps_per_s"] else "")
    lines.append(f"total: {fmt_rate(d['total_samples_per_s'])} samples/s{env_steps}, "
                 f"step {fmt_time(d['step_median_s'])} (slowest rank, median); "
                 f"1 process: {fmt_rate(d['baseline_samples_per_s'])} samples/s; "
                 f"scaling efficiency {d['scaling_efficiency']:.1%}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- compare
#: (metric path inside a workload, which direction is better)
COMPARED = (("median_s", "lower"), ("p90_s", "lower"), ("samples_per_s", "higher"), ("env_steps_per_s", "higher"),
            ("peak_memory.peak_bytes", "lower"), ("flops_per_step", None), ("achieved_tflops", "higher"))
_SETTINGS_COMPARED = ("batch", "seq", "dtype", "compile", "nproc")
_ENV_COMPARED = ("device_name", "threads", "torch")


def _get(obj: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _verdict(new: float | None, old: float | None, better: str | None) -> tuple[float | None, str]:
    if new is None or old is None or not isinstance(new, _NUM) or not isinstance(old, _NUM):
        return None, "n/a"
    if old == 0:
        return None, "n/a" if new else "same"
    ratio = new / old
    if better is None or math.isclose(ratio, 1.0, rel_tol=0.03):
        return ratio, "same" if math.isclose(ratio, 1.0, rel_tol=0.03) else ""
    improved = ratio < 1 if better == "lower" else ratio > 1
    return ratio, "better" if improved else "worse"


def compare(new: dict, old: dict, old_label: str) -> dict:
    """The comparison block: each figure of ``new`` beside the one in ``old`` with the ratio new / old."""
    rows, notes = [], []
    for key in _SETTINGS_COMPARED:
        a, b = new["settings"].get(key), old.get("settings", {}).get(key)
        if a != b:
            notes.append(f"settings differ: {key} {b} (old) -> {a} (new)")
    for key in _ENV_COMPARED:
        a, b = new["environment"].get(key), old.get("environment", {}).get(key)
        if a != b:
            notes.append(f"environment differs: {key} {b} (old) -> {a} (new)")
    if new["config"]["values"] != old.get("config", {}).get("values"):
        notes.append(f"configs differ: {old.get('config', {}).get('label')} (old) vs {new['config']['label']} (new)")
    old_wl = old.get("workloads", {})
    for name, w in new["workloads"].items():
        if name not in old_wl:
            notes.append(f"workload {name!r} is not in the old result")
            continue
        for key in ("batch", "seq"):
            if w.get(key) != old_wl[name].get(key):
                notes.append(f"workload {name!r}: {key} {old_wl[name].get(key)} (old) -> {w.get(key)} (new)")
        for metric, better in COMPARED:
            a, b = _get(w, metric), _get(old_wl[name], metric)
            ratio, verdict = _verdict(a, b, better)
            rows.append({"workload": name, "metric": metric, "new": a, "old": b, "ratio": ratio, "better": better,
                         "verdict": verdict})
    for name in old_wl:
        if name not in new["workloads"]:
            notes.append(f"workload {name!r} is only in the old result")
    a_params, b_params = new["params"]["trainable"], old.get("params", {}).get("trainable")
    ratio, verdict = _verdict(a_params, b_params, None)
    rows.append({"workload": "-", "metric": "params.trainable", "new": a_params, "old": b_params, "ratio": ratio,
                 "better": None, "verdict": verdict})
    nd, od = new.get("distributed"), old.get("distributed")
    if nd and od:
        for metric, better in (("total_samples_per_s", "higher"), ("scaling_efficiency", "higher")):
            ratio, verdict = _verdict(nd.get(metric), od.get(metric), better)
            rows.append({"workload": "distributed", "metric": metric, "new": nd.get(metric), "old": od.get(metric),
                         "ratio": ratio, "better": better, "verdict": verdict})
    return {"old": old_label, "rows": rows, "notes": notes}


def _fmt_metric(metric: str, v: Any) -> str:
    if v is None:
        return "-"
    if metric.endswith("_s") and not metric.endswith("per_s"):
        return fmt_time(v)
    if "bytes" in metric:
        return fmt_bytes(v)
    if metric == "flops_per_step":
        return fmt_flops(v)
    if metric == "params.trainable":
        return f"{v:,}"
    if metric == "scaling_efficiency":
        return f"{v:.1%}"
    if metric == "achieved_tflops":
        return f"{v:.3g}"
    return fmt_rate(v)


def render_comparison(cmp: dict) -> str:
    lines = [f"compared with {cmp['old']} (ratio = new / old)"]
    rows = [["workload", "metric", "new", "old", "ratio", ""]]
    for r in cmp["rows"]:
        rows.append([r["workload"], r["metric"], _fmt_metric(r["metric"], r["new"]),
                     _fmt_metric(r["metric"], r["old"]), f"{r['ratio']:.3f}x" if r["ratio"] is not None else "-",
                     r["verdict"]])
    lines += _table(rows, {2, 3, 4})
    lines += [f"note: {n}" for n in cmp["notes"]]
    return "\n".join(lines)
