"""Load (issue 14, item 9): the pre-flight scale check and the ETA of the progress lines.

Nothing large is fitted here: the large trial is data only (the bundled fixture's patients copied
100 times, its primary outcome only), and every test that gets past the check stops at the first step.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from longmod.cli import main
from longmod.data import from_frames
from longmod.errors import is_user_error
from longmod.pipeline import reanalyse
from longmod.pipeline.run import resolve_trial
from longmod.pipeline.scale import STEP_COSTS, Eta, ScaleError, check_scale, step_seconds
from longmod.resources import models_dir, trial_names
from longmod.spec.plan import load_plan

PLAN = models_dir() / "stroma_cov2" / "plan.toml"
RUNNER_MODULE, RUNNER_NAME = "longmod.pipeline.models", "run_bayes_model"  # the bayes_model kind's runner
FACTOR = 100


@pytest.fixture(scope="module")
def small():
    return resolve_trial("stroma-cov2")[0]


@pytest.fixture(scope="module")
def large(small):
    """The bundled trial's patients 100 times over (new ids), with their primary-outcome measurements."""
    copies = [f"-c{k:03d}" for k in range(1, FACTOR + 1)]
    pat = small.patients
    p = pat.loc[pat.index.repeat(FACTOR)].reset_index(drop=True)
    p["patient_id"] = p["patient_id"] + copies * len(pat)
    m0 = small.measurements[small.measurements["variable"] == small.meta.primary_outcome]
    m = pd.concat([m0.assign(patient_id=m0["patient_id"] + c) for c in copies], ignore_index=True)
    return from_frames(p, m, small.meta)


def _not_scaling_kinds():
    return {k for k, c in STEP_COSTS.items() if c.max_patients is not None}


def test_some_kind_is_limited_and_the_large_trial_exceeds_it(large):
    limited = _not_scaling_kinds()
    assert "bayes_model" in limited
    assert large.n_patients == 4500 > STEP_COSTS["bayes_model"].max_patients


def test_large_trial_stops_before_fitting_naming_the_step(large):
    seen = []
    with pytest.raises(ScaleError) as err:
        reanalyse(large, plan=PLAN, only=["primary_ancova", "bayes_mmrm"], progress=seen.append)
    assert seen == []  # stopped before the first step
    msg = str(err.value)
    assert "'bayes_mmrm' (bayes_model)" in msg and "4500 patients" in msg
    assert "--only" in msg and "--allow-large" in msg
    assert "primary_ancova" not in msg  # a step that scales is not named
    assert is_user_error(err.value)


def test_steps_that_scale_are_not_stopped(large):
    res = reanalyse(large, plan=PLAN, only=["primary_ancova"])
    assert (res.effects["engine"] == "ancova-ols").sum() == 1


def test_allow_large_proceeds_to_fitting(large):
    class Started(Exception):
        pass

    def stop(msg):
        raise Started(msg)

    with pytest.raises(Started, match="bayes_mmrm"):
        reanalyse(large, plan=PLAN, only=["bayes_mmrm"], progress=stop, allow_large=True)


def test_cli_exit_status_2_and_allow_large(large, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "trial.toml").write_text(_trial_toml(), encoding="utf-8")
    large.patients.to_csv(folder / "patients.csv", index=False)
    large.measurements.to_csv(folder / "measurements.csv", index=False)
    out = tmp_path / "out"
    args = ["reanalyse", str(folder), "--plan", str(PLAN), "--only", "bayes_mmrm", "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "longmod: error: 1 step of the plan would not scale to this trial (4500 patients)" in err
    assert "'bayes_mmrm'" in err
    assert "[1/" not in err  # no step started
    assert not out.exists()

    started = []

    def fit_stub(ctx, analysis):  # the sampler is not run here: stop as soon as the step starts
        started.append(analysis.name)
        raise KeyboardInterrupt

    monkeypatch.setattr(f"{RUNNER_MODULE}.{RUNNER_NAME}", fit_stub)
    assert main([*args, "--allow-large"]) == 130
    assert started == ["bayes_mmrm"]
    assert "[1/2" in capsys.readouterr().err


def _trial_toml() -> str:
    from longmod.resources import fixtures_dir

    return (fixtures_dir() / "stroma_cov2" / "trial.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", trial_names())
def test_bundled_trials_pass(name):
    td, plan = resolve_trial(name)
    if plan is None:
        pytest.skip("no bundled plan")
    analyses = [(a.name, a.kind) for a in load_plan(plan).analyses]
    check_scale(analyses, td.n_patients, len(td.measurements), biomarkers=True)  # nothing raised


def test_small_bundled_trial_runs_with_the_check(small):
    res = reanalyse(small, plan=PLAN, only=["primary_ancova"])
    assert len(res.effects)


def test_eta_in_cli_progress_lines(tmp_path, capsys):
    assert main(["reanalyse", "stroma-cov2", "--only", "primary_ancova", "rank_sum", "--out", str(tmp_path / "o")]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("[")]
    assert len(lines) == 3
    assert re.match(r"\[1/3 +\d+\.\d s\] primary_ancova", lines[0])  # nothing done yet: no estimate
    for line in lines[1:]:
        assert re.match(r"\[\d/3 +\d+\.\d s, ~\d+ (s|min \d\d s)( left)\] ", line), line


def test_eta_model_grows_with_size_and_follows_the_machine(small, large):
    steps = [("a", "ancova"), ("b", "bayes_model")]
    assert sum(step_seconds(steps, large.n_patients)) > sum(step_seconds(steps, small.n_patients))
    costs = [1.0, 1.0, 10.0]
    assert Eta(costs).remaining(1, 1.0) == pytest.approx(11.0)
    assert Eta(costs).remaining(2, 60.0) > Eta(costs).remaining(2, 2.0)  # a slow machine: more time left
    assert Eta().remaining(0, 0.0, total=3) is None
