"""Time to build the HTML report (+ figures) and the documentation site (issue 6 targets: < 5 s, < 5 min).

Run from the repository root:  .venv/bin/python benchmarks/bench_report.py [--repeat 3] [--no-docs]

* Report: ``write_html_report(res, out)`` (report.html + figures/*.png|svg) for a
  reanalysis of the bundled STROMA-CoV-2 fixture (all analyses of the plan), or of a
  seeded SYNTHETIC toy trial when the fixture is not built. Timed in-process after
  matplotlib is imported once (the first report in a process also pays the matplotlib
  import, reported separately). Wall and CPU time, median of the repeats.
* Docs: ``mkdocs build --strict`` into a temporary folder, a fresh process each time
  (worked examples executed). The first build is the cold one; later ones are warm.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def reanalysis():
    from longmod.reanalyse import reanalyse
    from longmod.resources import fixtures_dir

    if (fixtures_dir() / "stroma_cov2" / "measurements.csv").is_file():
        return reanalyse("stroma-cov2"), "bundled STROMA-CoV-2 fixture (SYNTHETIC), whole plan"
    import importlib.util

    spec = importlib.util.spec_from_file_location("toy_trial", ROOT / "tests" / "report" / "toy_trial.py")
    toy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(toy)
    res = toy.toy_reanalysis(toy.write_toy_trial(Path(tempfile.mkdtemp()) / "toy"))
    return res, "toy SYNTHETIC trial (fixture not built) + hand-made MMRM/LMM/Bayes/prior-grid rows"


def bench_report(repeat: int) -> None:
    res, what = reanalysis()
    t0 = time.perf_counter()
    import matplotlib.figure  # noqa: F401  (first-use import cost, reported separately)

    imp = time.perf_counter() - t0
    from longmod.report.html import write_html_report

    wall, cpu = [], []
    for i in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            c0, t0 = time.process_time(), time.perf_counter()
            write_html_report(res, Path(tmp) / "out")
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    print(f"data                               : {what}")
    print(f"effects rows                       : {len(res.effects)}")
    print(f"import matplotlib (once/process)   : {imp:.2f} s")
    print(f"write_html_report (+figures)       : {statistics.median(wall):.2f} s wall, "
          f"{statistics.median(cpu):.2f} s CPU (median of {repeat}; wall min {min(wall):.2f}, max {max(wall):.2f})")


def bench_docs(repeat: int) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(ROOT / "mkdocs.yml")]
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([*mkdocs, "-d", tmp], check=True, cwd=ROOT, env=env, capture_output=True)
            times.append(time.perf_counter() - t0)
    print(f"mkdocs build --strict (docs site)  : first {times[0]:.1f} s; "
          f"median {statistics.median(times):.1f} s of {repeat} (min {min(times):.1f}, max {max(times):.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-docs", action="store_true", help="skip the docs build")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    bench_report(args.repeat)
    if not args.no_docs:
        bench_docs(args.repeat)


if __name__ == "__main__":
    main()
