"""An interrupt while sampling stops the fit: nutpie and PyMC's partial traces never become a result.

Both samplers catch ``KeyboardInterrupt`` and return the draws made so far. Each case runs in a fresh
process: a timer sends SIGINT (or SIGTERM, with longmod's CLI handler installed) to the process once the
real sampler has started (nutpie) or made its 100th draw of a chain (PyMC) on a run far too long to finish;
the fit must end in a KeyboardInterrupt
(``Interrupted`` with the signal's number), not return.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from longmod.engines.bayes.runtime import SamplerSettings, _check_complete

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # compiles a one-parameter model in each child process

SCRIPT = r"""
import json, os, signal, sys, threading
import numpy as np
from longmod.engines.bayes import runtime
from longmod.outputs import signals_raise

runtime.configure_pytensor()
backend, signum, draws, delay = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
# Python's own Ctrl-C handler, as in a terminal (a pytest-xdist worker ignores SIGINT, and a child inherits that)
signal.signal(signal.SIGINT, signal.default_int_handler)


def build():
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 100.0)
        pm.Normal("obs", mu, 7.0, observed=np.array([1.0, 4.0, 2.5]))
    return model


import nutpie, pymc  # noqa: E402,E401

name = "sample"
target = nutpie if backend == "nutpie" else pymc
real = getattr(target, name)


def started(*a, **k):  # the signal is sent once the real sampler draws
    if backend == "pymc":  # at each chain's 100th draw (PyMC samples the chains one after the other here)
        k["callback"] = lambda trace, draw: os.kill(os.getpid(), signum) if draw.draw_idx == 100 else None
    else:
        threading.Timer(delay, lambda: os.kill(os.getpid(), signum)).start()
    return real(*a, **k)


setattr(target, name, started)
settings = runtime.SamplerSettings.from_mapping({"backend": backend, "chains": 2, "draws": draws, "tune": 50,
                                                 "seed": 1, "cores": 1})
try:
    with signals_raise():  # SIGTERM raises longmod's Interrupted, as in the CLI
        idata, info = runtime.sample_model(build, {}, settings)
except KeyboardInterrupt as exc:
    print("RESULT " + json.dumps({"interrupted": type(exc).__name__, "signum": getattr(exc, "signum", None)}))
else:
    print("RESULT " + json.dumps({"returned": dict(idata.posterior.sizes)}))
"""


@pytest.mark.parametrize("backend, signum, draws, delay", [
    ("nutpie", 15, 50_000_000, 1.0),  # SIGTERM through longmod's handler
    ("pymc", 2, 200_000, 0.0),  # Ctrl-C through Python's own
])
def test_a_signal_while_sampling_stops_the_fit(tmp_path, backend, signum, draws, delay):
    env = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    env.update(LONGMOD_CACHE=str(os.environ.get("LONGMOD_CACHE", tmp_path / "cache")), PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", SCRIPT, backend, str(signum), str(draws), str(delay)], env=env,
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, p.stderr[-3000:]
    r = json.loads(line[len("RESULT "):])
    assert r == {"interrupted": "Interrupted", "signum": signum}, r


def test_a_partial_trace_is_refused():
    import arviz as az
    import numpy as np

    settings = SamplerSettings.from_mapping({"chains": 2, "draws": 100})
    _check_complete(az.from_dict(posterior={"mu": np.zeros((2, 100))}), settings)
    with pytest.raises(RuntimeError, match="2 chain\\(s\\) x 37 draws, not 2 x 100"):
        _check_complete(az.from_dict(posterior={"mu": np.zeros((2, 37))}), settings)
