"""The ``longmod`` command: ``reanalyse``, ``plan init``, ``fit`` and ``trials``.

``longmod reanalyse`` takes a trial folder (``trial.toml``, the data files and
optionally ``plan.toml``) or a bundled trial's name. It shows its progress on
stderr (step i/N, elapsed seconds and the estimated time left, one line
per analysis; ``--quiet`` silences it) and ends with a short table on stdout: every analysis of the
primary outcome at the estimand's day (one day, shown in the heading) beside
the published result, plus a count of diagnostics problems.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback
from pathlib import Path

DEBUG_HELP = "on an error, also print the full traceback"
EXIT_STATUS = """exit status:
  0    success
  1    a failure inside longmod (short message; --debug shows the traceback; please report it)
  2    a user error: bad input files, command line or plan, an unwritable --out (one message per
       cause, naming the file, line and column and what would be valid; nothing is written)
  130  interrupted by Ctrl-C (143: SIGTERM); temporary files are removed, an earlier --out is unchanged
"""

EPILOG = """examples:
  longmod trials                                              # list the bundled (synthetic) trials
  longmod reanalyse stroma-cov2 --out results/stroma-cov2     # the whole plan on the synthetic data
  longmod plan init my_trial/                                 # write my_trial/plan.toml from trial.toml
  longmod reanalyse my_trial/ --out results/my-trial          # your own trial folder and its plan
  longmod fit models/examples/fev_data_us_reml.toml --data fev_data.csv --out results/fev

'longmod COMMAND --help' shows each command's options and examples.

