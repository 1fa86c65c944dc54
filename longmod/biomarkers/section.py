"""The biomarker section of ``longmod reanalyse``: every biomarker analysis, tidy."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from longmod.biomarkers.frame import biomarker_frame, check_frame
from longmod.biomarkers.paper import paper_tests, volcano_data
from longmod.biomarkers.tobit import fit_all_markers

SYNTHETIC_LABEL = "SYNTHETIC pseudo-patient data"


def _label(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    out = frame.copy()
    out["data_label"] = label
    return out


def _provenance(trial: Any, frame: pd.DataFrame, pooled: bool, sampler: Mapping[str, Any] | None,
                prior: str | None = None, arms: tuple[str, str] = ("", "")) -> pd.DataFrame:
    from longmod import __version__
    from longmod.data.trial import frame_sha256

    rows = [("longmod", __version__), ("biomarker_frame_sha256", frame_sha256(frame)),
            ("data_source", str(getattr(trial, "provenance", {}).get("source", "DataFrame"))),
            ("active_arm", arms[0]), ("reference_arm", arms[1])]
    if pooled:
        from longmod.biomarkers.bayes import BIOMARKER_SAMPLER

        rows += [("pooling_prior", str(prior))]
        rows += [(f"sampler_{k}", str(v)) for k, v in {**BIOMARKER_SAMPLER, **dict(sampler or {})}.items()]
    return pd.DataFrame(rows, columns=["key", "value"])


def marker_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per marker: samples, censored fraction and LLOQ.

    Returns
    -------
    pandas.DataFrame
        ``marker``, ``n_samples``, ``n_patients``, ``n_censored``,
        ``censored_fraction``, ``lloq`` (median over samples, raw scale).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> marker_summary(simulate_biomarkers(2, censor_fractions=[0, .5], seed=1)).censored_fraction.round(1).tolist()
    [0.0, 0.6]
    """
    f = check_frame(frame)
    g = f.groupby("marker", sort=True)
    out = pd.DataFrame({
        "n_samples": g.size(), "n_patients": g["patient_id"].nunique(), "n_censored": g["censored"].sum().astype(int),
        "lloq": g["lloq"].median(),
    })
    out.insert(3, "censored_fraction", out["n_censored"] / out["n_samples"])
    return out.reset_index()


def bh_table(tests: pd.DataFrame, mixed: pd.DataFrame | None = None, pooled: pd.DataFrame | None = None,
             *, active: str, reference: str) -> pd.DataFrame:
    """Between-arm results per marker and day, side by side.

    Returns
    -------
    pandas.DataFrame
        ``outcome``, ``day``, ``log2_fold_change``, ``wilcoxon_p``,
        ``wilcoxon_p_bh`` (BH across markers within the day), then, when
        given, ``tobit_estimate``, ``tobit_conf_low``, ``tobit_conf_high``,
        ``tobit_p``, ``tobit_p_bh`` (censored mixed model, log10 difference)
        and ``pooled_estimate``, ``pooled_conf_low``, ``pooled_conf_high``,
        ``pooled_prob_decrease``, ``pooled_lfsr`` (posterior of the pooled
        model); sorted by day and Wilcoxon P.

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers
    >>> t = bh_table(paper_tests(simulate_biomarkers(2, censor_fractions=[0, .3], seed=2)),
    ...              active="active", reference="control")
    >>> list(t.columns)
    ['outcome', 'day', 'log2_fold_change', 'wilcoxon_p', 'wilcoxon_p_bh']
    """
    contrast = f"{active} - {reference}"
    t = tests[tests["contrast"] == contrast][["outcome", "day", "log2_fold_change", "p_value", "p_value_bh"]]
    t = t.rename(columns={"p_value": "wilcoxon_p", "p_value_bh": "wilcoxon_p_bh"})
    if mixed is not None:
        m = mixed[["outcome", "day", "estimate", "conf_low", "conf_high", "p_value", "p_value_bh"]]
        m = m.rename(columns={"estimate": "tobit_estimate", "conf_low": "tobit_conf_low", "conf_high": "tobit_conf_high",
                              "p_value": "tobit_p", "p_value_bh": "tobit_p_bh"})
        t = t.merge(m, on=["outcome", "day"], how="left", validate="1:1")
    if pooled is not None:
        p = pooled[["outcome", "day", "estimate", "conf_low", "conf_high", "prob_decrease", "lfsr"]]
        p = p.rename(columns={"estimate": "pooled_estimate", "conf_low": "pooled_conf_low",
                              "conf_high": "pooled_conf_high", "prob_decrease": "pooled_prob_decrease",
                              "lfsr": "pooled_lfsr"})
        t = t.merge(p, on=["outcome", "day"], how="left", validate="1:1")
    return t.sort_values(["day", "wilcoxon_p"], kind="stable").reset_index(drop=True)


