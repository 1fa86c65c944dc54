"""The ``longmod`` command."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

EPILOG = """examples:
  longmod reanalyse stroma-cov2 --out results/stroma-cov2
  longmod reanalyse stroma-cov2 --data my_trial/ --out results/my-trial
  longmod fit models/examples/fev_data_us_reml.toml --data fev_data.csv --out results/fev
  longmod trials
"""


def _summary(effects) -> str:
    import math

    lines = [f"{'analysis':<30} {'outcome':<17} {'engine':<14} {'estimate':>9} {'95% interval':>22} {'P':>7}"]
    show = effects[(effects["day"] == 7) | effects["day"].isna()]
    for _, r in show.iterrows():
        ci = f"{r['conf_low']:.1f} to {r['conf_high']:.1f}" if not math.isnan(r["conf_low"]) else ""
        p = "" if math.isnan(r["p_value"]) else f"{r['p_value']:.3f}"
        name = str(r["analysis"]) + ("" if str(r.get("contrast", "")).endswith("placebo") else f" [{r['contrast']}]")
        if isinstance(r.get("prior"), str):
            name = f"{r['analysis']} [{r['prior']}]"
        lines.append(f"{name[:30]:<30} {str(r['outcome'])[:17]:<17} {str(r['engine'])[:14]:<14} {r['estimate']:>9.1f} {ci:>22} {p:>7}")
    lines.append("(day-7 rows; every row, day and engine is in effects.csv)")
    return "\n".join(lines)


def _cmd_reanalyse(args) -> int:
    from longmod.reanalyse import reanalyse

    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr)

    res = reanalyse(args.trial, data=args.data, plan=args.plan, only=args.only, progress=progress)
    out = res.write(args.out)
    if not args.quiet:
        print(f"\n{res.trial.meta.title or res.trial.meta.name} - data: {res.data_label.upper()}")
        print(_summary(res.effects))
        print(f"\nwrote {out}/ (effects.csv, report.md, report.json, report.html, figures/) in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_fit(args) -> int:
    import pandas as pd

    from longmod.engines.registry import fit_model
    from longmod.spec import load_model_spec

    spec = load_model_spec(args.spec)
    if args.engine:
        spec = spec.replace(engine=args.engine)
    path = Path(args.data)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file (CSV or Parquet in long format)")
    data = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    res = fit_model(spec, data)
    res.write(args.out)
    c = res.convergence
    print(f"{spec.name}: engine {res.engine}, converged={c.converged}, -2 log-likelihood "
          f"{res.fit_stats.get('neg2_log_likelihood', float('nan')):.4f}; wrote {args.out}/")
    for w in c.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _cmd_trials(args) -> int:
    from longmod.resources import trial_names

    for name in trial_names():
        print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``longmod`` command."""
    parser = argparse.ArgumentParser(
        prog="longmod", description="Re-analyse small randomised ICU trials with longitudinal models.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from longmod import __version__

    parser.add_argument("--version", action="version", version=f"longmod {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "reanalyse", help="run a trial's analysis plan and compare with the published results",
        description="Run the trial's declared analysis plan (estimands, ANCOVA, rank tests, models) on the bundled "
        "SYNTHETIC data or on your own trial folder, and write effects.csv, report.md and report.json.",
        epilog="examples:\n  longmod reanalyse stroma-cov2 --out results/stroma-cov2\n"
        "  longmod reanalyse stroma-cov2 --data my_trial/ --out results/mine --only primary_ancova",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("trial", nargs="?", default="stroma-cov2", help="bundled trial whose plan is used (default: stroma-cov2)")
    p.add_argument("--data", help="your own trial folder (trial.toml + patients + measurements) instead of the bundled data")
    p.add_argument("--plan", help="another analysis plan (TOML) instead of the trial's bundled one")
    p.add_argument("--only", nargs="+", metavar="ANALYSIS", help="run only these analyses of the plan")
    p.add_argument("--out", default="results", help="output folder (written whole or not at all; default: results)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=_cmd_reanalyse)

    f = sub.add_parser(
        "fit", help="fit one model spec to any long-format data file",
        description="Fit a model spec (TOML with a [model] table) to a long-format CSV/Parquet file and write "
        "effects.csv, params.csv, covariance.csv and fit.json.",
        epilog="example:\n  longmod fit models/examples/fev_data_us_reml.toml --data fev_data.csv --out results/fev",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("spec", help="model spec TOML file")
    f.add_argument("--data", required=True, help="long-format data (CSV or Parquet)")
    f.add_argument("--out", required=True, help="output folder")
    f.add_argument("--engine", help="override the spec's engine (native, statsmodels, lme4, pymc)")
    f.set_defaults(func=_cmd_fit)

    t = sub.add_parser("trials", help="list the bundled trials", description="List the bundled (synthetic) trials.")
    t.set_defaults(func=_cmd_trials)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``longmod`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError, ImportError, NotImplementedError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"longmod: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
