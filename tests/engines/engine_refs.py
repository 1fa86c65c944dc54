"""Comparison helpers for printed reference numbers."""

from __future__ import annotations

from longmod.spec.model import ModelSpec, Treatment

FEV_LEVELS = {
    "AVISIT": ["VIS1", "VIS2", "VIS3", "VIS4"],
    "ARMCD": ["PBO", "TRT"],
    "RACE": ["Asian", "Black or African American", "White"],
    "SEX": ["Male", "Female"],
}


def half_ulp(printed: str) -> float:
    """Half a unit in the last printed digit: '34.2340' -> 5e-5, '219' -> 0.5."""
    s = printed.strip().lstrip("-")
    if "e" in s.lower():
        mant, exp = s.lower().split("e")
        dec = len(mant.split(".")[1]) if "." in mant else 0
        return 0.5 * 10.0 ** (int(exp) - dec)
    dec = len(s.split(".")[1]) if "." in s else 0
    return 0.5 * 10.0 ** (-dec)


def fev_spec(fixed: str, covariance: str, method: str = "reml", df: str = "satterthwaite", vcov: str = "model"):
    return ModelSpec(
        name=f"fev_{covariance}_{method}", outcome="FEV1", fixed=fixed, subject="USUBJID", visit="AVISIT",
        time="VISITN", covariance=covariance, method=method, df=df, vcov=vcov, levels=FEV_LEVELS,
        treatment=Treatment("ARMCD", "PBO", "TRT"),
    )
