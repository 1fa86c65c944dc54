"""Compare two ``longmod reanalyse`` output folders' effects.csv, row by row (before/after a change).

Rows are matched on analysis, outcome, day, engine, contrast, visit and prior; every
number that differs beyond ``rtol = 1e-9`` is listed, then changed labels (df_method,
converged, warnings) and the columns present in one folder only.

    python tools/compare_effects.py results/before results/after
"""
import sys
import numpy as np
import pandas as pd

a = pd.read_csv(sys.argv[1] + "/effects.csv")
b = pd.read_csv(sys.argv[2] + "/effects.csv")
keys = ["analysis", "outcome", "day", "engine", "contrast", "visit", "prior"]
for d in (a, b):
    for k in keys:
        if k not in d:
            d[k] = ""
        d[k] = d[k].fillna("").astype(str)
print("rows before/after:", len(a), len(b))
print("columns only before:", sorted(set(a.columns) - set(b.columns)))
print("columns only after:", sorted(set(b.columns) - set(a.columns)))
m = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
print("rows only before:", m[m._merge == "left_only"][keys].values.tolist())
print("rows only after:", m[m._merge == "right_only"][keys].values.tolist())
both = m[m._merge == "both"]
cols = ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value", "n_obs", "n_patients", "prob_benefit",
        "prob_mcid", "r_hat", "ess_bulk", "divergences"]
for c in cols:
    if c + "_a" not in both:
        continue
    x, y = both[c + "_a"].astype(float), both[c + "_b"].astype(float)
    diff = ~np.isclose(x, y, rtol=1e-9, atol=1e-12, equal_nan=True)
    if diff.any():
        print(f"== {c}: {int(diff.sum())} rows differ")
        for _, r in both[diff].iterrows():
            print("   ", [r[k] for k in keys[:6]], r[c + "_a"], "->", r[c + "_b"])
for c in ["df_method", "converged", "warnings"]:
    if c + "_a" in both:
        diff = both[c + "_a"].astype(str) != both[c + "_b"].astype(str)
        if diff.any():
            print(f"== {c}: {int(diff.sum())} rows differ")
            print(both[diff][keys[:4] + [c + "_a", c + "_b"]].drop_duplicates([c + "_a", c + "_b", "analysis", "engine"]).to_string())
