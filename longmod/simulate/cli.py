"""The ``longmod simulate`` command (registered by :mod:`longmod.cli`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """examples:
  longmod simulate models/scenarios/stroma_cov2_null.toml --trials 2000 --out results/sim-null
  longmod simulate stroma_cov2_power --trials 1000 --workers 2 --seed 7 --out results/sim-power
  longmod simulate my_scenario.toml --trials 500 --scheduler tcp://10.0.0.5:8786 --out results/sim

A scenario is a TOML file or the name of a bundled one (models/scenarios/); an interrupted
run started again with the same arguments resumes from its checkpoint.
"""


def scenario_path(name: str) -> Path:
    """A scenario file, or a bundled scenario by name (``stroma_cov2_null``).

    Examples
    --------
    >>> scenario_path("stroma_cov2_null").name
    'stroma_cov2_null.toml'
    """
    p = Path(name)
    if p.is_file():
        return p
    from longmod.resources import models_dir

    folder = models_dir() / "scenarios"
    cand = folder / f"{name.replace('-', '_').removesuffix('.toml')}.toml"
    if cand.is_file():
        return cand
    have = ", ".join(sorted(f.stem for f in folder.glob("*.toml")))
    raise FileNotFoundError(f"scenario {name!r}: no such file, and not a bundled scenario (bundled: {have})")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``simulate`` to the ``longmod`` command's subparsers."""
    p = subparsers.add_parser(
        "simulate", help="simulate trials from a scenario and estimate each analysis's operating characteristics",
        description="Simulate trials from SCENARIO, analyse each with the scenario's analyses and write "
                    "operating_characteristics.csv (rejection rate, bias, RMSE, coverage, CI width, with Monte Carlo "
                    "SEs), trials.csv.gz, truth.csv, report.md and figures/power_curves.* into --out.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", help="scenario TOML file or bundled scenario name")
    p.add_argument("--trials", type=int, required=True, help="simulated trials per scenario cell")
    p.add_argument("--out", required=True, help="output folder (replaced whole at the end)")
    p.add_argument("--seed", type=int, default=1, help="seed of the whole study (default 1)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="workers of the local cluster (default: number of CPUs)")
    p.add_argument("--chunk-size", type=int, default=50, help="trials per task (default 50; part of the seed's meaning)")
    p.add_argument("--threads", action="store_true",
                   help="run the local cluster's workers as threads of this process (no network needed)")
    p.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code (2: bad scenario or option)."""
    from longmod.simulate.run import ClusterStartError, run_simulation
    from longmod.simulate.scenario import load_scenario
    from longmod.spec.model import SpecError

    try:
        sc = load_scenario(scenario_path(args.scenario))
        if args.trials < 1:
            raise ValueError(f"--trials must be >= 1 (got {args.trials})")
        res = run_simulation(sc, trials=args.trials, seed=args.seed, out=args.out,
                             scheduler="serial" if args.serial else "threads" if args.threads else args.scheduler, workers=args.workers,
                             chunk_size=args.chunk_size, progress=not args.quiet)
    except (SpecError, FileNotFoundError, ValueError, ClusterStartError) as exc:
        print(f"longmod simulate: {exc}", file=sys.stderr)
        return 2
    oc = res.operating_characteristics
    cols = ["analysis", "n_per_arm", "effect", "trials", "rejection_rate", "bias", "coverage", "mean_ci_width"]
    print(oc[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {args.out}/operating_characteristics.csv and report.md")
    return 0
