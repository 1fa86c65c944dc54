"""longmod.engines.mcmc_diagnostics gives ArviZ 0.23.4's numbers, all parameters at once.

Reference: ``az.rhat``, ``az.ess(method="bulk" | "tail")`` and ``az.mcse`` called on one
(chains, draws) column at a time, and ``az.summary(kind="diagnostics", round_to="none")``;
agreement to ``RTOL`` (NaN where ArviZ gives NaN). The draws exercise Geyer's truncation at
different lags per parameter (AR(1) phi 0.9; phi 0.99 and 10-draw chains, where it reaches the
last lag), ties (rank averaging), odd chains (split drops the middle draw), heavy tails, +-inf,
NaN, constants, one and two chains, and the smallest sizes (3 draws: NaN; 4 draws: computed).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from longmod.engines.mcmc_diagnostics import diagnostics, summary_table

az = pytest.importorskip("arviz")

RTOL = 1e-9
COLUMNS = ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"]


def _ar1(rng, phi: float, shape: tuple[int, int, int]) -> np.ndarray:
    e = rng.normal(size=shape)
    x = np.empty(shape)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi ** 2)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def _arviz(x: np.ndarray) -> np.ndarray:
    """(n_params, 4): ArviZ's r_hat, ess_bulk, ess_tail, mcse_mean of each column, one at a time."""
    rows = []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for k in range(x.shape[2]):
            c = x[:, :, k]
            rows.append([float(az.rhat(c)), float(az.ess(c, method="bulk")), float(az.ess(c, method="tail")),
                         float(np.asarray(az.mcse(c)).ravel()[0])])
    return np.array(rows)


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20210667)
    mixed = rng.normal(size=(4, 300, 3))
    mixed[:, :, 1] = 2.5  # constant
    mixed[:, :, 2] = 1.0 + (rng.random(size=(4, 300)) < 0.01)  # nearly constant, rare jumps
    return {
        "iid normal": rng.normal(size=(4, 1000, 3)),
        "AR(1) phi 0.9": _ar1(rng, 0.9, (4, 1000, 4)),
        "AR(1) phi 0.99": _ar1(rng, 0.99, (4, 1000, 4)),
        "different chain means": rng.normal(size=(4, 300, 3)) + np.arange(4)[:, None, None] * [0.1, 1.0, 5.0],
        "student t df 1": rng.standard_t(1, size=(4, 500, 3)),
        "rounded (ties)": np.round(rng.normal(size=(4, 400, 4)) * [1.0, 2.0, 0.5, 0.2]),
        "binary": (rng.random(size=(3, 200, 2)) < [0.5, 0.03]).astype(float),
        "odd number of draws": _ar1(rng, 0.5, (3, 201, 3)),
        "one chain": _ar1(rng, 0.7, (1, 400, 3)),
        "two chains": _ar1(rng, 0.7, (2, 333, 3)),
        "constant columns": mixed,
        "shape (4, 1000, 1)": rng.normal(size=(4, 1000, 1)),
        "shape (2, 7, 3)": rng.normal(size=(2, 7, 3)),
        "short chains (10 draws)": rng.normal(size=(4, 10, 40)),  # Geyer stops at the end, last pair kept
        "4 draws": rng.normal(size=(3, 4, 2)),
        "3 draws (too few)": rng.normal(size=(3, 3, 2)),
    }


CASES = _cases()


def test_reference_is_arviz_0_23_4():
    """The module reproduces ArviZ 0.23.4's algorithm; another ArviZ may compute differently."""
    assert az.__version__ == "0.23.4", f"ArviZ {az.__version__} installed: re-check the algorithm against it"


@pytest.mark.parametrize("name", list(CASES))
def test_agrees_with_arviz(name):
    x = CASES[name]
    got = diagnostics(x)
    assert list(got.columns) == COLUMNS and len(got) == x.shape[2]
    np.testing.assert_allclose(got.to_numpy(), _arviz(x), rtol=RTOL, atol=0)


