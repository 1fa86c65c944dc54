"""SAS's between-within denominator degrees of freedom (PROC MIXED ``DDFM=BETWITHIN``).

SAS's rule (Schluchter and Elashoff 1990; SAS/STAT "Between-Within Degrees of Freedom
Approximation"): the residual df ``n - rank(X)`` are split into a between-subject part,
``n_subjects - rank(X_between)`` (the columns constant within every subject, the
intercept included), and a within-subject part, ``n - rank(X) - between``. An effect
that never changes within a subject gets the between df, the others the within df.
**Exception**: a model with only R-side covariation and an unstructured covariance
(``TYPE=UN``; longmod's ``us``) gives *every* effect the between df "to provide for
better small-sample approximations". This is why SAS prints 193 for ``AVISIT*ARMCD``
in the cell-means fit of fev_data, where the plain rule gives 333.

Not implemented: when two or more within-subject effects with classification
variables change within subjects through *different* variables, SAS partitions the
within df into subject-by-effect strata; longmod keeps the pooled within df and says
so in a warning (:func:`between_within`).
"""

from __future__ import annotations

import numpy as np


def between_within(X: np.ndarray, subject: np.ndarray, term_of_column, terms, categorical,
                   within_vars_of_term, covariance: str) -> tuple[np.ndarray, list[str]]:
    """Per-column between-within df and warnings.

    Parameters
    ----------
    X : (n, p) design of the kept columns
    subject : (n,) subject codes
    term_of_column : sequence of int
        Term index per kept column (-1: intercept).
    terms : sequence of tuple of str
        Terms (factor names).
    categorical : set of str
        Categorical factor names.
    within_vars_of_term : callable
        ``term index -> frozenset`` of the term's factors that change within subjects.
    covariance : str
        The structure; ``"us"`` triggers SAS's unstructured exception.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(6), [0, 0, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1]])
    >>> subj = np.repeat([0, 1, 2], 2)
    >>> between_within(X, subj, [-1, 0, 1], [("arm",), ("visit",)], {"arm", "visit"},
    ...                lambda i: frozenset({"visit"}) if i == 1 else frozenset(), "ar1")[0].tolist()
    [1.0, 1.0, 2.0]
    >>> between_within(X, subj, [-1, 0, 1], [("arm",), ("visit",)], {"arm", "visit"},
    ...                lambda i: frozenset(), "us")[0].tolist()
    [1.0, 1.0, 1.0]
    """
    n, p = X.shape
    order = np.argsort(subject, kind="stable")
    Xs, ss = X[order], subject[order]
    same = ss[1:] == ss[:-1]
    between = np.array([np.allclose(Xs[1:, j][same], Xs[:-1, j][same]) for j in range(p)], dtype=bool)
    n_subj = len(np.unique(subject))
    rb = np.linalg.matrix_rank(X[:, between]) if between.any() else 0
    df_b = float(n_subj - rb)
    df_w = float(n - np.linalg.matrix_rank(X) - (n_subj - rb))
    warnings: list[str] = []
    if covariance == "us":
        return np.full(p, df_b), warnings
    strata = set()
    for ti in {t for t, b in zip(term_of_column, between) if not b and t >= 0}:
        if any(f in categorical for f in terms[ti]):
            strata.add(within_vars_of_term(ti))
    if len(strata) > 1:
        warnings.append(
            "between-within df: SAS partitions the within-subject df into subject-by-effect strata when "
            f"within-subject effects change through different variables ({', '.join(sorted('*'.join(sorted(s)) for s in strata))}); "
            "longmod gives them the pooled within df"
        )
    return np.where(between, df_b, df_w), warnings
