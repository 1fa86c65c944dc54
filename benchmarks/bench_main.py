"""Import time and `longmod reanalyse stroma-cov2` wall time (issue 2 targets: < 1 s, < 10 s).

Run from the repository root:  .venv/bin/python benchmarks/bench_main.py [--repeat 5]
Each measurement is a fresh Python process (cold import, warm disk cache); the
median of the repeats is reported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="analyses passed to --only (default: the whole plan)")
    args = ap.parse_args()
    py = sys.executable
    baseline = [timed([py, "-c", "pass"]) for _ in range(args.repeat)]
    imp = [timed([py, "-c", "import longmod, longmod.pipeline, longmod.cli"]) for _ in range(args.repeat)]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [py, "-m", "longmod.cli", "reanalyse", "stroma-cov2", "--out", f"{tmp}/out", "--quiet"]
        if args.only:
            cmd += ["--only", *args.only]
        runs = [timed(cmd) for _ in range(args.repeat)]
    print(f"python startup (no import)       : {statistics.median(baseline):.3f} s")
    print(f"import longmod (+reanalyse, cli)  : {statistics.median(imp):.3f} s (incl. startup)")
    print(f"longmod reanalyse stroma-cov2     : {statistics.median(runs):.2f} s (median of {args.repeat}; min {min(runs):.2f}, max {max(runs):.2f})")


if __name__ == "__main__":
    main()
