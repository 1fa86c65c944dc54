"""``longmod plan init``: a documented default analysis plan written from a trial's ``trial.toml``.

The default plan follows what small randomised ICU trials usually declare:

* the primary ANCOVA of the change from baseline of ``primary_outcome`` at
  ``primary_day``, adjusted for the baseline value and the stratification
  covariates (values missing after death or discharge left missing:
  hypothetical strategy);
* an LOCF sensitivity analysis when the trial declares a discharge event;
* an MMRM (unstructured covariance, REML, Kenward-Roger df) and an LMM
  (random intercept and slope, Satterthwaite df) over the visits up to the
  primary day;
* a Bayesian MMRM whose priors are scaled by the outcome's MCID (5 x MCID),
  or by its plausible range when no MCID is declared.

Everything is written out explicitly with comments, so the user reviews and
edits the plan rather than trusting defaults.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from longmod.data.meta import TrialMeta
from longmod.spec.plan import AnalysisPlan, plan_from_mapping

#: Seed written into the Bayesian sampler settings (change it freely; the same seed gives the same draws).
DEFAULT_SEED: int = 20240101


def _q(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list(items) -> str:
    return "[" + ", ".join(_q(x) if isinstance(x, str) else str(x) for x in items) + "]"


def default_plan_text(meta: TrialMeta) -> str:
    """The default plan of a trial as documented TOML text.

    Raises
    ------
    ValueError
        When ``trial.toml`` declares no ``primary_outcome`` or ``primary_day``.

    Examples
    --------
    >>> from longmod.data import read_trial_toml
    >>> from longmod.resources import fixtures_dir
    >>> text = default_plan_text(read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml"))
    >>> [line for line in text.splitlines() if line.startswith("kind")]
    ['kind = "ancova"', 'kind = "ancova"', 'kind = "model"', 'kind = "model"', 'kind = "bayes_model"']
    """
    missing = [k for k in ("primary_outcome", "primary_day") if getattr(meta, k) is None]
    if missing:
        raise ValueError(f"longmod plan init needs {' and '.join(missing)} in trial.toml's [trial] table "
                         "(the primary outcome, a [variables.*] name, and its day)")
    out, day = meta.primary_outcome, meta.primary_day
    info = meta.variable_info(out)
    strata = list(meta.stratification)
    covariates = ["baseline", *strata]
    has = {k: bool(meta.events_of_kind(k)) for k in ("death", "discharge")}
    days = [d for d in meta.schedule if meta.baseline_day < d <= day]
    fixed = " + ".join(["arm * visit", *covariates])
    arms = ", ".join(meta.active_arms)
    lines = [
        f"# Analysis plan for {meta.name}, written by `longmod plan init` from trial.toml.",
        "# Review every choice below before running it: the defaults are a starting point, not a protocol.",
        "# Every key is documented on the docs' \"Plan format\" page. The comparison is",
        f"# {arms} vs {meta.reference_arm} (trial.toml: arms, reference_arm);",
        f"# the stratification covariates are {', '.join(strata) if strata else 'none'} (trial.toml: [covariates.*]).",
        "",
        "[plan]",
        f"trial = {_q(meta.name)}",
        "",
        "# ---- estimands: what is estimated, and how intercurrent events are handled --------------",
        "# hypothetical = the value is left missing (likelihood-based models treat it as missing at random;",
        "# the ANCOVA analyses the patients with a value and counts the others in n_dropped).",
    ]
    if has["death"]:
        lines.append("# To impute instead: death = { strategy = \"composite\", value = <a value in the outcome's units> }")
    if has["discharge"]:
        lines.append("# To impute instead: discharge = { strategy = \"locf_multiplier\", factor = 1.10 }")
    lines += [
        "[estimands.primary]",
        f"label = {_q(f'Primary: {info.label or out} change from baseline to day {day}')}",
        f"outcome = {_q(out)}",
        f"day = {day}",
    ]
    if has["death"]:
        lines.append('death = "hypothetical"')
    if has["discharge"]:
        lines.append('discharge = "hypothetical"')
    lines += ['other_missing = "exclude"', ""]
    if has["discharge"]:
        lines += ["[estimands.locf]",
                  _kv("label", "Sensitivity: last observation carried forward after discharge"),
                  f"outcome = {_q(out)}", f"day = {day}"]
        if has["death"]:
            lines.append('death = "hypothetical"')
        lines += ['discharge = "locf"', 'other_missing = "exclude"', ""]
    lines += ["[estimands.longitudinal]",
              _kv("label", "Hypothetical: every post-baseline visit, missing values modelled (MAR)"),
              f"outcome = {_q(out)}", f"day = {day}"]
    lines += [f'{k} = "hypothetical"' for k, present in has.items() if present]
    lines += ['other_missing = "hypothetical"', "", "# ---- analyses ----------------------------------------------------------------------------",
              "[[analyses]]", 'name = "primary_ancova"', 'kind = "ancova"', 'estimand = "primary"',
              f"covariates = {_list(covariates)}",
              _kv("label", f"ANCOVA of the change to day {day} (primary)"), ""]
    if has["discharge"]:
        lines += ["[[analyses]]", 'name = "locf_ancova"', 'kind = "ancova"', 'estimand = "locf"',
                  f"covariates = {_list(covariates)}", _kv("label", "ANCOVA, LOCF sensitivity"), ""]
    lines += [
        f"# Longitudinal models over the visits up to day {day} (add later days to `days`).",
        "[[analyses]]", 'name = "mmrm_us_kr"', 'kind = "model"', 'estimand = "longitudinal"',
        f"outcomes = {_list([out])}", f"days = {_list(days)}",
        f'model = {{ fixed = {_q(fixed)}, covariance = "us", method = "reml", df = "kenward-roger" }}',
        _kv("label", "MMRM (unstructured, REML, Kenward-Roger)"), "",
        "[[analyses]]", 'name = "lmm_ris"', 'kind = "model"', 'estimand = "longitudinal"',
        f"outcomes = {_list([out])}", f"days = {_list(days)}",
        f'model = {{ fixed = {_q(fixed)}, covariance = "ris", method = "reml", df = "satterthwaite" }}',
        _kv("label", "LMM (random intercept + slope on day, REML, Satterthwaite)"), "",
    ]
    scale, why = _prior_scale(meta)
    if scale is None:
        lines += [f"# No Bayesian MMRM: {why}.", ""]
    else:
        lines += [
            f"# Bayesian MMRM: priors on the outcome's scale, scale = {scale:g} ({why}); see the docs' Bayesian",
            "# priors. Sampler: 4 chains x 1000 draws after 1000 tuning steps, fixed seed (same seed, same draws).",
            "[[analyses]]", 'name = "bayes_mmrm"', 'kind = "bayes_model"', 'estimand = "longitudinal"',
            f"outcomes = {_list([out])}", f"days = {_list(days)}",
            f'model = {{ fixed = {_q(fixed)}, covariance = "us", priors = {{ scale = {scale:g} }}, '
            f"sampler = {{ chains = 4, draws = 1000, tune = 1000, seed = {DEFAULT_SEED}, progress_bar = false }} }}",
            _kv("label", "Bayesian MMRM (unstructured, missing visits marginalised)"), "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def _kv(key: str, value: str) -> str:
    return f"{key} = {_q(value)}"


def _prior_scale(meta: TrialMeta) -> tuple[float | None, str]:
    info = meta.variable_info(meta.primary_outcome)
    if info.mcid is not None:
        return 5.0 * float(info.mcid), f"5 x the MCID of {info.mcid:g} declared in trial.toml"
    if info.min is not None and info.max is not None:
        return (info.max - info.min) / 4.0, (f"a quarter of the plausible range {info.min:g} to {info.max:g}; no "
                                             "MCID is declared")
    return None, (f"{meta.primary_outcome!r} declares neither an mcid nor a plausible range (min, max) to scale "
                  "the priors; declare one in trial.toml and run `longmod plan init` again")


def default_plan(meta: TrialMeta) -> AnalysisPlan:
    """The default plan (:func:`default_plan_text`) as an :class:`AnalysisPlan` (not written anywhere).

    Examples
    --------
    >>> from longmod.data import read_trial_toml
    >>> from longmod.resources import fixtures_dir
    >>> plan = default_plan(read_trial_toml(fixtures_dir() / "stroma_cov2" / "trial.toml"))
    >>> plan.analysis_names()
    ['primary_ancova', 'locf_ancova', 'mmrm_us_kr', 'lmm_ris', 'bayes_mmrm']
    """
    text = default_plan_text(meta)
    return plan_from_mapping(tomllib.loads(text), where="(default plan)", text=text)


def write_default_plan(folder: str | Path, *, force: bool = False, output: str | Path | None = None) -> Path:
    """Write the default plan of the trial in ``folder`` to ``folder/plan.toml`` (or ``output``).

    Raises
    ------
    FileExistsError
        When the file exists and ``force`` is False (a plan is never overwritten silently).
    """
    from longmod.data.trial_toml import read_trial_toml

    folder = Path(folder)
    meta = read_trial_toml(folder / "trial.toml")
    path = Path(output) if output is not None else folder / "plan.toml"
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; use --force to replace it (or --output to write elsewhere)")
    text = default_plan_text(meta)
    default_plan(meta)  # the written plan always loads
    path.write_text(text, encoding="utf-8")
    return path
