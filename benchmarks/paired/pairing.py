"""pairing.py: what every paired driver in benchmarks/paired/ shares (our code; no public code is copied here).

- ``ensure_environment()``: re-executes the script with glibc's allocator told to keep memory (the tip of
  shared/model-facts.md) when it was started without it, and sets 2 torch threads.
- ``CpuMonitor``: the machine's busy CPU, this process's CPU and every other process's CPU between two
  samples, from /proc/stat and /proc/<pid>/stat, with the load average; what RESULTS.md records beside each
  timed step or chunk, so that a step disturbed by other work can be seen.
- ``interleave(sides, warmup, pairs)``: the step-by-step pairing of the paired runs: both sides' warm-up
  steps alternately, then timed steps alternately, the side that goes first swapped in every other pair,
  ``time.perf_counter`` around each single step.
- ``run_rounds``: one child process per round (the same script with ``--child``), results as JSON lines.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_MMAP_THRESHOLD_": "100000000000",
              "MALLOC_TOP_PAD_": "1000000000"}
THREADS = 2
ROOT = Path(__file__).resolve().parents[2]
HZ = os.sysconf("SC_CLK_TCK")


def ensure_environment() -> None:
    """Re-exec with the allocator tip (and the repository on PYTHONPATH) unless already set."""
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        env = {**os.environ, **MALLOC_ENV}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def set_threads() -> None:
    import torch

    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1) if torch.get_num_interop_threads() != 1 else None


# ------------------------------------------------------------------------------------------------ CPU
def _busy_total() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def _proc_times() -> dict[int, tuple[str, int]]:
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm_end = text.rfind(")")
        comm = text[text.find("(") + 1:comm_end]
        fields = text[comm_end + 2:].split()
        out[int(name)] = (comm, int(fields[11]) + int(fields[12]))  # utime + stime
    return out


class CpuMonitor:
    """``start()`` then ``stop()`` -> dict: wall s, machine busy cores, own cores, others' cores, the top others."""

    def __init__(self, own: set[int] | None = None) -> None:
        self.own = own or {os.getpid()}

    def start(self) -> None:
        self._t = time.perf_counter()
        self._busy = _busy_total()
        self._procs = _proc_times()

    def stop(self) -> dict:
        wall = time.perf_counter() - self._t
        busy = _busy_total()
        procs = _proc_times()
        ticks = max(wall * HZ, 1e-9)
        own = sum(procs[p][1] - self._procs[p][1] for p in procs if p in self.own and p in self._procs)
        others = {}
        for pid, (comm, t) in procs.items():
            if pid in self.own or pid not in self._procs:
                continue
            d = t - self._procs[pid][1]
            if d > 0:
                others[f"{pid}:{comm}"] = round(d / ticks, 3)
        top = dict(sorted(others.items(), key=lambda kv: -kv[1])[:4])
        return {"wall_s": wall, "busy_cores": round((busy[0] - self._busy[0]) / ticks, 3),
                "own_cores": round(own / ticks, 3), "other_cores": round(sum(others.values()), 3),
                "top_others": top, "loadavg": os.getloadavg()[0]}


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def others_description() -> list[str]:
    """The other processes using CPU right now (pid, nice, command), for the record."""
    before = _proc_times()
    time.sleep(1.0)
    after = _proc_times()
    rows = []
    for pid, (_, t) in after.items():
        if pid == os.getpid() or pid not in before or t - before[pid][1] <= 0:
            continue
        try:
            nice = int(_read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[16])
            cmd = _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()[:160]
        except OSError:
            continue
        rows.append(f"pid {pid} nice {nice} {round((t - before[pid][1]) / HZ, 2)} cores: {cmd}")
    return rows


