"""The ``joint_model`` analysis kind: registry entry, checks, inputs from the trial's metadata, one small run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from longmod.data import from_frames, load_trial
from longmod.pipeline.context import RunContext
from longmod.resources import fixtures_dir, models_dir
from longmod.spec.plan import Analysis, load_plan

#: Small draws for the pipeline run (its numbers are checked against a direct engine call, not against a truth).
SMALL = {"chains": 2, "draws": 200, "tune": 300, "seed": 3}


@pytest.fixture(scope="module")
def stroma():
    return load_trial(fixtures_dir() / "stroma_cov2"), load_plan(models_dir() / "stroma_cov2" / "plan.toml")


def test_registry_entry():
    from longmod.pipeline.registry import KINDS

    k = KINDS["joint_model"]
    assert k.estimand == "none" and k.sampled
    assert k.option_names == ("outcome", "landmark", "events", "covariates", "association", "followup", "sampler")


def test_check_names_every_problem(stroma):
    from longmod.pipeline.runners_joint import check_joint_model, joint_inputs

    ctx = RunContext(*stroma)
    bad = Analysis("jm", "joint_model", None, {"outcome": "nope", "covariates": ["ards_severity", "bmi"],
                                               "events": ["death", "transfer"], "association": ["area"]})
    problems = check_joint_model(ctx, bad)
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    for word in ("'nope'", "'transfer'", "'ards_severity' is categorical", "'bmi' is not declared", "'area'"):
        assert word in text
    with pytest.raises(ValueError, match="'nope' is not a declared variable"):
        joint_inputs(ctx, bad)
    assert check_joint_model(ctx, Analysis("jm", "joint_model", None, {})) == []


def test_inputs_come_from_the_metadata(stroma):
    from longmod.pipeline.runners_joint import joint_inputs

    trial, plan = stroma
    before = trial.patients
    kw = joint_inputs(RunContext(trial, plan), Analysis("jm", "joint_model", None, {}))[0]
    pd.testing.assert_frame_equal(trial.patients, before)
    p = kw["patients"]
    pat = trial.patients.set_index("patient_id")
    # the first event of each patient, censored at the declared follow-up (day 28)
    first = pat[["death_day", "icu_discharge_day"]].min(axis=1).fillna(28.0).clip(upper=28.0)
    np.testing.assert_allclose(p.set_index("patient_id").loc[pat.index, "event_time"], first)
    dead = pat.death_day.notna() & ~(pat.icu_discharge_day < pat.death_day) & (pat.death_day <= 28)
    assert (p.set_index("patient_id").loc[pat.index[dead], "event"] == "death").all()
    assert set(kw["measurements"].columns) == {"patient_id", "day", "value"}
    assert len(kw["measurements"]) == (trial.measurements.variable == "pao2_fio2").sum()


def _packed(trial, plan):
    from longmod.engines.joint.data import prepare_joint_data
    from longmod.pipeline.runners_joint import joint_inputs

    kw = joint_inputs(RunContext(trial, plan), Analysis("jm", "joint_model", None, {}))[0]
    for k in ("contrast", "better", "landmark", "mcid", "association", "outcome", "horizon"):
        kw.pop(k)
    jd, benefit = prepare_joint_data(kw.pop("measurements"), kw.pop("patients"), **kw)
    return jd.packed, jd.ids, benefit


def test_renaming_arms_and_ids_and_reordering_rows_changes_nothing(stroma):
    trial, plan = stroma
    packed, ids, benefit = _packed(trial, plan)
    arms = {"uc_msc": "drug", "placebo": "usual_care"}
    meta = dataclasses.replace(trial.meta, arms=tuple(arms[a] for a in trial.meta.arms), reference_arm="usual_care")
    pats = trial.patients.assign(arm=lambda d: d.arm.map(arms), patient_id=lambda d: "x" + d.patient_id.astype(str))
    meas = trial.measurements.assign(patient_id=lambda d: "x" + d.patient_id.astype(str))
    renamed = from_frames(pats.iloc[::-1], meas.sample(frac=1.0, random_state=4), meta)
    packed2, ids2, benefit2 = _packed(renamed, plan)
    assert benefit2 == benefit
    # same patients (renamed) in the same order, same numbers
    assert [f"x{i}" for i in ids] == list(ids2)
    np.testing.assert_array_equal(packed, packed2)


@pytest.mark.slow
def test_plan_run_gives_estimand_labelled_rows(stroma):
    from longmod.engines.joint.fit import fit_joint_model
    from longmod.pipeline.runners_joint import joint_inputs, run_joint_model

    trial, plan = stroma
    a = Analysis("jm", "joint_model", None, {"covariates": []})
    ctx = RunContext(trial, plan, sampler=SMALL)
    rows = run_joint_model(ctx, a)
    assert list(rows.parameter) == ["value_at_day", "slope_per_day", "log_hr", "log_hr",
                                    "cumulative_incidence_difference", "cumulative_incidence_difference"]
    assert (rows.analysis == "jm").all() and (rows.contrast == "uc_msc - placebo").all()
    assert rows.estimand.str.startswith("joint model:").all() and (rows.estimand_label == rows.estimand).all()
    assert (rows.estimand_day == 7.0).all() and rows.loc[rows.parameter == "value_at_day", "day"].eq(7.0).all()
    assert set(rows.outcome) == {"pao2_fio2", "death", "icu_discharge"}
    assert "compile_seconds" not in rows and {"r_hat", "ess_bulk", "divergences", "prob_benefit"} <= set(rows)
    assert "jm" in ctx.posteriors and ctx.timings[0]["engine"] == "pymc"
    # the runner adds labels only: the numbers are the engine's on the same inputs, sampler and seed
    kw = joint_inputs(ctx, a)[0]
    kw.pop("contrast")
    direct = fit_joint_model(**kw, sampler=SMALL).effects
    np.testing.assert_allclose(rows.estimate, direct.estimate, rtol=1e-12)
