"""Generic building blocks of the reconstruction: pinned quantiles, value blocks, ordinal paths, matched sets."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from longmod.reconstruct import CalibrationError, GeneratorError, Tables, parse_targets, quantile_type7
from longmod.reconstruct.build import _checker
from longmod.reconstruct.generator import draw_patient_table
from longmod.reconstruct.paths import add_path
from longmod.reconstruct.tables import MEASUREMENT_COLUMNS
from longmod.reconstruct.values import add_values, draw_values, pin_pair

DOC = {"trial": {"name": "toy", "arms": ["x", "y"], "reference_arm": "y", "schedule": list(range(11))}}


def _pts(n_x=8, n_y=12):
    return pd.DataFrame({"patient_id": [f"p{i:02d}" for i in range(n_x + n_y)], "arm": ["x"] * n_x + ["y"] * n_y})


def _empty():
    return pd.DataFrame(columns=list(MEASUREMENT_COLUMNS))


@pytest.mark.parametrize("n", [5, 8, 10, 21, 24])
@pytest.mark.parametrize("decimals", [0, 1])
def test_pinned_quartiles_are_exact_after_rounding(n, decimals):
    """Whatever n and grid, the written values give the published type-7 quartiles exactly."""
    block = {"pin": {"q1": {"x": 362.0, "y": 362.0}, "median": {"x": 821.0, "y": 821.0}, "q3": {"x": 1305.5, "y": 1305.5}},
             "pin_gap_max": 3, "decimals": decimals, "lower": 50, "upper": 5000,
             "distribution": {"median": {"x": 800.0, "y": 800.0}, "sigma": 0.8}}
    for seed in range(5):
        t = draw_values(block, "v", Tables(_pts(n, n), _empty(), DOC), ["x", "y"], np.random.default_rng(seed))
        v = t.patients.loc[t.patients["arm"] == "x", "v"].to_numpy()
        assert [quantile_type7(v, q) for q in (0.25, 0.5, 0.75)] == pytest.approx([362.0, 821.0, 1305.5], abs=1e-9)
        # on the grid, except a published quantile that is itself an order statistic (h = (n - 1) q integer)
        off = ~np.isclose(v, np.round(v, decimals))
        assert v[off].tolist() in ([], [1305.5]) and (not off.any() or (n - 1) * 0.75 == int((n - 1) * 0.75))


def test_pin_pair_on_the_grid():
    for value, frac in ((362.0, 0.75), (1155.0, 0.75), (6433.5, 0.25), (17.5, 0.5), (14.0, 0.5)):
        lo, hi = pin_pair(value, frac, 1.0)
        assert lo == round(lo) and hi == round(hi) and lo + frac * (hi - lo) == pytest.approx(value)


def test_windows_give_exact_event_counts_and_after_keeps_order():
    pts = _pts()
    block = {"windows": [{"days": [3, 5], "counts": {"x": 2, "y": 4}}, {"days": [6, 9], "counts": {"x": 0, "y": 1}}]}
    t = draw_values(block, "dead", Tables(pts, _empty(), DOC), ["x", "y"], np.random.default_rng(0))
    d = t.patients.groupby("arm")["dead"]
    assert d.apply(lambda s: s.between(3, 5).sum()).to_dict() == {"x": 2, "y": 4}
    assert d.apply(lambda s: s.between(6, 9).sum()).to_dict() == {"x": 0, "y": 1}
    pts2 = t.patients.assign(start=np.arange(len(pts), dtype=float))
    after = {"pin": {"median": {"x": 15.0, "y": 20.0}}, "lower": 1, "upper": 60,
             "distribution": {"median": {"x": 15.0, "y": 20.0}, "sigma": 0.3}, "after": {"column": "start", "min_gap": 1}}
    t2 = draw_values(after, "end", Tables(pts2, _empty(), DOC), ["x", "y"], np.random.default_rng(1))
    assert t2 is None or (t2.patients["end"] >= t2.patients["start"] + 1).all()


def test_unreachable_accept_target_fails_naming_it():
    spec = parse_targets({
        "reconstruction": {"name": "toy"}, "analysis_sets": {"pts": {}},
        "targets": [{"id": "p_days", "kind": "logrank_p", "set": "pts", "arm": "all", "variable": "days",
                     "value": 0.9, "tolerance": 0.0001}],
        "generator": {"arms": {"x": 8, "y": 12}, "values": {"days": {
            "pin": {"median": {"x": 5.0, "y": 40.0}}, "lower": 1, "upper": 90, "max_draws": 5, "accept": ["p_days"],
            "distribution": {"median": {"x": 5.0, "y": 40.0}, "sigma": 0.2}}}},
    })
    with pytest.raises(CalibrationError, match=r"generator\.values\.days: no draw in 5 met p_days"):
        add_values(spec, "days", Tables(_pts(), _empty(), DOC), np.random.default_rng(0), _checker(spec))


def _path_spec(counts):
    return NS(arms=("x", "y"), generator={"paths": {"s": {
        "variable": "s", "days": [0, 10], "start": {"level": 5},
        "chain": [{"column": "down", "level": 4, "draw": {"before": "stop", "span": [1, 3]}},
                  {"column": "stop", "level": 3}],
        "improvement": {"day": 4, "counts": counts, "by": "stop"}}}})


def test_ordinal_path_improvement_counts_exact():
    pts = _pts(4, 4).assign(stop=[5.0, 6, 8, 9, 7, 8, 9, 10])
    t = add_path(_path_spec({"x": 3, "y": 0}), "s", Tables(pts, _empty(), DOC), np.random.default_rng(0))
    w = t.measurements.pivot(index="patient_id", columns="day", values="value")
    improved = (w[4] < w[0]).groupby(pts.set_index("patient_id")["arm"]).sum().to_dict()
    assert improved == {"x": 3, "y": 0}
    assert (w.diff(axis=1).iloc[:, 1:] <= 0).all().all()


def test_ordinal_path_impossible_improvement_is_an_error():
    pts = _pts(4, 4).assign(stop=[2.0, 3, 3, 3, 7, 8, 9, 10])  # x patients stop by day 3: improved whatever is drawn
    with pytest.raises(CalibrationError, match="improves them by day 4"):
        add_path(_path_spec({"x": 0, "y": 0}), "s", Tables(pts, _empty(), DOC), np.random.default_rng(0))


def test_matched_sets_on_a_column_and_inconsistent_counts():
    gen = {"arms": {"x": 4, "y": 12}, "categorical": {"support": {"values": ["a", "b"], "counts": {"x": [3, 1], "y": [9, 3]}}},
           "matched_sets": {"column": "set", "match_on": "support"}}
    pts = draw_patient_table(gen, np.random.default_rng(0))
    g = pts.groupby("set")
    assert (g["arm"].apply(lambda a: (a == "x").sum()) == 1).all() and (g["support"].nunique() == 1).all()
    gen["categorical"]["support"]["counts"]["y"] = [10, 2]  # 2 b-controls cannot fill 1 set of 3
    with pytest.raises(GeneratorError, match=r"10 y patients with support = .a. do not fill 3 set\(s\) evenly"):
        draw_patient_table(gen, np.random.default_rng(0))
