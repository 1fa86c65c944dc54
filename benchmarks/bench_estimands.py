"""Cost of the estimand analyses of the STROMA-CoV-2 plan (tipping point, MI, while alive, worst rank).

Run from the repository root:  .venv/bin/python benchmarks/bench_estimands.py [--repeat 3]

In one process (imports and the first reanalysis warm first): wall and CPU seconds of each estimand
analysis (``timings.csv``'s ``seconds`` and ``time.process_time``), of the whole set, and of writing the
output folder with and without them (the report's extra figures). CPU seconds are what a quiet machine
would take in wall time for these single-threaded steps; the wall time depends on the machine's load,
which is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

KINDS = ["tipping_point", "mi_mar", "mi_j2r", "mi_cr", "mi_cir", "while_alive_auc", "worst_rank"]
BASE = ["primary_ancova"]


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from longmod.pipeline import reanalyse

    reanalyse("stroma-cov2", only=BASE + KINDS)  # warm: imports, compiled kernels
    per: dict[str, list[float]] = {k: [] for k in KINDS}
    cpu: dict[str, list[float]] = {k: [] for k in KINDS}
    total_w, total_c, wr_with, wr_without = [], [], [], []
    for _ in range(args.repeat):
        for k in KINDS:
            res, w, c = _timed(lambda k=k: reanalyse("stroma-cov2", only=[k]))
            per[k].append(float(res.timings.loc[res.timings["analysis"] == k, "seconds"].iloc[0]))
            cpu[k].append(c)
        res, w, c = _timed(lambda: reanalyse("stroma-cov2", only=BASE + KINDS))
        total_w.append(w)
        total_c.append(c)
        base = reanalyse("stroma-cov2", only=BASE)
        with tempfile.TemporaryDirectory() as tmp:
            wr_with.append(_timed(lambda: res.write(f"{tmp}/with"))[2])
            wr_without.append(_timed(lambda: base.write(f"{tmp}/without"))[2])
    med = statistics.median
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    print("| analysis | rows | wall s (timings.csv) | CPU s |")
    print("|---|---|---|---|")
    for k in KINDS:
        print(f"| {k} | {int((res.effects['analysis'] == k).sum())} | {med(per[k]):.2f} | {med(cpu[k]):.2f} |")
    print(f"| all seven + primary_ancova | {len(res.effects)} | {med(total_w):.2f} | {med(total_c):.2f} |")
    print(f"| write (report, figures): with them vs primary only | | | {med(wr_with):.2f} vs {med(wr_without):.2f} |")


if __name__ == "__main__":
    main()
