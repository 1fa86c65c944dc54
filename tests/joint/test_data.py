"""Input checks and packed sufficient statistics of the joint model (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.engines.joint.data import JointDataError, Scaling, default_cuts, prepare_joint_data
from tests.joint.conftest import KW


def _prep(m, p, **kw):
    return prepare_joint_data(m, p, **{**KW, **kw})[0]


def test_sums_match_a_direct_computation(trial):
    m, p = trial
    jd = _prep(m, p)
    sc = jd.scaling
    assert sc.y_center == pytest.approx(m.value.mean()) and sc.y_scale == pytest.approx(m.value.std())
    assert sc.time_scale == m.day.max()
    for k, pid in enumerate(jd.ids[:10]):
        g = m[m.patient_id == pid]
        y, t = (g.value.to_numpy() - sc.y_center) / sc.y_scale, g.day.to_numpy() / sc.time_scale
        got = jd.packed[k]
        want = [len(y), t.sum(), (t * t).sum(), y.sum(), (t * y).sum(), (y * y).sum()]
        np.testing.assert_allclose([got[jd.layout[c]] for c in ("n_obs", "sum_t", "sum_tt", "sum_y", "sum_ty",
                                                                 "sum_yy")], want, rtol=1e-12, atol=1e-12)
        row = p.set_index("patient_id").loc[pid]
        assert got[jd.layout["arm"]] == float(row.arm == "active")
        assert got[jd.layout["time"]] == pytest.approx(row.event_day / sc.time_scale)
        for cause in ("death", "discharge"):
            assert got[jd.layout[f"event:{cause}"]] == float(row.event == cause)
            cuts = np.asarray(jd.cuts[cause])
            expo = jd.block(f"exposure:{cause}")[k] * sc.time_scale
            want_e = np.clip(np.minimum(row.event_day, cuts[1:]) - cuts[:-1], 0, None)
            np.testing.assert_allclose(expo, want_e, atol=1e-12)
            assert expo.sum() == pytest.approx(row.event_day)
    assert jd.n_events == {"death": int((p.event == "death").sum()), "discharge": int((p.event == "discharge").sum())}


def test_renaming_and_reordering_change_nothing(trial):
    m, p = trial
    ref = _prep(m, p)
    rng = np.random.default_rng(0)
    ids = {f"P{i + 1:03d}": f"x{rng.integers(10**6)}-{i}" for i in range(len(p))}
    m2 = m.rename(columns={"patient_id": "pid", "day": "t", "value": "pf"}).assign(pid=lambda d: d.pid.map(ids))
    p2 = p.rename(columns={"patient_id": "pid", "arm": "group", "event_day": "tt", "event": "what"})
    p2 = p2.assign(pid=lambda d: d.pid.map(ids), group=lambda d: d.group.map({"active": "B", "control": "A"}),
                   what=lambda d: d.what.map({"death": "died", "discharge": "left"}))
    m2, p2 = m2.sample(frac=1.0, random_state=1), p2.sample(frac=1.0, random_state=2)
    got = prepare_joint_data(m2, p2, id="pid", time="t", value="pf", arm="group", event_time="tt", event="what",
                             active="B", reference="A", causes={"died": "lower", "left": "higher"})[0]
    assert np.array_equal(got.packed, ref.packed)  # bit for bit: same draws in the sampler
    assert [ids[i] for i in ref.ids] == list(got.ids)


def test_inputs_are_not_modified(trial):
    m, p = trial
    m0, p0 = m.copy(), p.copy()
    _prep(m, p, followup=20)
    pd.testing.assert_frame_equal(m, m0)
    pd.testing.assert_frame_equal(p, p0)


def test_bad_inputs_fail_early_and_clearly(trial):
    m, p = trial
    with pytest.raises(JointDataError, match=r"patients frame has no column\(s\) 'arm'"):
        _prep(m, p.drop(columns="arm"))
    with pytest.raises(JointDataError, match=r"column 'arm': rows 0 have arm\(s\) other"):
        _prep(m, p.assign(arm=np.where(p.index == 0, "other", p.arm)))
    with pytest.raises(JointDataError, match="not among causes"):
        _prep(m, p, causes={"death": "lower"})
    with pytest.raises(JointDataError, match="benefit direction"):
        _prep(m, p, causes={"death": "down", "discharge": "higher"})
    late = m.copy()
    late.loc[0, "day"] = 99.0
    with pytest.raises(JointDataError, match="rows 0 are measured after"):
        _prep(late, p)
    jd = _prep(late, p, after_event="drop")
    assert jd.n_obs == len(m) - 1 and "1 measurement row(s) after" in jd.warnings[0]
    with pytest.raises(JointDataError, match="appear more than once"):
        _prep(m, pd.concat([p, p.iloc[:1]]))
    with pytest.raises(JointDataError, match="missing from the patients frame"):
        _prep(m, p.iloc[1:])
    with pytest.raises(JointDataError, match="'event_day': rows 3 are missing"):
        _prep(m, p.assign(event_day=np.where(p.index == 3, np.nan, p.event_day)))


def test_followup_censors_and_says_so(trial):
    m, p = trial
    p2 = p.assign(event_day=p.event_day + 5.0)
    jd = _prep(m, p2, followup=28)
    late = int((p2.event_day > 28).sum())
    assert late > 0 and f"{late} patient(s) with an event or censoring time after follow-up (28)" in jd.warnings[0]
    assert jd.column("time").max() * jd.scaling.time_scale == 28.0
    assert jd.n_events["death"] == int(((p2.event == "death") & (p2.event_day <= 28)).sum())


def test_default_cuts_and_given_cuts(trial):
    m, p = trial
    assert default_cuts(np.arange(1.0, 10.0), 3) == (0.0, 3.7, 6.3, float("inf"))
    jd = _prep(m, p, cuts={"death": [10], "discharge": []}, scaling=Scaling(170.0, 60.0, 30.0))
    assert jd.cuts == {"death": (0.0, 10.0, float("inf")), "discharge": (0.0, float("inf"))}
    np.testing.assert_allclose(jd.block("start:death")[0], [0.0, 10 / 30])


def test_events_from_columns_first_event_ties_and_censoring():
    from longmod.engines.joint.data import events_from_columns

    p = pd.DataFrame({"pid": list("abcde"), "d": [3, None, 5, None, None], "x": [None, 9, 5, None, None],
                      "last": [None, None, None, 12, None]})
    e = events_from_columns(p, id="pid", columns={"death": "d", "discharge": "x"}, followup=28, censor_column="last")
    assert e.event.tolist() == ["death", "discharge", "death", None, None]
    assert e.event_time.tolist() == [3.0, 9.0, 5.0, 12.0, 28.0]
    assert e.note.tolist()[2] == "tie between death, discharge; the first named in columns counted"
    with pytest.raises(JointDataError, match="rows 3, 4 have no event and no censoring day"):
        events_from_columns(p, id="pid", columns={"death": "d", "discharge": "x"})
    with pytest.raises(JointDataError, match="column 'd': rows 1 are not numbers"):
        events_from_columns(p.assign(d=[3, "x", 5, None, None]), id="pid", columns={"death": "d"}, followup=28)


def test_events_of_the_bundled_fixture_match_its_counts():
    """STROMA-CoV-2's reconstruction: 8 deaths, 25 ICU discharges, 12 patients in the ICU at day 28."""
    from longmod.engines.joint.data import events_from_columns
    from longmod.resources import fixtures_dir

    p = pd.read_csv(fixtures_dir() / "stroma_cov2" / "patients.csv")
    e = events_from_columns(p, id="patient_id", columns={"death": "death_day", "discharge": "icu_discharge_day"},
                            followup=28)
    assert e.event.value_counts(dropna=False).to_dict() == {"discharge": 25, "death": 8, None: 12}
