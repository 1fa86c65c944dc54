"""nutpie's C callbacks from numba's disk cache (longmod.engines.bayes.nutpie_callbacks).

Checked against ``nutpie.compile_pymc_model`` itself (the reference: what
longmod used before): the same seed gives bit-identical draws, before and
after ``with_data``. A fresh process loads the callbacks from the disk cache
with the layout stored by the child that compiled the model, without
rebuilding its graphs (``callbacks == "stored"``), and draws the same as
nutpie's own compile. A stored layout that does not fit the model is
not used. When the cache cannot be used (another nutpie's internals, a graph
without a cache key), nutpie compiles as before and the reason is recorded.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from longmod.engines.bayes import nutpie_callbacks, runtime

from .fresh_process import TINY_FIT, run_fresh

X = np.random.default_rng(1).normal(size=(30, 2))
Y = X @ np.array([1.0, -2.0]) + np.random.default_rng(2).normal(size=30)


def _model(beta_sd: float = 5.0):
    import pymc as pm

    with pm.Model() as model:
        x = pm.Data("x", X)
        y = pm.Data("y_obs", Y)
        beta = pm.Normal("beta", 0.0, beta_sd, shape=2)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Normal("y", x @ beta, sigma, observed=y, shape=x.shape[0])
    return model


def _draws(compiled) -> str:
    import nutpie

    idata = nutpie.sample(compiled, draws=60, tune=60, chains=2, cores=1, seed=5, progress_bar=False)
    h = hashlib.sha256()
    for name in sorted(idata.posterior.data_vars):
        h.update(np.ascontiguousarray(idata.posterior[name].values).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def reference():
    import nutpie

    runtime.configure_pytensor()
    runtime.enable_numba_graph_cache()
    return nutpie.compile_pymc_model(_model())


NEW = {"x": X[:20] * 2.0, "y_obs": Y[:20]}  # other values and another shape


def test_same_draws_as_nutpies_own_compile(reference):
    ours, callbacks, meta = nutpie_callbacks.compile_with_cached_callbacks(_model())
    assert callbacks in {"disk", "compiled"} and meta["free"] == ["beta", "sigma_log__"]
    assert ours.n_dim == reference.n_dim == 3 and ours.n_expanded == reference.n_expanded
    assert _draws(ours) == _draws(reference)
    assert _draws(ours.with_data(**NEW)) == _draws(reference.with_data(**NEW)) != _draws(reference)
    # a compile of graphs seen before finds the callbacks in the cache. (PyTensor's rewrites do not always order
    # the inputs of the shape check of x and y_obs the same way, so a compile of this model gives one of two
    # graphs, each with its own key: the repeat is looked for in a few compiles.)
    seen, repeats = {(meta["logp_graph"], meta["expand_graph"])}, 0
    for _ in range(3):
        again, callbacks, meta = nutpie_callbacks.compile_with_cached_callbacks(_model())
        keys = (meta["logp_graph"], meta["expand_graph"])
        if keys in seen:
            repeats += 1
            assert callbacks == "disk"
        seen.add(keys)
        assert _draws(again) == _draws(reference)
    assert repeats


def test_stored_layout_loads_without_rebuilding_the_graphs(reference):
    _, _, meta = nutpie_callbacks.compile_with_cached_callbacks(_model())
    loaded, callbacks, _ = nutpie_callbacks.compile_with_cached_callbacks(_model(), meta)
    assert callbacks == "stored" and loaded.logp_func is None
    assert _draws(loaded) == _draws(reference)
    assert _draws(loaded.with_data(**NEW)) == _draws(reference.with_data(**NEW))
    # a layout that does not fit the model is not used: the model is compiled, its callbacks from the cache
    # when PyTensor gave the graphs keys seen before (it can give the other variant's key, see above)
    seen = {(meta["logp_graph"], meta["expand_graph"])}
    for bad in ({**meta, "free": ["beta"]}, {**meta, "logp_shared": ["no_such_data"]},
                {**meta, "logp_graph": "0" * 64}, {**meta, "fingerprint": "0" * 64}):
        with pytest.raises(nutpie_callbacks.CallbackCacheUnavailable):
            nutpie_callbacks.load_numba_model(_model(), bad)
        compiled, callbacks, again = nutpie_callbacks.compile_with_cached_callbacks(_model(), bad)
        keys = (again["logp_graph"], again["expand_graph"])
        assert callbacks == "disk" if keys in seen else callbacks in {"disk", "compiled"}
        assert _draws(compiled) == _draws(reference)
        seen.add(keys)


def test_unusable_cache_falls_back_to_nutpie_and_says_why(reference, monkeypatch):
    monkeypatch.setattr(nutpie_callbacks, "_MODEL_FIELDS", frozenset({"other"}))
    compiled, callbacks, meta = nutpie_callbacks.compile_with_cached_callbacks(_model())
    assert callbacks.startswith("not cached: ") and "fields" in callbacks and meta is None
    assert _draws(compiled) == _draws(reference)

    def no_key(fn):
        raise nutpie_callbacks.CallbackCacheUnavailable("a model graph is not in PyTensor's numba cache")

    monkeypatch.undo()
    monkeypatch.setattr(nutpie_callbacks, "_graph_key", no_key)
    compiled, callbacks, _ = nutpie_callbacks.compile_with_cached_callbacks(_model())
    assert callbacks == "not cached: a model graph is not in PyTensor's numba cache"
    assert _draws(compiled) == _draws(reference)


def test_a_layout_of_another_graph_with_the_same_names_is_not_used(reference):
    """Same variable and data names, another prior scale baked into the graph: the stored layout is refused."""
    _, _, meta = nutpie_callbacks.compile_with_cached_callbacks(_model())
    other = _model(beta_sd=50.0)
    with pytest.raises(nutpie_callbacks.CallbackCacheUnavailable, match="graph is not the stored one"):
        nutpie_callbacks.load_numba_model(other, meta)
    compiled, callbacks, _ = nutpie_callbacks.compile_with_cached_callbacks(other, meta)
    assert callbacks != "stored" and _draws(compiled) == _draws(__import__("nutpie").compile_pymc_model(other))


#: A model whose graph holds a ``NoneConst`` (``specify_shape``) and the LKJ factor's ``pt.ones``, a constant that
#: PyTensor renames in place when it differentiates the graph; prints its fingerprint.
LKJ_FINGERPRINT = r"""
import numpy as np, pymc as pm, pytensor.tensor as pt
from longmod.engines.bayes import nutpie_callbacks
from longmod.engines.bayes.lkj import lkj_corr_cholesky