""" + EXIT_STATUS


def _fmt(x, digits: int = 1) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else f"{v:.{digits}f}"


def summary_table(effects, diagnostics=None) -> str:
    """A short plain-text table: every analysis of one outcome at ONE day, beside the published result.

    The rows are those of the report's main forest plot (the published
    outcome at the estimand's day, between-arm effects only; an analysis
    without a result at that day is left out, never shown at another day),
    with a prior grid collapsed to one line, followed by a count of the rows
    left out, of the analyses that did not run and of the fitted analyses
    whose diagnostics are flagged.

    Parameters
    ----------
    effects : pandas.DataFrame
        Effects in the common schema (``Reanalysis.effects``).
    diagnostics : pandas.DataFrame, optional
        The run's diagnostics (:func:`longmod.report.run_diagnostics.run_diagnostics`,
        biomarker models and small-sample flags included), counted as in the
        report; by default those of ``effects`` alone.

    Returns
    -------
    str

    Examples
    --------
    >>> from longmod.results.schema import effects_frame
    >>> eff = effects_frame([
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b", "estimate": 7.4,
    ...      "conf_low": -44.7, "conf_high": 59.7, "p_value": 0.77, "engine": "published"},
    ...     {"analysis": "primary", "outcome": "pf_change", "day": 7, "contrast": "a - b", "estimate": 7.5,
    ...      "conf_low": -44.7, "conf_high": 59.7, "p_value": 0.774, "engine": "ancova-ols"}])
    >>> print(summary_table(eff))  # doctest: +NORMALIZE_WHITESPACE
    pf_change at D7 (a - b)
    analysis  engine      estimate  95% interval   P      vs published
    primary   published        7.4  -44.7 to 59.7  0.770
    primary   ancova-ols       7.5  -44.7 to 59.7  0.774  +0.1
    diagnostics: 0 of 1 fits flagged
    """
    from longmod.report.plots import forest_data
    from longmod.report.tables import diagnostics_table

    fd = forest_data(effects)
    if fd.empty:
        return "(no between-arm effects with a 95% interval; see effects.csv)"
    pub = fd[fd["is_published"]]
    ref = float(pub["estimate"].iloc[0]) if len(pub) else math.nan
    rows = []
    grid_done = set()
    # rows of one analysis by one engine (t test and Welch, two heterogeneity priors) carry their test or prior
    twin = fd.duplicated(["analysis", "engine"], keep=False)
    for i, r in fd.iterrows():
        if r["family"] == "Bayesian prior grid":
            if r["analysis"] in grid_done:
                continue
            grid_done.add(r["analysis"])
            g = fd[(fd["family"] == "Bayesian prior grid") & (fd["analysis"] == r["analysis"])]
            rows.append([f"{r['analysis']} ({len(g)} priors)", str(r["engine"]), "",
                         f"means {_fmt(g['estimate'].min())} to {_fmt(g['estimate'].max())}", "", ""])
            continue
        p = r["p_value"]
        pv = "" if p is None or (isinstance(p, float) and math.isnan(p)) else ("<0.001" if p < 0.001 else f"{p:.3f}")
        diff = "" if r["is_published"] or math.isnan(ref) else f"{r['estimate'] - ref:+.1f}"
        engine = str(r["engine"])
        if twin[i]:
            engine += f" ({str(r['label']).rsplit(' [', 1)[0].rsplit(': ', 1)[-1]})"
        rows.append([str(r["analysis"]), engine, _fmt(r["estimate"]),
                     f"{_fmt(r['conf_low'])} to {_fmt(r['conf_high'])}", pv, diff])
    header = ["analysis", "engine", "estimate", "95% interval", "P", "vs published"]
    widths = [max(len(h), *(len(x[i]) for x in rows)) for i, h in enumerate(header)]
    right = {2, 3}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    first = fd.iloc[0]
    day = "" if first["day"] is None or math.isnan(float(first["day"])) else f" at D{int(first['day'])}"
    contrasts = ", ".join(dict.fromkeys(fd["contrast"].astype(str)))
    out = [f"{first['outcome']}{day} ({contrasts})", line(header)] + [line(x) for x in rows]
    left = len(effects) - len(fd)
    if left > 0:
        out.append(f"({left} more rows - other outcomes, days and within-arm tests - are in effects.csv and the report)")
    if "status" in effects:
        not_run = effects[effects["status"].astype(str).str.startswith(("not run", "failed"))]
        for (a, eng), g in not_run.groupby(["analysis", "engine"], sort=False):
            out.append(f"{a} [{eng}]: {g['status'].iloc[0]}")
    d = diagnostics_table(effects) if diagnostics is None else diagnostics
    if len(d):
        bad = d[d["problem"]]
        out.append(f"diagnostics: {len(bad)} of {len(d)} fits flagged"
                   + (f" ({', '.join(dict.fromkeys(bad['analysis']))}); see report.html#diagnostics" if len(bad) else ""))
    return "\n".join(out)


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is too small: give a whole number >= {low}")
        return value

    return parse


def _plan_steps(args, trial=None, default=None) -> list[tuple[str, str]] | None:
    """(step, kind) of every analysis step ``reanalyse`` will report (for ``i/N`` and the ETA), or None if unknown."""
    try:
        from longmod.biomarkers.section import has_biomarkers
        from longmod.pipeline.run import _resolve_plan, resolve_trial
        from longmod.pipeline.scale import cost_key, planned_steps

        if trial is None:
            trial, default = resolve_trial(args.trial)
        plan = _resolve_plan(args.plan, default, trial)
        kinds = [(a.name, cost_key(a.kind, a.options)) for a in plan.analyses
                 if not args.only or a.name in args.only]
        # the biomarker section reports three steps: tests, censored models, pooled model
        return planned_steps(kinds, (not args.only or "biomarkers" in args.only) and has_biomarkers(trial))
    except Exception:  # the real error, if any, is raised by reanalyse() with its own message
        return None


class _Progress:
    """Progress lines on stderr: ``[i/N  elapsed s, ~T left] message``; silent when ``quiet``.

    The remaining time ``T`` (from the second line on, when N is known) comes from
    :class:`longmod.pipeline.scale.Eta`: a per-kind cost model rescaled by the time the
    completed steps took when ``costs`` are given, else the mean time per completed step.
    """

    def __init__(self, total: int | None, quiet: bool, stream=None, costs=None):
        from longmod.pipeline.scale import Eta

        self.total, self.quiet, self.i = total, quiet, 0
        self.stream = stream if stream is not None else sys.stderr
        self.eta = Eta(costs)
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        self.i += 1
        if self.quiet:
            return
        n = "?" if self.total is None else str(max(self.total, self.i))
        elapsed = time.perf_counter() - self.t0
        left = None if self.total is None else self.eta.remaining(self.i - 1, elapsed, max(self.total, self.i))
        from longmod.pipeline.scale import format_seconds

        eta = "" if left is None else f", ~{format_seconds(left)} left"
        print(f"[{self.i:>{len(n)}}/{n} {elapsed:6.1f} s{eta}] {msg}", file=self.stream, flush=True)


def _cmd_reanalyse(args) -> int:
    from longmod.outputs import check_writable

    t0 = time.perf_counter()
    check_writable(args.out)
    from longmod.pipeline import reanalyse

    from longmod.pipeline.run import resolve_trial

    trial, default_plan = resolve_trial(args.trial)  # loaded and checked once, before anything is fitted
    steps = _plan_steps(args, trial, default_plan)
    costs = None
    if steps is not None:
        from longmod.pipeline.scale import WRITE_COST, step_seconds

        costs = step_seconds(steps, trial.n_patients) + [WRITE_COST.predict(trial.n_patients)]
    progress = _Progress(None if steps is None else len(steps) + 1, args.quiet, costs=costs)
    sampler = {k: getattr(args, k) for k in ("chains", "draws", "tune", "seed") if getattr(args, k) is not None}
    res = reanalyse(trial, plan=args.plan if args.plan is not None else default_plan, only=args.only,
                    progress=progress, sampler=sampler, allow_large=args.allow_large)
    progress("writing effects.csv, timings.csv, report.md, report.json, report.html and figures/")
    out = res.write(args.out)
    if not args.quiet:
        print(f"{res.trial.meta.title or res.trial.meta.name} - data: {res.data_label.upper()}")
        from longmod.report.run_diagnostics import run_diagnostics

        print(summary_table(res.effects, run_diagnostics(res)))
        from longmod.report.published import agreement_summary

        print(agreement_summary(res))
        print(f"wrote {out}/ (effects.csv, timings.csv, report.md, report.json, report.html, figures/) "
              f"in {time.perf_counter() - t0:.1f} s")
    return 0


def _cmd_plan_init(args) -> int:
    from longmod.pipeline.init import write_default_plan

    path = write_default_plan(args.path, force=args.force, output=args.output)
    if not args.quiet:
        print(f"wrote {path}: review it, then run `longmod reanalyse {args.path} --out results`")
    return 0


def _cmd_fit(args) -> int:
    from longmod.engines.registry import fit_model
    from longmod.spec import load_model_spec

    from longmod.data.fit_checks import check_fit_data
    from longmod.data.readers import read_table
    from longmod.outputs import check_writable

    check_writable(args.out)
    import tomllib

    from longmod.errors import UserError

    try:
        spec = load_model_spec(args.spec)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{args.spec}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{args.spec}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    if args.engine:
        spec = spec.replace(engine=args.engine)
    path = Path(args.data)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file (CSV or Parquet in long format)")
    data = read_table(path)
    check_fit_data(spec, data, where=str(path))
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
    """The argument parser of the ``longmod`` command.

    Examples
    --------
    >>> args = build_parser().parse_args(["reanalyse", "stroma-cov2", "--only", "primary_ancova", "--quiet"])
    >>> args.trial, args.only, args.quiet, args.out
    ('stroma-cov2', ['primary_ancova'], True, 'results')
    """
    parser = argparse.ArgumentParser(
        prog="longmod", description="Re-analyse small randomised ICU trials with longitudinal models.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from longmod import __version__

    parser.add_argument("--version", action="version", version=f"longmod {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "reanalyse", help="run a trial's analysis plan and compare with the published results",
        description="Run a trial's analysis plan (estimands, ANCOVA, rank tests, LMM/MMRM, Bayesian models, "
        "prior grid, biomarker section) on your own trial folder or on a bundled trial's SYNTHETIC data, and "
        "write effects.csv (results only), timings.csv, report.md, report.json, the self-contained report.html "
        "and figures/ (PNG and SVG). Engines that cannot run here (e.g. lme4 without R) are found at the start: "
        "their rows say 'not run: ...' and the rest runs. Progress (step i/N, elapsed seconds, estimated time "
        "left) goes to stderr; a step measured not to scale to the trial's size stops the run at the start "
        "(--allow-large runs it anyway); "
        "a short table of every analysis at the estimand's day is printed at the end.",
        epilog="examples:\n"
        "  longmod reanalyse stroma-cov2 --out results/stroma-cov2\n"
        "  longmod reanalyse stroma-cov2 --out results/primary --only primary_ancova rank_sum\n"
        "  longmod reanalyse my_trial/ --out results/mine --quiet\n"
        "  longmod reanalyse my_trial/ --plan my_plan.toml --out results/my-plan\n"
        "  longmod reanalyse stroma-cov2 --out results/quick --chains 2 --draws 300 --tune 300 --seed 7\n\n"
        + EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("trial", nargs="?", default="stroma-cov2",
                   help="a trial folder (trial.toml, patients and measurements files, optionally plan.toml) or a "
                        "bundled trial's name (default: stroma-cov2)")
    p.add_argument("--plan", help="the analysis plan (TOML) to run instead of the one beside the trial (without "
                                  "either, the default plan of `longmod plan init` is run)")
    p.add_argument("--only", nargs="+", metavar="ANALYSIS",
                   help="run only these analyses of the plan ('biomarkers' selects the biomarker section)")
    p.add_argument("--out", default="results", help="output folder, checked before anything is computed; built "
                   "beside it and swapped in whole (an earlier folder is replaced, never mixed; default: results)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--allow-large", action="store_true",
                   help="run every step whatever the trial's size (by default a step measured not to scale to a "
                        "trial this large, e.g. a Bayesian model on thousands of patients, stops the run before "
                        "anything is fitted, with a message naming it)")
    bayes = p.add_argument_group("Bayesian sampler (overrides the specs' [model.sampler] for every Bayesian analysis "
                                 "and the biomarkers' pooled model)")
    for name, what in (("chains", "number of chains"), ("draws", "draws per chain after tuning"),
                       ("tune", "tuning steps per chain"), ("seed", "random seed (same seed, same draws)")):
        bayes.add_argument(f"--{name}", type=_int_at_least(0 if name == "seed" else 1), metavar="N",
                           help=what)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    p.set_defaults(func=_cmd_reanalyse)

    f = sub.add_parser(
        "fit", help="fit one model spec to any long-format data file",
        description="Fit a model spec (TOML with a [model] table) to a long-format CSV/Parquet file and write "
        "effects.csv, params.csv, covariance.csv and fit.json (and lsmeans.csv and type3.csv with the native engine).",
        epilog="example:\n  longmod fit models/examples/fev_data_us_reml.toml --data fev_data.csv --out results/fev\n\n"
        + EXIT_STATUS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    f.add_argument("spec", help="model spec TOML file")
    f.add_argument("--data", required=True, help="long-format data (CSV or Parquet)")
    f.add_argument("--out", required=True, help="output folder")
    from longmod.engines.registry import ENGINE_TABLE

    f.add_argument("--engine", choices=list(ENGINE_TABLE),
                   help=f"override the spec's engine ({', '.join(ENGINE_TABLE)})")
    f.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    f.set_defaults(func=_cmd_fit)

    pl = sub.add_parser("plan", help="write a default analysis plan from a trial folder's trial.toml",
                        description="Commands for analysis plans.",
                        epilog="example:\n  longmod plan init my_trial/",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    plsub = pl.add_subparsers(dest="plan_command", required=True)
    pi = plsub.add_parser(
        "init", help="write PATH/plan.toml: a documented default plan from PATH/trial.toml",
        description="Write a documented default analysis plan from the trial folder's trial.toml: the primary "
        "ANCOVA (primary_outcome at primary_day, adjusted for the baseline and the stratification covariates), "
        "an LOCF sensitivity analysis when the trial has a discharge event, an MMRM (unstructured, Kenward-Roger), "
        "an LMM (random intercept and slope) and a Bayesian MMRM (priors scaled by the MCID). Review it before "
        "running it. An existing plan is never overwritten without --force.",
        epilog="examples:\n  longmod plan init my_trial/\n  longmod plan init my_trial/ --output my_trial/plan_v2.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    pi.add_argument("path", help="the trial folder (with trial.toml)")
    pi.add_argument("--output", help="write the plan here instead of PATH/plan.toml")
    pi.add_argument("--force", action="store_true", help="replace an existing plan file")
    pi.add_argument("--quiet", action="store_true", help="print nothing but errors")
    pi.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    pi.set_defaults(func=_cmd_plan_init)

    t = sub.add_parser("trials", help="list the bundled trials", description="List the bundled trials (their data "
                       "are SYNTHETIC pseudo-patient data reconstructed from published summaries).",
                       epilog="example:\n  longmod trials\n  longmod reanalyse $(longmod trials | head -n 1) --out results",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    t.set_defaults(func=_cmd_trials)

    from longmod.simulate import cli as simulate_cli

    sim = simulate_cli.add_parser(sub)
    sim.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    sim.set_defaults(func=simulate_cli.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``longmod`` command; returns the exit status.

    Exit status: 0 success; 2 a user error (bad input or command line, an
    unwritable ``--out``: one message naming the file, line and column);
    1 a failure inside longmod (a short message; the traceback with
    ``--debug``); 130 after Ctrl-C, 143 after SIGTERM (the temporary output
    is removed, a previous ``--out`` folder is unchanged).

    Examples
    --------
    >>> main(["trials"])
    gregoire-2022
    ...
    stroma-cov2
    0
    >>> main(["reanalyse", "no-such-trial"])  # the message goes to stderr
    2
    """
    from longmod.errors import EXIT_INTERNAL, EXIT_USER, Interrupted, interrupt_behind, is_user_error, user_message
    from longmod.outputs import private_tempdir, signals_raise

    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        with signals_raise(), private_tempdir():
            args = build_parser().parse_args(argv)
            return args.func(args)
    except BaseException as exc:  # noqa: BLE001 - every error ends in one message and an exit status
        interrupt = interrupt_behind(exc)
        if interrupt is None and not isinstance(exc, Exception):
            raise  # SystemExit (argparse's usage errors and --help)
        if debug:
            traceback.print_exc()
        if interrupt is not None:
            signum = interrupt.signum if isinstance(interrupt, Interrupted) else 2
            name = "SIGTERM" if signum == 15 else ("interrupted (Ctrl-C)" if signum == 2 else f"signal {signum}")
            print(f"longmod: {name}: stopped; nothing was written (an earlier output folder is unchanged)",
                  file=sys.stderr)
            return 128 + signum
        if is_user_error(exc):
            print(f"longmod: error: {user_message(exc)}", file=sys.stderr)
            return EXIT_USER
        print(f"longmod: internal error ({type(exc).__name__}: {exc}); this is a failure inside longmod, not a "
              "problem with your input: please report it with the output of the same command run with --debug",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
