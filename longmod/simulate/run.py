"""Run a simulation study: chunks of trials on Dask, checkpointed, seeded per trial.

Reproducibility: trial ``i`` of cell ``c`` is drawn from its own generator
``SeedSequence(seed, spawn_key=(c, i))`` and the trials are cut into chunks of
a fixed size, so the results do not depend on the number of workers, on the
cluster, or on the order in which chunks finish.

Checkpoints: each finished chunk is written to ``.<out>.checkpoint/`` beside
the output folder; an interrupted run started again with the same scenario,
seed, number of trials and chunk size skips the chunks already there. The
checkpoint folder is removed once the outputs are written.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from longmod.simulate.scenario import Scenario, load_scenario

#: Columns of the per-trial results.
TRIAL_COLUMNS = ("analysis", "kind", "estimand", "cell", "n_per_arm", "effect", "trial", "estimate", "std_error",
                 "conf_low", "conf_high", "p_value", "reject", "converged")


class ClusterStartError(RuntimeError):
    """A Dask ``LocalCluster`` could not start on this machine (the message says what to run instead)."""


def trial_rng(seed: int, cell: int, trial: int) -> np.random.Generator:
    """The generator of trial ``trial`` of cell ``cell`` (independent of chunking and workers).

    Examples
    --------
    >>> float(trial_rng(1, 0, 5).random()) == float(trial_rng(1, 0, 5).random())
    True
    """
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(cell), int(trial))))


def run_chunk(scenario: Scenario, cell: int, start: int, stop: int, seed: int) -> pd.DataFrame:
    """Simulate and analyse trials ``start..stop-1`` of one cell (runs on a Dask worker).

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> s = load_scenario(models_dir() / "scenarios" / "stroma_cov2_null.toml")
    >>> r = run_chunk(s, 0, 0, 2, seed=1)
    >>> sorted(r["trial"].unique().tolist()), set(r["analysis"]) == {a.name for a in s.analyses}
    ([0, 1], True)
    """
    from threadpoolctl import threadpool_limits

    from longmod.simulate.analyses import SIMULATION_ANALYSES
    from longmod.simulate.generate import simulate_trial

    n, effect = scenario.cells()[cell]
    trials = [simulate_trial(scenario, n, effect, trial_rng(seed, cell, i)) for i in range(start, stop)]
    frames = []
    with threadpool_limits(limits=1, user_api="blas"):
        for a in scenario.analyses:
            kind = SIMULATION_ANALYSES[a.kind]
            r = kind.run(trials, scenario, a)
            r.insert(0, "trial", np.arange(start, stop))
            r.insert(0, "effect", effect)
            r.insert(0, "n_per_arm", n)
            r.insert(0, "cell", cell)
            r.insert(0, "estimand", kind.estimand)
            r.insert(0, "kind", a.kind)
            r.insert(0, "analysis", a.name)
            frames.append(r)
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class SimulationResult:
    """What :func:`run_simulation` produced.

    Attributes
    ----------
    scenario : Scenario
    trials : pandas.DataFrame
        One row per trial and analysis (:data:`TRIAL_COLUMNS` plus kind-specific columns).
    truth : pandas.DataFrame
        True value of each estimand per cell (:func:`longmod.simulate.summary.true_values`).
    operating_characteristics : pandas.DataFrame
        :data:`longmod.simulate.summary.OC_COLUMNS`.
    provenance : dict
    """

    scenario: Scenario
    trials: pd.DataFrame
    truth: pd.DataFrame
    operating_characteristics: pd.DataFrame
    provenance: dict

    def write(self, out_dir: str | Path) -> Path:
        """Write ``operating_characteristics.csv``, ``trials.csv.gz``, ``truth.csv``, ``report.md``,
        ``provenance.json`` and ``figures/power_curves.png``/``.svg``, whole or not at all."""
        from longmod.results.writing import atomic_output_dir
        from longmod.simulate.report import power_curves, render_markdown

        with atomic_output_dir(out_dir) as tmp:
            self.operating_characteristics.to_csv(tmp / "operating_characteristics.csv", index=False)
            self.truth.to_csv(tmp / "truth.csv", index=False)
            self.trials.to_csv(tmp / "trials.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
            (tmp / "provenance.json").write_text(json.dumps(self.provenance, indent=2, sort_keys=True) + "\n")
            (tmp / "figures").mkdir()
            import matplotlib

            with matplotlib.rc_context({"svg.hashsalt": "longmod"}):  # fixed element ids: same run, same bytes
                fig = power_curves(self.operating_characteristics)
                fig.savefig(tmp / "figures" / "power_curves.png", dpi=110)
                fig.savefig(tmp / "figures" / "power_curves.svg", metadata={"Date": None})
            import matplotlib.pyplot as plt

            plt.close(fig)
            (tmp / "report.md").write_text(render_markdown(self), encoding="utf-8")
        return Path(out_dir)


def _chunks(n_cells: int, trials: int, chunk_size: int) -> list[tuple[int, int, int]]:
    return [(c, s, min(s + chunk_size, trials)) for c in range(n_cells) for s in range(0, trials, chunk_size)]


def _checkpoint_dir(out: Path | None) -> Path | None:
    return None if out is None else out.parent / f".{out.name}.checkpoint"


def _open_checkpoint(folder: Path, manifest: dict) -> dict[tuple[int, int], Path]:
    """Existing chunk files of a run with the same manifest (else an error saying what differs)."""
    folder.mkdir(parents=True, exist_ok=True)
    mf = folder / "manifest.json"
    if mf.exists():
        old = json.loads(mf.read_text())
        diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
        if diff:
            raise ValueError(f"{folder}: a checkpoint of another run is there (differs in {', '.join(diff)}); "
                             f"remove the folder or rerun with the same scenario, --seed, --trials and --chunk-size")
    else:
        mf.write_text(json.dumps(manifest, sort_keys=True))
    done = {}
    for f in folder.glob("cell*_*.csv"):
        c, s = f.stem[4:].split("_")
        done[(int(c), int(s))] = f
    return done


def _save_chunk(folder: Path, cell: int, start: int, frame: pd.DataFrame) -> None:
    tmp = folder / f".cell{cell}_{start}.tmp"
    frame.to_csv(tmp, index=False)
    tmp.replace(folder / f"cell{cell}_{start}.csv")


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the progress bar is optional
        return None

    return tqdm(total=total, unit="trial", desc="simulating", file=sys.stderr, smoothing=0.1)


def run_simulation(
    scenario: Scenario | str | Path,
    *,
    trials: int,
    seed: int = 1,
    out: str | Path | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    chunk_size: int = 50,
    progress: bool = False,
    truth_patients: int = 200_000,
    on_chunk: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``trials`` trials per cell of ``scenario``, analyse each, summarise the operating characteristics.

    Parameters
    ----------
    scenario : Scenario or path
    trials : int
        Trials per cell.
    seed : int
        Seeds every trial (see :func:`trial_rng`).
    out : path, optional
        Output folder: enables checkpoints (and resumption) and, at the end,
        :meth:`SimulationResult.write`.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``). Default: a
        new ``LocalCluster`` with ``workers`` single-threaded worker processes;
        ``"threads"``: a ``LocalCluster`` of worker threads in this process (no
        network needed); ``"serial"`` runs in this process without Dask. Every
        choice gives the same numbers (seeds are per trial).
    workers : int, optional
        Workers of the local cluster (default: the number of CPUs).
    chunk_size : int
        Trials per task (part of the reproducibility key: results are
        identical for any number of workers at a given chunk size).
    progress : bool
        A progress bar with ETA on stderr.
    truth_patients : int
        Patients per arm of the large trial that gives each estimand's true value.
    on_chunk : callable, optional
        Called with ``(done, total)`` trials after each finished chunk.

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> res = run_simulation(models_dir() / "scenarios" / "stroma_cov2_null.toml", trials=4, scheduler="serial",
    ...                      truth_patients=2000)
    >>> sorted(res.operating_characteristics["analysis"].unique()) == sorted(a.name for a in res.scenario.analyses)
    True
    """
    from longmod.simulate.summary import operating_characteristics, true_values

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if trials < 1 or chunk_size < 1:
        raise ValueError(f"trials and chunk_size must be >= 1 (got {trials}, {chunk_size})")
    outp = Path(out) if out is not None else None
    chunks = _chunks(len(sc.cells()), trials, chunk_size)
    manifest = {"scenario_sha256": sc.digest(), "seed": int(seed), "trials": int(trials), "chunk_size": int(chunk_size)}
    ck = _checkpoint_dir(outp)
    done_files = _open_checkpoint(ck, manifest) if ck is not None else {}
    results = {key: pd.read_csv(f) for key, f in done_files.items()}
    todo = [c for c in chunks if (c[0], c[1]) not in results]
    bar = _progress(len(sc.cells()) * trials, progress)
    n_done = sum(stop - start for c, start, stop in chunks if (c, start) in results)
    if bar is not None:
        bar.update(n_done)
    t0 = time.perf_counter()

    def finish(key, frame):
        nonlocal n_done
        results[key] = frame
        if ck is not None:
            _save_chunk(ck, key[0], key[1], frame)
        n_done += len(frame["trial"].unique())
        if bar is not None:
            bar.update(len(frame["trial"].unique()))
        if on_chunk is not None:
            on_chunk(n_done, len(sc.cells()) * trials)

    cluster_info = "serial"
    if scheduler == "serial":
        for c, start, stop in todo:
            finish((c, start), run_chunk(sc, c, start, stop, seed))
    elif todo:
        try:
            from dask.distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ImportError("longmod simulate runs on Dask: install longmod[dist] (dask[distributed]), "
                              "or run in this process with scheduler='serial' (--serial)") from None

        cluster = None
        if scheduler and scheduler != "threads":
            client = Client(scheduler)
            cluster_info = f"dask scheduler {scheduler}"
        else:
            processes = scheduler != "threads"
            n_workers = workers or os.cpu_count() or 1
            try:
                cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                                       dashboard_address=None)
            except Exception as exc:  # noqa: BLE001 - any start-up failure gets the same advice
                raise ClusterStartError(
                    f"could not start a Dask LocalCluster of {n_workers} worker "
                    f"{'processes' if processes else 'threads'} ({type(exc).__name__}: {exc}); worker processes "
                    "need TCP on the loopback interface and POSIX semaphores. Run the workers as threads of "
                    "this process (scheduler='threads', --threads) or without Dask (scheduler='serial', "
                    "--serial): the numbers are the same.") from exc
            client = Client(cluster)
            cluster_info = f"dask LocalCluster ({'processes' if processes else 'threads'})"
        cluster_info += f" with {len(client.scheduler_info()['workers'])} worker(s)"
        try:
            futs = {client.submit(run_chunk, sc, c, start, stop, seed, pure=False): (c, start) for c, start, stop in todo}
            for fut in as_completed(futs):
                finish(futs[fut], fut.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    if bar is not None:
        bar.close()
    per_trial = pd.concat([results[(c, s)] for c, s, _ in chunks], ignore_index=True)
    truth = true_values(sc, seed=seed, patients=truth_patients)
    oc = operating_characteristics(per_trial, truth)
    import longmod

    prov = {"longmod_version": longmod.__version__, "scenario": sc.name, **manifest, "execution": cluster_info,
            "seconds": round(time.perf_counter() - t0, 1), "truth_patients_per_arm": truth_patients,
            "data_label": "simulated"}
    res = SimulationResult(sc, per_trial, truth, oc, prov)
    if outp is not None:
        res.write(outp)
        shutil.rmtree(ck, ignore_errors=True)
    return res