# -------------------------------------------------------------------------------------------- pairing
def interleave(sides: dict[str, Callable[[], object]], warmup: int, pairs: int, log=print) -> list[dict]:
    """Warm-up steps alternately, then ``pairs`` timed pairs (first side swapped every other pair)."""
    names = list(sides)
    for i in range(warmup):
        for name in names:
            t = time.perf_counter()
            sides[name]()
            log(f"  warm-up {i} {name}: {time.perf_counter() - t:.3f} s")
    records, mon = [], CpuMonitor()
    for i in range(pairs):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            mon.start()
            sides[name]()
            rec = {"pair": i, "side": name, **mon.stop()}
            records.append(rec)
            log(f"  pair {i} {name}: {rec['wall_s']:.3f} s (others {rec['other_cores']:.2f} cores, "
                f"load {rec['loadavg']:.2f})")
    return records


def summarise(records: list[dict], ours: str, theirs: str) -> dict:
    """Medians per side, the ratio theirs / ours of the medians, and the per-pair ratios."""
    by = {s: [r["wall_s"] for r in records if r["side"] == s] for s in (ours, theirs)}
    per_pair = []
    for p in sorted({r["pair"] for r in records}):
        a = [r["wall_s"] for r in records if r["pair"] == p and r["side"] == ours]
        b = [r["wall_s"] for r in records if r["pair"] == p and r["side"] == theirs]
        if a and b:
            per_pair.append(b[0] / a[0])
    cpu = {s: [r["own_cores"] * r["wall_s"] for r in records if r["side"] == s] for s in (ours, theirs)}
    return {"ours_median": statistics.median(by[ours]), "theirs_median": statistics.median(by[theirs]),
            "ours_min": min(by[ours]), "theirs_min": min(by[theirs]), "min_ratio": min(by[theirs]) / min(by[ours]),
            "ours_cpu_s_median": statistics.median(cpu[ours]), "theirs_cpu_s_median": statistics.median(cpu[theirs]),
            "cpu_ratio": statistics.median(cpu[theirs]) / statistics.median(cpu[ours]),
            "ratio": statistics.median(by[theirs]) / statistics.median(by[ours]),
            "pair_ratio_median": statistics.median(per_pair), "pair_ratio_min": min(per_pair),
            "pair_ratio_max": max(per_pair), "others_max": max(r["other_cores"] for r in records),
            "others_median": statistics.median(r["other_cores"] for r in records),
            "load_max": max(r["loadavg"] for r in records)}