def has_biomarkers(trial: Any) -> bool:
    """True when the trial has at least one variable with an LLOQ (a biomarker).

    Lets ``longmod reanalyse`` skip the section for trials without biomarkers
    (:func:`biomarker_section` raises ``ValueError`` then).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers, to_trial
    >>> has_biomarkers(to_trial(simulate_biomarkers(1, censor_fractions=[0.2], seed=1)))
    True
    """
    return bool(trial.measurements["lloq"].notna().any())


def biomarker_section(trial: Any, *, markers: Sequence[str] | None = None, pooled: bool = True,
                      prior: str | None = None, sampler: Mapping[str, Any] | None = None,
                      progress: Callable[[str], None] | None = None, active: str | None = None,
                      reference: str | None = None) -> dict[str, pd.DataFrame]:
    """Run the whole biomarker analysis of a trial.

    Parameters
    ----------
    trial : TrialData or pandas.DataFrame
        A trial (converted with :func:`~longmod.biomarkers.frame.biomarker_frame`)
        or a biomarker frame directly. Not modified.
    markers : sequence of str, optional
        Markers to analyse (default: every variable with an LLOQ).
    pooled : bool
        Fit the pooled Bayesian model (the slow part: 2 x 3000 sampler steps,
        ~1.5 min for 48 markers on a quiet 2-core machine).
    prior : {"horseshoe", "normal"}, optional
        Population distribution of the pooled model (default: the first of
        :data:`longmod.biomarkers.bayes.POOLING_PRIORS`, the sparse
        regularised horseshoe).
    sampler : mapping, optional
        Overrides of :data:`longmod.biomarkers.bayes.BIOMARKER_SAMPLER`.
    progress : callable, optional
        Called with a short message before each step.
    active, reference : str, optional
        The arms compared. Default for a TrialData: its reference arm and its
        (single) active arm; for a frame, the simulator's labels
        (:data:`longmod.biomarkers.simulate.ACTIVE`, ``REFERENCE``). A trial with more than
        one active arm needs ``active``: the section compares one arm with
        the reference.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``markers`` (:func:`marker_summary`); ``paper_tests`` (every Wilcoxon
        test with BH, common schema, :func:`~longmod.biomarkers.paper.paper_tests`);
        ``volcano`` (:func:`~longmod.biomarkers.paper.volcano_data`);
        ``censored_mixed`` (per-day contrasts of the censored random-intercept
        model, common schema, :func:`~longmod.biomarkers.tobit.fit_all_markers`);
        ``bh_table`` (:func:`bh_table`); with ``pooled``: ``pooled``
        (posterior effects per marker and day, common schema + Bayesian
        columns), ``pooled_hyper`` and ``pooled_diagnostics``; always
        ``timings`` (``step``, ``seconds``) and ``provenance`` (``key``,
        ``value``: longmod version, sha256 of the biomarker frame, data
        source, sampler settings when pooled). Effects tables carry
        ``data_label`` (``"SYNTHETIC pseudo-patient data"`` for synthetic trials).

    Examples
    --------
    >>> from longmod.biomarkers.simulate import simulate_biomarkers, to_trial
    >>> out = biomarker_section(to_trial(simulate_biomarkers(3, seed=3)), pooled=False)
    >>> sorted(out)
    ['bh_table', 'censored_mixed', 'markers', 'paper_tests', 'provenance', 'timings', 'volcano']
    """
    t0 = time.perf_counter()
    if isinstance(trial, pd.DataFrame):
        from longmod.biomarkers.simulate import ACTIVE, REFERENCE

        active, reference = active or ACTIVE, reference or REFERENCE
        frame, label = check_frame(trial if markers is None else trial[trial["marker"].isin(list(markers))]), ""
    else:
        meta = trial.meta
        reference = reference or meta.reference_arm
        if active is None:
            if len(meta.active_arms) != 1:
                raise ValueError(f"the trial has {len(meta.active_arms)} active arms ({', '.join(meta.active_arms)}); "
                                 "give active= to choose the one compared with the reference")
            active = meta.active_arms[0]
        frame = biomarker_frame(trial, markers)
        label = SYNTHETIC_LABEL if getattr(trial.meta, "synthetic", False) else ""
    frame = frame[frame["arm"].isin([active, reference])]
    if frame.empty:
        raise ValueError("no biomarker data: no variable has an LLOQ (pass markers=... to choose them)")
    timings = [("prepare", time.perf_counter() - t0)]
    n_markers = frame.marker.nunique()

    def say(msg: str) -> None:
        if progress:
            progress(f"biomarkers: {msg}")

    say(f"test-by-test Wilcoxon + BH ({n_markers} markers)")
    t = time.perf_counter()
    tests = paper_tests(frame, active=active, reference=reference)
    timings.append(("test-by-test (Wilcoxon + BH)", time.perf_counter() - t))
    say(f"censored mixed models ({n_markers} markers)")
    t = time.perf_counter()
    mixed = fit_all_markers(frame, active=active, reference=reference)
    timings.append((f"censored mixed models ({n_markers} markers)", time.perf_counter() - t))
    out: dict[str, pd.DataFrame] = {
        "markers": marker_summary(frame), "paper_tests": _label(tests, label), "volcano": volcano_data(tests),
        "censored_mixed": _label(mixed, label),
    }
    pooled_eff = None
    if pooled:
        from longmod.biomarkers.bayes import POOLING_PRIORS, fit_pooled

        prior = prior or POOLING_PRIORS[0]
        say(f"pooled Bayesian model ({prior} prior, {n_markers} markers)")
        t = time.perf_counter()
        res = fit_pooled(frame, sampler=sampler, prior=prior, active=active, reference=reference)
        timings.append(("pooled Bayesian model", time.perf_counter() - t))
        pooled_eff = res["effects"]
        out["pooled"] = _label(pooled_eff, label)
        out["pooled_hyper"] = res["hyper"]
        out["pooled_diagnostics"] = res["diagnostics"]
    out["bh_table"] = bh_table(tests, mixed, pooled_eff, active=active, reference=reference)
    out["provenance"] = _provenance(trial, frame, pooled, sampler, prior, (active, reference))
    timings.append(("total", time.perf_counter() - t0))
    out["timings"] = pd.DataFrame(timings, columns=["step", "seconds"])
    return out


def write_section(section: Mapping[str, pd.DataFrame], folder: str | Path) -> list[Path]:
    """Write every table of a biomarker section as ``folder/<name>.csv``.

    Parameters
    ----------
    section : mapping of str to pandas.DataFrame
        The output of :func:`biomarker_section`.
    folder : str or pathlib.Path
        Created if missing (``longmod reanalyse`` passes ``<out>/biomarkers``
        inside its all-or-nothing output folder).

    Returns
    -------
    list of pathlib.Path
        The written files, in the section's order.

    Examples
    --------
    >>> import tempfile
    >>> from longmod.biomarkers.simulate import simulate_biomarkers, to_trial
    >>> sec = biomarker_section(to_trial(simulate_biomarkers(2, seed=3)), pooled=False)
    >>> sorted(p.name for p in write_section(sec, tempfile.mkdtemp()))[:3]
    ['bh_table.csv', 'censored_mixed.csv', 'markers.csv']
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in section.items():
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    return written
