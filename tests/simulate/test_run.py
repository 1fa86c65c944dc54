"""Simulation runs: same seed, same results whatever the workers or cluster; checkpoints resume; type I error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from longmod.simulate.run import run_simulation

from .conftest import bundled_doc

ROOT = Path(__file__).parents[2]


def fast_scenario(analyses=("ancova", "worst_rank", "bayes_rule"), **head):
    from longmod.simulate.scenario import parse_scenario

    doc = bundled_doc()
    doc["analyses"] = [a for a in doc["analyses"] if a["name"] in analyses]
    doc["scenario"].update({"n_per_arm": [15], "effect": [0.0, 30.0], **head})
    return parse_scenario(doc)


def _numbers(res) -> pd.DataFrame:
    return _sorted(res.trials)


def _sorted(trials: pd.DataFrame) -> pd.DataFrame:
    return trials.sort_values(["analysis", "cell", "trial"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def serial_result():
    return run_simulation(fast_scenario(analyses=("ancova", "worst_rank", "bayes_rule", "mmrm")), trials=12, seed=5,
                          scheduler="serial", chunk_size=4, truth_patients=5000)


def _process_cluster_problem() -> str | None:
    """Why Dask worker processes cannot start on this machine (None when they can).

    Worker processes need TCP on the loopback interface and POSIX semaphores; sandboxes
    without a network namespace's loopback (or without /dev/shm) cannot give them. The
    probe uses plain sockets and multiprocessing, none of longmod's code.
    """
    import multiprocessing

    try:
        with socket.socket() as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            with socket.create_connection(srv.getsockname(), timeout=5):
                pass
        multiprocessing.get_context("spawn").Lock()
    except OSError as exc:
        return f"no Dask worker processes on this machine ({type(exc).__name__}: {exc})"
    return None


PROCESS_PROBLEM = _process_cluster_problem()
needs_processes = pytest.mark.skipif(PROCESS_PROBLEM is not None, reason=str(PROCESS_PROBLEM))


def test_a_local_cluster_of_threads_gives_the_serial_numbers(serial_result):
    """Runs everywhere (in-process transport): the Dask path itself, with two workers."""
    res = run_simulation(serial_result.scenario, trials=12, seed=5, scheduler="threads", workers=2, chunk_size=4,
                         truth_patients=5000)
    assert res.provenance["execution"] == "dask LocalCluster (threads) with 2 worker(s)"
    pd.testing.assert_frame_equal(_numbers(res), _numbers(serial_result))
    pd.testing.assert_frame_equal(res.operating_characteristics, serial_result.operating_characteristics)


#: Runs one simulation in a fresh Python process (as a user's own script would), not inside the test process: a
#: pytest-xdist worker's state (ignored SIGINT, its own __main__) is not what worker processes inherit in practice,
#: and a hang ends at the timeout instead of stalling the suite.
CLIENT_SCRIPT = """
import json, pickle, sys
from longmod.simulate.run import run_simulation
scenario, kwargs, out = pickle.load(open(sys.argv[1], "rb")), json.loads(sys.argv[2]), sys.argv[3]
res = run_simulation(scenario, trials=12, seed=5, chunk_size=4, truth_patients=5000, **kwargs)
pickle.dump((res.trials, res.operating_characteristics, res.provenance["execution"]), open(out, "wb"))
"""


def _run_in_fresh_process(tmp_path, scenario, timeout=300, **kwargs):
    import json
    import pickle

    (tmp_path / "scenario.pkl").write_bytes(pickle.dumps(scenario))
    out = tmp_path / f"result_{len(list(tmp_path.glob('result_*')))}.pkl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", CLIENT_SCRIPT, str(tmp_path / "scenario.pkl"), json.dumps(kwargs),
                             str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        log, _ = proc.communicate()
        pytest.fail(f"the simulation did not finish in {timeout} s:\n{log[-3000:]}")
    assert proc.returncode == 0, log[-3000:]
    trials, oc, execution = pickle.loads(out.read_bytes())
    return _sorted(trials), oc, execution


@needs_processes
def test_local_cluster_with_one_or_two_workers_gives_the_serial_numbers(serial_result, tmp_path):
    for workers in (1, 2):
        trials, oc, execution = _run_in_fresh_process(tmp_path, serial_result.scenario, workers=workers)
        assert execution == f"dask LocalCluster (processes) with {workers} worker(s)"
        pd.testing.assert_frame_equal(trials, _numbers(serial_result))
        pd.testing.assert_frame_equal(oc, serial_result.operating_characteristics)


def test_another_seed_gives_other_trials(serial_result):
    other = run_simulation(serial_result.scenario, trials=12, seed=6, scheduler="serial", chunk_size=4,
                           truth_patients=5000)
    assert not np.allclose(_numbers(other)["estimate"], _numbers(serial_result)["estimate"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_processes
def test_a_scheduler_and_workers_on_loopback_give_the_same_numbers(serial_result, tmp_path):
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed beside this Python")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        addr = f"tcp://127.0.0.1:{port}"
        procs.append(subprocess.Popen([str(dask), "worker", addr, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from dask.distributed import Client

        deadline = time.time() + 60
        with Client(addr, timeout=30) as c:
            while len(c.scheduler_info()["workers"]) < 2 and time.time() < deadline:
                time.sleep(0.5)
        trials, oc, execution = _run_in_fresh_process(tmp_path, serial_result.scenario, scheduler=addr)
        assert execution == f"dask scheduler {addr} with 2 worker(s)"
        pd.testing.assert_frame_equal(trials, _numbers(serial_result))
        pd.testing.assert_frame_equal(oc, serial_result.operating_characteristics)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=30)


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    sc = fast_scenario()
    out = tmp_path / "sim"
    calls = []

    def stop_after_two(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_simulation(sc, trials=20, seed=3, out=out, scheduler="serial", chunk_size=5, truth_patients=5000,
                       on_chunk=stop_after_two)
    ck = tmp_path / ".sim.checkpoint"
    assert len(list(ck.glob("cell*.csv"))) == 2 and not out.exists()
    resumed = []
    res = run_simulation(sc, trials=20, seed=3, out=out, scheduler="serial", chunk_size=5, truth_patients=5000,
                         on_chunk=lambda d, t: resumed.append(d))
    assert resumed[0] == 15  # the two saved chunks (10 trials) were not run again
    whole = run_simulation(sc, trials=20, seed=3, scheduler="serial", chunk_size=5, truth_patients=5000)
    pd.testing.assert_frame_equal(_numbers(res), _numbers(whole))
    assert not ck.exists()
    written = pd.read_csv(out / "operating_characteristics.csv")
    assert set(written.columns) >= {"analysis", "estimand", "n_per_arm", "effect", "trials", "rejection_rate", "bias",
                                    "rmse", "coverage", "mean_ci_width", "rejection_rate_mcse", "coverage_mcse"}
    assert (out / "figures" / "power_curves.svg").exists() and "Simulated trials" in (out / "report.md").read_text()


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    sc = fast_scenario()
    out = tmp_path / "sim"
    with pytest.raises(KeyboardInterrupt):
        run_simulation(sc, trials=10, seed=3, out=out, scheduler="serial", chunk_size=5, truth_patients=2000,
                       on_chunk=lambda d, t: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(ValueError, match="differs in seed"):
        run_simulation(sc, trials=10, seed=4, out=out, scheduler="serial", chunk_size=5, truth_patients=2000)


def test_same_seed_same_bytes(tmp_path):
    sc = fast_scenario()
    for name in ("a", "b"):
        run_simulation(sc, trials=6, seed=9, out=tmp_path / name, scheduler="serial", chunk_size=3, truth_patients=2000)
    for f in ("operating_characteristics.csv", "trials.csv.gz", "truth.csv", "report.md", "figures/power_curves.svg"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


@pytest.mark.slow
def test_type_one_error_under_the_null_is_within_monte_carlo_error_of_alpha():
    """Null scenario derived from STROMA-CoV-2: ANCOVA (4,000 trials) and MMRM (600 trials) reject at ~5%.

    The check is a 99.9% Monte Carlo interval around 0.05 (|rate - 0.05| < 3.3 MCSE) with a fixed seed.
    """
    sc = fast_scenario(analyses=("ancova",), n_per_arm=[30], effect=[0.0])
    oc = run_simulation(sc, trials=4000, seed=11, scheduler="serial", chunk_size=1000,
                        truth_patients=2000).operating_characteristics.iloc[0]
    assert abs(oc["rejection_rate"] - 0.05) < 3.3 * np.sqrt(0.05 * 0.95 / 4000), oc["rejection_rate"]
    sc = fast_scenario(analyses=("mmrm",), n_per_arm=[30], effect=[0.0])
    oc = run_simulation(sc, trials=600, seed=12, workers=2, chunk_size=50, truth_patients=2000,
                        scheduler="serial" if PROCESS_PROBLEM else None).operating_characteristics.iloc[0]
    assert oc["failed"] <= 6
    assert abs(oc["rejection_rate"] - 0.05) < 3.3 * np.sqrt(0.05 * 0.95 / oc["trials"]), oc["rejection_rate"]


def test_a_cluster_that_cannot_start_says_what_to_run_instead(monkeypatch, tmp_path, capsys):
    import dask.distributed

    from longmod.cli import main

    def refuse(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(dask.distributed, "LocalCluster", refuse)
    scenario = ROOT / "models" / "scenarios" / "stroma_cov2_null.toml"
    assert main(["simulate", str(scenario), "--trials", "2", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "could not start a Dask LocalCluster" in err and "Network is unreachable" in err
    assert "--threads" in err and "--serial" in err
    assert not (tmp_path / "o").exists()
