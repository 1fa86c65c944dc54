"""Load: the time left in a run and a pre-flight check of the steps that do not scale to a trial's size.

* :class:`Eta`: the time left on ``longmod reanalyse``'s progress lines, from a **per-kind cost
  model** (:data:`STEP_COSTS`, calibrated by ``benchmarks/bench_load.py``: seconds at
  :data:`REFERENCE_PATIENTS` patients times ``(patients / REFERENCE_PATIENTS) ** exponent``),
  rescaled as the run goes by ``(elapsed + PRIOR_SECONDS) / (predicted + PRIOR_SECONDS)`` of the
  completed steps (a few fast steps cannot swing it). Without a model: the mean time per completed step.
* :func:`check_scale`, run by ``reanalyse`` before anything is fitted: a step whose kind was
  measured not to scale past :attr:`StepCost.max_patients` raises :class:`ScaleError` (a user
  error, exit status 2) naming the step, the trial's size, the measured cost and the ways out
  (``only=`` / ``--only`` to leave it out, ``allow_large=True`` / ``--allow-large`` to run it); kinds
  measured to scale are never stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from longmod.spec.model import SpecError

REFERENCE_PATIENTS = 45  #: patients of the trial the costs were measured on (1x in benchmarks/bench_load.py)
PRIOR_SECONDS = 10.0  #: seconds added to the elapsed and the predicted time when the model is rescaled


@dataclass(frozen=True)
class StepCost:
    """The measured cost of one kind of step, and its limit.

    Attributes
    ----------
    seconds, exponent : float
        Seconds at :data:`REFERENCE_PATIENTS` patients (trial loaded) and growth with the patients.
    max_patients : int or None
        The largest trial it may run on without ``allow_large``; None: it scales.
    why : str
        The measurement behind ``max_patients``, quoted in the error.

    Examples
    --------
    >>> StepCost(2.0, 1.0).predict(450)
    20.0
    """

    seconds: float
    exponent: float = 1.0
    max_patients: int | None = None
    why: str = ""

    def predict(self, patients: int) -> float:
        """Predicted seconds for a trial of ``patients`` patients."""
        return self.seconds * (max(patients, 1) / REFERENCE_PATIENTS) ** self.exponent


DEFAULT_COST = StepCost(1.0, 1.0)  #: the cost of a kind that was not measured: 1 s at 1x, linear growth
_SAMPLED = "at 4,500 patients it did not finish within the benchmark's 5 minutes per step (benchmarks/README.md)"

#: Per-kind costs, measured by benchmarks/bench_load.py on a 2-core machine (1x: 45 patients, 9,628 measurement
#: rows; 100x: 4,500 and 962,800): CPU seconds at 1x (warm compile cache) and the exponent of the 100x / 1x ratio
#: (10x / 1x when 100x did not finish). "biomarkers": the biomarker section; ``kind:bayes``: see :func:`cost_key`.
STEP_COSTS: dict[str, StepCost] = {
    "ancova": StepCost(0.1, 0.8), "rank_sum": StepCost(0.1, 0.8), "signed_rank": StepCost(0.1, 0.85),
    "model": StepCost(2.7, 0.5), "bayes_ancova": StepCost(30.0, 0.0), "prior_grid": StepCost(0.15, 0.1),
    "tipping_point": StepCost(0.4, 0.7), "multiple_imputation": StepCost(0.75, 0.8),
    "while_alive": StepCost(0.1, 0.9), "survival": StepCost(0.2, 0.45), "compare_groups": StepCost(0.1, 1.0),
    "competing_risks": StepCost(0.2, 0.4), "free_days": StepCost(0.15, 0.75),
    "worst_rank": StepCost(0.1, 1.0, 15_000, "it compares every pair of patients across the arms: its peak memory "
                           "(1.1 GB at 4,500 patients) grows with the square of the size, to ~8 GB at 15,000"),
    "bayes_model": StepCost(70.0, 0.6, 1_000, "measured 70 s (CPU) at 45 patients, 143 s at 450; at 4,500 it had "
                            "not finished after 1,087 s CPU (25 min; benchmarks/README.md)"),
    "multiple_imputation:bayes": StepCost(54.0, 0.35, 1_000,
                                          f"measured 54 s (CPU) at 45 patients, 121 s at 450; {_SAMPLED}"),
    "joint_model": StepCost(82.0, 0.3, 1_000, f"measured 82 s (CPU) at 45 patients; {_SAMPLED}"),
    "biomarkers": StepCost(150.0, 0.3, 1_000, f"measured 150 s (CPU) at 45 patients, mostly the pooled "
                           f"Bayesian model over every marker, patient and day; {_SAMPLED}"),
}

#: The cost of writing the outputs (reports, figures): not measured per size; assumed to grow as the square root.
WRITE_COST = StepCost(8.0, 0.5)


class ScaleError(SpecError):
    """Steps of a plan that would not scale to the trial's size, found before anything is fitted.

    Examples
    --------
    >>> print(ScaleError(4500, ["analysis 'b' (bayes_model): too slow"]))  # doctest: +ELLIPSIS
    1 step of the plan would not scale to this trial (4500 patients); nothing was fitted:
      - analysis 'b' (bayes_model): too slow
    Leave the step(s) out with --only (only=[...]) ..., or run them anyway with --allow-large (allow_large=True).
    """

    def __init__(self, patients: int, problems: Sequence[str]):
        self.problems, n = list(problems), len(problems)
        super().__init__("\n".join([
            f"{n} step{'s' if n > 1 else ''} of the plan would not scale to this trial ({patients} patients); "
            "nothing was fitted:", *(f"  - {p}" for p in self.problems),
            "Leave the step(s) out with --only (only=[...]) naming the other analyses, or run them anyway with "
            "--allow-large (allow_large=True)."]))


def cost_key(kind: str, options: Mapping | None = None) -> str:
    """The :data:`STEP_COSTS` key of an analysis: its kind, or ``kind:bayes`` when it samples a posterior.

    Examples
    --------
    >>> cost_key("multiple_imputation", {"draws": "bayes"}), cost_key("multiple_imputation", {})
    ('multiple_imputation:bayes', 'multiple_imputation')
    """
    return f"{kind}:bayes" if (options or {}).get("draws") == "bayes" else kind


def planned_steps(kinds: Sequence[tuple[str, str]], biomarkers: bool) -> list[tuple[str, str]]:
    """(step, cost key) of every progress line: the analyses, then the biomarker section's three steps.

    Examples
    --------
    >>> [s for s, _ in planned_steps([("primary", "ancova")], biomarkers=True)]
    ['primary', 'biomarkers: tests', 'biomarkers: censored models', 'biomarkers: pooled model']
    """
    extra = [(f"biomarkers: {s}", "biomarkers") for s in ("tests", "censored models", "pooled model")]
    return list(kinds) + (extra if biomarkers else [])


def step_seconds(steps: Sequence[tuple[str, str]], patients: int) -> list[float]:
    """Predicted seconds of each (step, cost key); the biomarker section's cost is shared by its three steps.

    Examples
    --------
    >>> step_seconds([("a", "no_such_kind")], REFERENCE_PATIENTS * 10)  # DEFAULT_COST
    [10.0]
    """
    n_bio = max(1, sum(k == "biomarkers" for _, k in steps))
    return [STEP_COSTS.get(k, DEFAULT_COST).predict(patients) / (n_bio if k == "biomarkers" else 1) for _, k in steps]


def check_scale(analyses: Sequence[tuple[str, str]], patients: int, rows: int, *, biomarkers: bool = False,
                allow_large: bool = False) -> None:
    """ScaleError naming every step measured not to scale to ``patients`` (never with ``allow_large``).

    ``analyses``: (name, :func:`cost_key`) pairs; ``rows``: measurement rows; ``biomarkers``: the section runs.

    Examples
    --------
    >>> check_scale([("primary", "ancova")], 4500, 10**6)  # scales: nothing raised
    >>> check_scale([("m", "bayes_model")], 4500, 10**6)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    longmod.pipeline.scale.ScaleError: 1 step of the plan would not scale to this trial (4500 patients); ...
    """
    if allow_large:
        return
    problems = []
    for name, kind in list(analyses) + ([("biomarkers", "biomarkers")] if biomarkers else []):
        cost = STEP_COSTS.get(kind)
        if cost is None or cost.max_patients is None or patients <= cost.max_patients:
            continue
        what = "the biomarker section" if kind == "biomarkers" else f"analysis {name!r} ({kind})"
        problems.append(f"{what}: {patients} patients ({rows} measurement rows) is more than the "
                        f"{cost.max_patients} it may run on without --allow-large; {cost.why}")
    if problems:
        raise ScaleError(patients, problems)


def format_seconds(s: float) -> str:
    """A duration for a progress line.

    Examples
    --------
    >>> format_seconds(4.2), format_seconds(125), format_seconds(7300)
    ('4 s', '2 min 05 s', '2 h 01 min')
    """
    s = round(max(0.0, float(s)))
    if s < 3600:
        return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Eta:
    """The time left in a run after each completed step (see the module docstring).

    Examples
    --------
    >>> round(Eta([1.0, 1.0, 8.0]).remaining(done=1, elapsed=1.0), 1)  # the first step took 1 s as predicted
    9.0
    >>> Eta().remaining(done=2, elapsed=10.0, total=5)  # no model: 5 s per step, 3 steps left
    15.0
    """

    def __init__(self, costs: Sequence[float] | None = None):
        self.costs = None if costs is None else list(map(float, costs))

    def remaining(self, done: int, elapsed: float, total: int | None = None) -> float | None:
        """Seconds left after ``done`` steps took ``elapsed`` seconds; None when it cannot be told."""
        if done <= 0:
            return None
        if self.costs is not None and done <= len(self.costs):
            rate = (elapsed + PRIOR_SECONDS) / (sum(self.costs[:done]) + PRIOR_SECONDS)
            return rate * sum(self.costs[done:])
        return None if total is None else elapsed / done * max(total - done, 0)
