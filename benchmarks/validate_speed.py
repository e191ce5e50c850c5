"""Time `worldflux validate` against check-jsonschema on the same small file, end to end.

Each tool runs as a user runs it (a fresh process per check); runs are interleaved so that
machine noise hits both alike. Prints both medians and their ratio.

    python benchmarks/validate_speed.py [--runs 21] [FILE]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", help="config to check (default: a fresh dreamer:size12m config)")
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    bindir = Path(sys.executable).parent
    worldflux = shutil.which("worldflux", path=str(bindir)) or "worldflux"
    checker = shutil.which("check-jsonschema", path=str(bindir)) or shutil.which("check-jsonschema")
    if checker is None:
        print("check-jsonschema is not installed (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file or str(Path(tmp) / "config.json")
        if not args.file:
            subprocess.run([worldflux, "new", "-m", "dreamer", "-s", "size12m", "-o", path], check=True,
                           stderr=subprocess.DEVNULL)
        family = "tdmpc2" if '"tdmpc2"' in Path(path).read_text() else "dreamer"
        schema = str(ROOT / "schemas" / f"{family}.schema.json")
        ours_cmd = [worldflux, "validate", path]
        theirs_cmd = [checker, "--schemafile", schema, path]
        for cmd in (ours_cmd, theirs_cmd):  # warm the file cache
            timed(cmd)
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(timed(ours_cmd))
            theirs.append(timed(theirs_cmd))
    m_ours, m_theirs = statistics.median(ours), statistics.median(theirs)
    print(f"file: {path} ({Path(path).stat().st_size if args.file else 'generated'} bytes)" if args.file
          else "file: generated dreamer:size12m config")
    print(f"runs: {args.runs} each, interleaved")
    print(f"worldflux validate     median {m_ours * 1000:7.1f} ms  (p10 {sorted(ours)[len(ours) // 10] * 1000:.1f})")
    print(f"check-jsonschema       median {m_theirs * 1000:7.1f} ms  (p10 "
          f"{sorted(theirs)[len(theirs) // 10] * 1000:.1f})")
    print(f"ratio worldflux / check-jsonschema: {m_ours / m_theirs:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