def run_rounds(argv: list[str], rounds: int, out: Path | None) -> list[dict]:
    """Run ``rounds`` child processes of this script (``--child``); each prints one JSON line last."""
    results = []
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        proc = subprocess.run([sys.executable, *argv, "--child"], stdout=subprocess.PIPE, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        print("\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith("{")), flush=True)
        if proc.returncode != 0 or not lines:
            raise SystemExit(f"round {r + 1} failed (exit {proc.returncode})")
        results.append(json.loads(lines[-1]))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as f:
                f.write(json.dumps(results[-1]) + "\n")
    return results


def print_rounds(results: list[dict]) -> None:
    """One line per round of ``run_rounds``: both medians, their ratio, the per-pair range, the others' load."""
    for r in results:
        s = r["summary"]
        print(f"{r['env']['utc']}: ours {s['ours_median']:.3f} s, theirs {s['theirs_median']:.3f} s, "
              f"theirs/ours {s['ratio']:.3f} (pairs {s['pair_ratio_min']:.2f}-{s['pair_ratio_max']:.2f}), "
              f"others up to {s['others_max']:.2f} cores")


def time_our_loop(gate: Gate, agent_cls: type) -> None:
    """Wrap our training loop's parts with ``gate``'s timers: the agent's act and update, the replay's sample
    and add, the environments' step (the parts ``loop_summary`` reports)."""
    from worldflux_cli.training.env_group import EnvGroup
    from worldflux_cli.training.replay import Replay

    agent_cls.act = gate.timed("act", agent_cls.act)
    agent_cls.update = gate.timed("update", agent_cls.update)
    Replay.sample = gate.timed("replay_sample", Replay.sample)
    Replay.add = gate.timed("replay_add", Replay.add)
    EnvGroup.step = gate.timed("env", EnvGroup.step)


def environment_block() -> dict:
    import platform

    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo").splitlines()
                if ln.startswith("model name")), "?")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "worldflux_cli"],
                           capture_output=True, text=True).stdout.strip()
    return {"torch": torch.__version__, "python": platform.python_version(), "cpu": cpu, "nproc": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "malloc_env": all(os.environ.get(k) == v for k, v in MALLOC_ENV.items()),
            "commit": commit, "worldflux_cli_modified": bool(dirty), "loadavg_start": os.getloadavg(),
            "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def model_files_md5() -> dict:
    import hashlib

    files = ["worldflux_cli/models/dreamer.py", "worldflux_cli/models/dreamer_nets.py",
             "worldflux_cli/models/dreamer_rssm.py", "worldflux_cli/models/tdmpc2.py",
             "worldflux_cli/models/tdmpc2_plan.py", "worldflux_cli/models/optim.py",
             "worldflux_cli/models/kernels/conv.py", "worldflux_cli/training/loop.py"]
    return {f: hashlib.md5((ROOT / f).read_bytes()).hexdigest()[:8] for f in files if (ROOT / f).exists()}


# ------------------------------------------------------------------------------ whole training loops
class Stop(BaseException):
    """Raised inside a training loop (from its step hook) to end it after the last timed chunk."""


class Gate:
    """The child's side of the chunk protocol of the loop drivers (loop_*.py).

    The child's protocol channel is its original stdout (everything else it prints goes to stderr). The
    child writes ``{"ready": true}`` when built, then waits for a line ``go`` on stdin; the training loop
    calls ``at(step)`` after every iteration; at each boundary (``first``, then every ``chunk`` env steps)
    the gate writes one JSON line with the chunk's wall time, steps, the time per ``part`` (``timed(part)``
    wrappers) and the CPU record, and waits for the next ``go`` (or ``stop``: raises Stop).
    """

    def __init__(self, first: int, chunk: int, chunks: int) -> None:
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self.bounds = [first + k * chunk for k in range(chunks + 1)]
        self.index, self.parts, self.mon, self.t0, self.step0 = 0, {}, CpuMonitor(), 0.0, 0

    def send(self, obj: dict) -> None:
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    def wait(self) -> None:
        line = sys.stdin.readline().strip()
        if line != "go":
            raise Stop()
        self.parts = {}
        self.mon.start()
        self.t0 = time.perf_counter()

    def ready(self) -> None:
        self.send({"ready": True})
        self.wait()

    def at(self, step: int) -> None:
        if self.index >= len(self.bounds) or step < self.bounds[self.index]:
            return
        wall = time.perf_counter() - self.t0
        cpu = self.mon.stop()
        self.send({"chunk": self.index, "step": step, "steps": step - self.step0, "wall_s": wall,
                   "parts": {k: round(v, 4) for k, v in self.parts.items()}, "cpu": cpu})
        self.step0 = step
        self.index += 1
        self.wait()

    def timed(self, part: str, fn: Callable) -> Callable:
        def call(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.parts[part] = self.parts.get(part, 0.0) + time.perf_counter() - t
        return call


def orchestrate(commands: dict[str, tuple[list[str], dict]], chunks: int, log_dir: Path) -> list[dict]:
    """The parent's side: start one child per side, let each run to its first boundary in turn (untimed:
    prefill and warm-up), then alternate timed chunks, first side first (order swapped every other round)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = {}
    for side, (cmd, env) in commands.items():
        with open(log_dir / f"{side}.log", "w") as err:  # the child keeps its own copy of the descriptor
            procs[side] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                           text=True, env={**os.environ, **env}, bufsize=1)

    def read(side: str) -> dict:
        while True:
            line = procs[side].stdout.readline()
            if not line:
                raise SystemExit(f"{side} ended early (exit {procs[side].wait()}); see {log_dir / (side + '.log')}")
            if line.startswith("{"):
                return json.loads(line)

    def go(side: str) -> dict:
        procs[side].stdin.write("go\n")
        procs[side].stdin.flush()
        return read(side)

    names = list(commands)
    for side in names:
        read(side)  # ready
    records = []
    for side in names:  # untimed: construction to the first boundary
        rec = go(side)
        print(f"  {side}: reached step {rec['step']} (untimed, {rec['wall_s']:.1f} s)", flush=True)
    for r in range(chunks):
        order = names if r % 2 == 0 else names[::-1]
        for side in order:
            rec = {"round": r, "side": side, **go(side)}
            records.append(rec)
            print(f"  round {r} {side}: {rec['steps']} steps in {rec['wall_s']:.2f} s = "
                  f"{rec['steps'] / rec['wall_s']:.3f} steps/s; parts "
                  + ", ".join(f"{k} {v:.2f}" for k, v in rec["parts"].items())
                  + f"; others {rec['cpu']['other_cores']:.2f} cores, load {rec['cpu']['loadavg']:.2f}", flush=True)
    for side in names:
        try:
            procs[side].stdin.write("stop\n")
            procs[side].stdin.flush()
            procs[side].wait(timeout=600)
        except Exception:
            procs[side].kill()
    return records


def finish_loop(case: str, env: dict, records: list[dict], args) -> dict:
    """A loop driver's result: summary (``loop_summary``), records and arguments, appended as one JSON line to
    ``args.out`` when given and the summary printed; returns the result."""
    summary = loop_summary(records)
    result = {"case": case, "env": env, "md5": model_files_md5(), "summary": summary, "records": records,
              "args": {k: str(v) for k, v in vars(args).items()}}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as f:
            f.write(json.dumps(result) + "\n")
    print(json.dumps(summary, indent=1))
    return result


def loop_summary(records: list[dict], ours: str = "ours", theirs: str = "theirs") -> dict:
    """Median env-steps/s per side, ratio ours / theirs (speed), per-round ratios, median part shares."""
    sps = {s: [r["steps"] / r["wall_s"] for r in records if r["side"] == s] for s in (ours, theirs)}
    rounds = sorted({r["round"] for r in records})
    per_round = []
    for k in rounds:
        a = [r for r in records if r["round"] == k and r["side"] == ours]
        b = [r for r in records if r["round"] == k and r["side"] == theirs]
        if a and b:
            per_round.append((a[0]["steps"] / a[0]["wall_s"]) / (b[0]["steps"] / b[0]["wall_s"]))
    parts = {}
    for s in (ours, theirs):
        names = sorted({p for r in records if r["side"] == s for p in r["parts"]})
        parts[s] = {p: statistics.median(r["parts"].get(p, 0.0) / r["steps"] for r in records if r["side"] == s)
                    for p in names}
        parts[s]["total"] = statistics.median(r["wall_s"] / r["steps"] for r in records if r["side"] == s)
    cpu = {s: [r["cpu"]["own_cores"] * r["wall_s"] / r["steps"] for r in records if r["side"] == s]
           for s in (ours, theirs)}
    return {"ours_steps_per_s": statistics.median(sps[ours]), "theirs_steps_per_s": statistics.median(sps[theirs]),
            "ours_best_steps_per_s": max(sps[ours]), "theirs_best_steps_per_s": max(sps[theirs]),
            "ours_cpu_s_per_step": statistics.median(cpu[ours]),
            "theirs_cpu_s_per_step": statistics.median(cpu[theirs]),
            "speed_ratio": statistics.median(sps[ours]) / statistics.median(sps[theirs]),
            "per_round_ratio": per_round, "seconds_per_step": parts,
            "others_max": max(r["cpu"]["other_cores"] for r in records),
            "load_max": max(r["cpu"]["loadavg"] for r in records)}
