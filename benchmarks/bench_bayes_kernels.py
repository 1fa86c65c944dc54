"""The Bayesian MMRM's fused Ops against the same formulas written with PyTensor's operations, and one NUTS step.

Prints one ``RESULT`` JSON line:

* ``likelihood_us``: value + gradient of the masked MVN log-likelihood
  (:mod:`longmod.engines.bayes.prefix_mvn`) at ``--patients`` x ``--visits``,
  called ``--calls`` times from a numba loop (as nutpie calls the model), for
  the Op (``fused``) and PyTensor's graph of the same expression (``pytensor``);
* ``lkj_us``: the same for the LKJ Cholesky factor (:mod:`longmod.engines.bayes.lkj`), d = ``--visits``;
* ``nuts_step_us``: the bundled Bayesian MMRM (``bayes_mmrm`` of the STROMA-CoV-2 plan, SYNTHETIC data)
  compiled as ``longmod`` compiles it for nutpie, 2 chains x (1000 + 1000) on one core: seconds per
  leapfrog step.

``--only kernels`` or ``--only model`` runs one part.

Run with a filled cache (the first run compiles)::

    LONGMOD_CACHE=... .venv/bin/python benchmarks/bench_bayes_kernels.py

With ``PYTHONPATH=<a clone at another commit>`` and ``--only model`` it measures that commit's model
(an editable install is shadowed by ``PYTHONPATH``).
"""
import argparse
import json
import time

import numba
import numpy as np

from longmod.engines.bayes import runtime


def _per_call_us(fn, args: tuple, calls: int) -> float:
    """Microseconds per call of a PyTensor numba function's jitted graph, called from a numba loop."""
    jf = fn.vm.jit_fn

    @numba.njit
    def loop(n, a, b, c):
        s = 0.0
        for _ in range(n):
            s += jf(a, b, c)[0].item()
        return s

    loop(10, *args)
    t = time.perf_counter()
    loop(calls, *args)
    return (time.perf_counter() - t) / calls * 1e6


def likelihood_us(n: int, K: int, calls: int) -> dict[str, float]:
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.slinalg import solve_triangular

    from longmod.engines.bayes.covstruct import LOG_2PI
    from longmod.engines.bayes.prefix_mvn import prefix_mvn_logp

    rng = np.random.default_rng(1)
    A = rng.normal(size=(K, K))
    last = rng.integers(0, K, n)
    w = (np.arange(K)[None, :] <= last[:, None]).astype(float)
    args = (rng.normal(size=(n, K)) * w, np.linalg.cholesky(A @ A.T + K * np.eye(K)), w)
    r, L, W = pt.matrix("r"), pt.matrix("L"), pt.matrix("w")
    z = solve_triangular(L, r.T, lower=True)
    m = W.sum(axis=0)
    formula = -0.5 * pt.sum(z**2 * W.T) - pt.dot(m, pt.log(pt.diag(L))) - 0.5 * pt.sum(m) * LOG_2PI
    out = {}
    for name, e in (("fused", prefix_mvn_logp(r, L, W)), ("pytensor", formula)):
        f = pytensor.function([r, L, W], [e, *pt.grad(e, [r, L])], mode="NUMBA")
        out[name] = round(_per_call_us(f, args, calls), 2)
    return out


def lkj_us(d: int, calls: int) -> dict[str, float]:
    import pytensor
    import pytensor.tensor as pt

    from longmod.engines.bayes.lkj import LkjCholesky, register_kernels

    register_kernels()
    rows, cols = np.tril_indices(d, -1)
    z, G, unused = pt.vector("z"), pt.matrix("G"), pt.scalar("unused")
    Z = pt.set_subtensor(pt.zeros((d, d))[rows, cols], z)
    P = pt.concatenate([pt.ones((d, 1)), pt.cumprod(1.0 - Z**2, axis=1)[:, :-1]], axis=1)
    rng = np.random.default_rng(0)
    args = (rng.uniform(-0.9, 0.9, len(rows)), rng.normal(size=(d, d)), np.array(0.0))
    out = {}
    for name, L in (("fused", LkjCholesky(d)(z)), ("pytensor", (Z + pt.eye(d)) * pt.sqrt(P))):
        e = pt.sum(L * G)
        f = pytensor.function([z, G, unused], [e, pt.grad(e, z)], mode="NUMBA", on_unused_input="ignore")
        out[name] = round(_per_call_us(f, args, calls), 2)
    return out


def nuts_step_us() -> dict[str, float]:
    import nutpie

    from bundled_bayes_mmrm import bundled_bayes_mmrm

    from longmod.engines.bayes.longitudinal import prepare_mmrm
    from longmod.engines.bayes.nutpie_callbacks import compile_with_cached_callbacks

    bundled = bundled_bayes_mmrm()
    model = prepare_mmrm(bundled.spec, bundled.data)["build"]()
    compiled, callbacks, _ = compile_with_cached_callbacks(model)
    t = time.perf_counter()
    tr = nutpie.sample(compiled, chains=2, draws=1000, tune=1000, cores=1, seed=1, progress_bar=False,
                       target_accept=0.9)
    seconds = time.perf_counter() - t
    steps = int(tr.sample_stats["n_steps"].sum()) + int(tr.warmup_sample_stats["n_steps"].sum())
    return {"us_per_step": round(seconds / steps * 1e6, 1), "steps": steps, "seconds": round(seconds, 2),
            "callbacks": callbacks}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=45)
    ap.add_argument("--visits", type=int, default=7)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--only", choices=("kernels", "model"))
    args = ap.parse_args()
    runtime.configure_pytensor()
    res = {}
    if args.only != "model":
        res["likelihood_us"] = likelihood_us(args.patients, args.visits, args.calls)
        res["lkj_us"] = lkj_us(args.visits, args.calls)
    if args.only != "kernels":
        res["nuts_step_us"] = nuts_step_us()
    print("RESULT " + json.dumps(res))


if __name__ == "__main__":
    main()