def build():
    with pm.Model() as model:
        y = pm.Data("y_obs", np.array([[1.0, 2.0, 0.5], [0.3, 1.5, 2.0]]))
        L = lkj_corr_cholesky("corr", 3, 2.0)
        pm.MvNormal("y", pt.zeros(3), chol=L, observed=pt.specify_shape(y, (None, 3)))
    return model
"""


def test_fingerprint_ignores_renamed_constants_and_memory_addresses(tmp_path):
    """Regression: the STROMA MMRM's stored layout was refused in every later process (fingerprint mismatch)."""

    scope: dict = {}
    exec(LKJ_FINGERPRINT, scope)
    runtime.configure_pytensor()
    runtime.enable_numba_graph_cache()
    model = scope["build"]()
    before = nutpie_callbacks.graph_fingerprint(model)
    _, meta = nutpie_callbacks.compile_numba_model(model)
    assert nutpie_callbacks.graph_fingerprint(model) == before == meta["fingerprint"]
    script = LKJ_FINGERPRINT + 'print("RESULT " + __import__("json").dumps(nutpie_callbacks.graph_fingerprint(build())))'
    assert run_fresh(script, str(tmp_path)) == before
    assert nutpie_callbacks.load_numba_model(scope["build"](), meta).n_dim == 3


def test_callback_key_covers_the_graph_it_calls():
    record = np.dtype([("a", "u8")])
    base = nutpie_callbacks.callback_key("src", "a" * 64, record, {"N_DIM": 3})
    assert base != nutpie_callbacks.callback_key("src", "b" * 64, record, {"N_DIM": 3})
    assert base != nutpie_callbacks.callback_key("src2", "a" * 64, record, {"N_DIM": 3})
    assert base != nutpie_callbacks.callback_key("src", "a" * 64, np.dtype([("b", "u8")]), {"N_DIM": 3})


@pytest.mark.slow
def test_a_fresh_process_loads_the_model_from_disk(tmp_path):
    cold = run_fresh(TINY_FIT, str(tmp_path), LONGMOD_TEST_CACHE_KEY="test_nutpie_callbacks")
    assert cold["compiled_by_child"] and cold["callbacks"] == "stored" and cold["graphs_compiled_here"] == 0, cold
    warm = run_fresh(TINY_FIT, str(tmp_path), LONGMOD_TEST_CACHE_KEY="test_nutpie_callbacks")
    assert not warm["compiled_by_child"] and warm["callbacks"] == "stored" and warm["graphs_compiled_here"] == 0, warm
    assert warm["draws"] == cold["draws"] and not warm["warnings"]
