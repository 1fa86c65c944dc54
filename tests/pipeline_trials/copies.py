"""Copies of a bundled trial and its plan, with arms, columns and patient ids renamed and rows reordered."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from longmod.resources import fixtures_dir, models_dir

NUMBERS = ["estimate", "std_error", "df", "conf_low", "conf_high", "p_value"]


def _sub(text: str, mapping: dict[str, str]) -> str:
    for a, b in mapping.items():
        text = re.sub(rf'(?<![\w]){re.escape(a)}(?![\w])', b, text)
    return text


def trial_copy(dest: Path, key: str, *, arms: dict | None = None, columns: dict | None = None, ids: bool = False,
               shuffle: bool = False, plan_edit=None, seed: int = 5) -> tuple[Path, Path]:
    """(trial folder, plan path) of a copy of bundled trial ``key`` (folder name), renamed as asked."""
    src, models = fixtures_dir() / key, models_dir() / key
    dest.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    pts = pd.read_csv(src / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(src / "measurements.csv", dtype={"patient_id": str})
    toml = (src / "trial.toml").read_text(encoding="utf-8")
    plan = (models / "plan.toml").read_text(encoding="utf-8")
    if arms:
        pts["arm"] = pts["arm"].map(arms)
        toml = _sub(toml, {f'"{a}"': f'"{b}"' for a, b in arms.items()})
    if columns:
        pts = pts.rename(columns=columns)
        toml = _sub(toml, columns)
        plan = _sub(plan, columns)
    if ids:
        old = sorted(pts["patient_id"])
        mapping = dict(zip(old, [f"p{k:03d}" for k in rng.permutation(len(old))]))
        pts["patient_id"] = pts["patient_id"].map(mapping)
        ms["patient_id"] = ms["patient_id"].map(mapping)
    if shuffle:
        pts = pts.sample(frac=1.0, random_state=seed)
        ms = ms.sample(frac=1.0, random_state=seed)
    if plan_edit is not None:
        plan = plan_edit(plan)
    pts.to_csv(dest / "patients.csv", index=False)
    ms.to_csv(dest / "measurements.csv", index=False)
    (dest / "trial.toml").write_text(toml, encoding="utf-8")
    for extra in ("targets.toml", "CALIBRATION.md"):
        if (src / extra).is_file():
            shutil.copy(src / extra, dest / extra)
    (dest / "plan.toml").write_text(plan, encoding="utf-8")
    for spec in models.glob("*.toml"):
        if spec.name != "plan.toml":
            shutil.copy(spec, dest / spec.name)
    return dest, dest / "plan.toml"


def comparable(effects: pd.DataFrame, arms: dict | None = None, columns: dict | None = None) -> pd.DataFrame:
    """Reproduced rows keyed by analysis, day, test and statistic, with arm and column names mapped back."""
    e = effects[effects["engine"] != "published"].copy()
    inv = {b: a for a, b in (arms or {}).items()} | {b: a for a, b in (columns or {}).items()}
    for c in ("contrast", "test", "outcome"):
        if c in e:
            e[c] = e[c].fillna("").astype(str).map(lambda s: _sub(s, inv))
    for c in ("test", "statistic", "scenario", "method", "parameter"):
        if c not in e:
            e[c] = ""
        e[c] = e[c].fillna("").astype(str)
    key = ["analysis", "day", "contrast", "test", "statistic", "method", "engine"]
    e = e.sort_values(key, kind="stable").reset_index(drop=True)
    return e[key + [c for c in NUMBERS if c in e]]
