"""What each estimand analysis assumes: one registry, one entry per analysis name.

The pipeline shows :attr:`EstimandInfo.assumes` beside each result row; the
engines of :mod:`longmod.estimands` copy ``label`` into the ``estimand``
column and ``assumes`` into the ``assumes`` column of their rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class EstimandInfo:
    """Label and assumptions of one estimand analysis.

    Attributes
    ----------
    analysis : str
        Analysis name (the ``analysis`` column).
    label : str
        Short estimand label (the ``estimand`` column).
    assumes : str
        What the estimand assumes about patients who die or leave follow-up,
        in a few sentences.
    """

    analysis: str
    label: str
    assumes: str


_REF = ("The covariance of a patient's visits is the imputation model's, common to both arms; "
        "reference-arm patients are imputed under MAR.")

_ENTRIES = (
    EstimandInfo(
        "tipping_point", "Composite strategy, sensitivity of its constants",
        "The protocol's composite rules (a fixed value at death, the last value scaled or shifted at ICU discharge) "
        "with every constant moved over a grid, plus a shift (delta) of the active arm's imputed values. Each grid "
        "point is one composite estimand; the tipping contour shows how far the constants must move before the "
        "conclusion (p < 0.05, or P(benefit) > 0.95) changes."),
    EstimandInfo(
        "mi_mar", "Hypothetical (MAR), multiple imputation",
        "Values missing after death or ICU discharge are imputed as if the patient had stayed on the same course, "
        "given their own observed values, arm and covariates (missing at random). For a patient who died this "
        "describes a hypothetical world without death; for a patient discharged improved, a continued stay in "
        "the ICU on the arm's trajectory."),
    EstimandInfo(
        "mi_j2r", "Jump to reference, multiple imputation",
        "After the intercurrent event an active-arm patient's mean jumps to the reference arm's mean at every "
        "later visit: any benefit of treatment vanishes at once, while the correlation with the patient's own "
        "observed values is kept. " + _REF),
    EstimandInfo(
        "mi_cr", "Copy reference, multiple imputation",
        "An active-arm patient with an intercurrent event is imputed as if they had always been in the reference "
        "arm (reference means at every visit), conditioning on their observed values: the benefit fades as the "
        "correlation with the last observed values decays. " + _REF),
    EstimandInfo(
        "mi_cir", "Copy increments in reference, multiple imputation",
        "An active-arm patient keeps the benefit reached at the last visit before the intercurrent event; later "
        "visits change as the reference arm's mean changes from that visit. " + _REF),
    EstimandInfo(
        "while_alive_auc", "While alive: mean outcome per day at risk",
        "The area under the patient's trajectory from baseline to death or the horizon (whichever comes first), "
        "divided by the days at risk: the average level of the outcome while alive. Between observations values "
        "are joined linearly, after the last one carried forward. Nothing is assumed about values after death; "
        "a patient who dies early contributes a short window, not a bad value."),
    EstimandInfo(
        "worst_rank", "Composite: death ranked worst (win ratio, Mann-Whitney odds)",
        "Every active patient is compared with every reference patient: death before the horizon ranks worst, "
        "earlier death worse than later; survivors are ranked by the outcome. The win ratio (wins / losses) and "
        "the Mann-Whitney odds (P(win) + P(tie)/2 over its complement) summarise the pairs; death is treated "
        "as the worst outcome, not as missing."),
)
_CM = tuple(
    EstimandInfo(e.analysis.replace("mi_", "cm_"), e.label.replace("multiple imputation", "conditional-mean imputation"),
                 e.assumes + " Estimated by conditional-mean imputation (one dataset), standard error by the jackknife "
                 "(or the bootstrap).")
    for e in _ENTRIES if e.analysis.startswith("mi_")
)

#: Analysis name -> :class:`EstimandInfo` (read-only).
ESTIMANDS = MappingProxyType({e.analysis: e for e in (*_ENTRIES, *_CM)})


def estimand_description(analysis: str) -> EstimandInfo | None:
    """The registry entry of ``analysis``, or None when it has none.

    Examples
    --------
    >>> estimand_description("mi_j2r").label
    'Jump to reference, multiple imputation'
    >>> estimand_description("no_such_analysis") is None
    True
    """
    return ESTIMANDS.get(analysis)