def test_edge_cases_are_those_of_arviz():
    """The values behind the agreement: NaN below 4 draws and for one chain; constants."""
    assert diagnostics(CASES["3 draws (too few)"]).isna().all().all()
    one = diagnostics(CASES["one chain"])
    assert one["r_hat"].isna().all() and one[["ess_bulk", "ess_tail", "mcse_mean"]].notna().all().all()
    const = diagnostics(CASES["constant columns"]).loc[1]
    assert np.isnan(const["r_hat"]) and const["ess_bulk"] == const["ess_tail"] == 4 * 300
    assert const["mcse_mean"] == 0.0


def test_non_finite_draws_as_arviz():
    """NaN anywhere in a column: all four NaN; +-inf, or draws whose squares overflow (1e160): ranked
    (finite R-hat, ESS), NaN mcse_mean."""
    x = np.random.default_rng(1).normal(size=(4, 100, 5))
    x[0, 3, 0] = np.inf
    x[1, 5, 1] = -np.inf
    x[2, 7, 2] = np.nan
    x[:, :, 4] *= 1e160
    got = diagnostics(x)
    np.testing.assert_allclose(got.to_numpy(), _arviz(x), rtol=RTOL, atol=0)
    assert got.loc[2].isna().all() and got.loc[3].notna().all()
    assert got.loc[[0, 1, 4], ["r_hat", "ess_bulk", "ess_tail"]].notna().all().all()
    assert got.loc[[0, 1, 4], "mcse_mean"].isna().all()


def test_constant_within_chains_is_infinite_r_hat():
    """Zero within-chain variance: R-hat is inf here, rounding noise > 1e6 in ArviZ; ESS, MCSE agree."""
    x = np.repeat(np.array([0.3, 0.3, 1.7, 1.7])[:, None, None], 101, axis=1)
    got, ref = diagnostics(x).to_numpy()[0], _arviz(x)[0]
    assert got[0] == np.inf and ref[0] > 1e6
    np.testing.assert_allclose(got[1:], ref[1:], rtol=RTOL, atol=0)


def test_columns_are_independent():
    """Column k's statistics do not depend on the other columns (across the 64-parameter blocks)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([CASES[k][:, :300] for k in ("AR(1) phi 0.9", "rounded (ties)", "constant columns")]
                       + [rng.standard_t(3, size=(4, 300, 150))], axis=2)
    x[0, 0, 5] = np.nan
    full = diagnostics(x)
    perm = rng.permutation(x.shape[2])
    np.testing.assert_array_equal(diagnostics(x[:, :, perm]).to_numpy(), full.to_numpy()[perm])
    for k in (0, 5, 7, 9, 100):  # AR(1), NaN, ties, constant, t
        np.testing.assert_array_equal(diagnostics(x[:, :, k]).to_numpy()[0], full.to_numpy()[k])


def test_bad_shape_raises():
    with pytest.raises(ValueError, match="chains, draws"):
        diagnostics(np.zeros(10))


@pytest.mark.parametrize("n_draws", [100, 101, 4, 3])
def test_summary_table_is_az_summary(n_draws):
    """Labels, column order and values of az.summary(kind="diagnostics"); odd draws fold before splitting."""
    rng = np.random.default_rng(n_draws)
    b = _ar1(rng, 0.8, (3, n_draws, 4)) * [1.0, 0.0, 2.0, 3.0]
    b[1, 2 % n_draws, 3] = np.nan
    post = {"mu": rng.normal(size=(3, n_draws)), "b": b, "z": np.round(rng.standard_t(2, size=(3, n_draws, 2, 3)))}
    idata = az.from_dict(posterior=post, coords={"grp": ["a", "b"]}, dims={"z": ["grp", "k"]})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref = az.summary(idata, var_names=["z", "mu", "b"], kind="diagnostics", round_to="none")
    got = summary_table(idata.posterior, ["z", "mu", "b"])
    assert list(got.index) == list(ref.index) and list(got.columns) == list(ref.columns)
    assert got.index[0] == "z[a, 0]" and "b[3]" in got.index
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), rtol=RTOL, atol=0)
    np.testing.assert_array_equal(summary_table(idata).to_numpy(), summary_table(idata.posterior).to_numpy())
