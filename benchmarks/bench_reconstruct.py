"""Benchmark: reconstruction of the STROMA-CoV-2 fixture (draw + calibrate + verify + write).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_reconstruct.py --repeat 5

Times :func:`longmod.reconstruct.build_fixture` into a temporary folder (the
shipped fixture is not touched), wall and CPU time per build, and checks that
every build gives the same bytes. Prints a Markdown table row for
``benchmarks/README.md`` (section "Reconstruction").
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    t0 = time.perf_counter()
    from longmod.reconstruct import build_fixture

    t_import = time.perf_counter() - t0
    walls, cpus, digests, attempts = [], [], set(), set()
    for _ in range(a.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            w0, c0 = time.perf_counter(), time.process_time()
            res = build_fixture("stroma_cov2", seed=a.seed, out=tmp)
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            attempts.add(res.attempts)
            h = hashlib.sha256()
            for f in ("patients.csv", "measurements.csv", "CALIBRATION.md"):
                h.update((Path(tmp) / f).read_bytes())
            digests.add(h.hexdigest()[:12])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"import longmod.reconstruct: {t_import:.2f} s")
    print("| builds | wall median (min-max) | CPU median | attempts | identical bytes | load avg |")
    print("|---|---|---|---|---|---|")
    print(f"| {a.repeat} | {statistics.median(walls):.1f} s ({min(walls):.1f}-{max(walls):.1f}) | "
          f"{statistics.median(cpus):.1f} s | {sorted(attempts)} | {'yes' if len(digests) == 1 else 'NO'} "
          f"({next(iter(digests)) if len(digests) == 1 else ', '.join(sorted(digests))}) | {load:.1f} |")


if __name__ == "__main__":
    main()
