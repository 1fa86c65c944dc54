"""The reconstruction code is trial-agnostic, and the bundled fixtures follow the trial.toml v2 contract."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import longmod.reconstruct as rc
from longmod.resources import fixtures_dir

FIXTURES = ("stroma_cov2", "martinez_munoz_2024", "gregoire_2022")
NEW = ("martinez_munoz_2024", "gregoire_2022")
GENERIC_COLUMNS = {"patient_id", "arm"}


def _trial_words() -> set[str]:
    """Every name a bundled fixture declares: trial, arms, variables, covariates, patient columns."""
    words = set()
    for name in FIXTURES:
        folder = fixtures_dir() / name
        doc = tomllib.loads((folder / "trial.toml").read_text(encoding="utf-8"))
        words |= {name, doc["trial"]["name"], *doc["trial"]["arms"]}
        words |= {v for v in doc.get("variables", {}) if len(v) > 3}
        words |= set(doc.get("covariates", {}))
        words |= set(pd.read_csv(folder / "patients.csv", nrows=1).columns) - GENERIC_COLUMNS
    return words


def _code_strings(path: Path) -> list[str]:
    """String constants and identifiers of a module, docstrings (and their examples) excluded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            out.append(node.value)
        elif isinstance(node, ast.Name):
            out.append(node.id)
        elif isinstance(node, ast.Attribute):
            out.append(node.attr)
    return out


def test_no_bundled_trial_name_in_the_reconstruction_code():
    """No string constant or identifier of longmod/reconstruct (docstring examples aside) is a name a
    bundled fixture declares (trial, arm, variable, covariate, patients column)."""
    words = _trial_words()
    assert {"uc_msc", "bm_msc", "pao2_fio2", "d_dimer", "who_scale", "sofa_gt11", "death_day"} <= words
    hits = []
    for path in sorted(Path(rc.__file__).parent.glob("*.py")):
        for s in _code_strings(path):
            tokens = set(re.findall(r"[A-Za-z0-9_-]+", s))
            hits += [(path.name, w, s) for w in words if w in tokens]
    assert not hits, hits


@pytest.mark.parametrize("name", NEW)
def test_trial_toml_follows_the_v2_contract(name):
    folder = fixtures_dir() / name
    doc = tomllib.loads((folder / "trial.toml").read_text(encoding="utf-8"))
    t = doc["trial"]
    assert t["synthetic"] is True and "synthetic" in t["title"]
    assert "SYNTHETIC" in (folder / "trial.toml").read_text(encoding="utf-8").splitlines()[0]
    assert t["reference_arm"] in t["arms"] and t["primary_outcome"] in doc["variables"]
    pts = pd.read_csv(folder / "patients.csv", dtype={"patient_id": str})
    ms = pd.read_csv(folder / "measurements.csv", dtype={"patient_id": str})
    assert list(ms.columns) == ["patient_id", "day", "variable", "value", "lloq"]
    assert set(pts["arm"]) == set(t["arms"]) and pts["patient_id"].is_unique
    declared = set(GENERIC_COLUMNS) | {"doses_received"}
    for cov, spec in doc.get("covariates", {}).items():
        assert spec["role"] in ("stratification", "matching", "covariate")
        col = pts[cov]
        if spec["type"] == "binary":
            assert set(col) <= {0, 1}
        elif spec["type"] == "categorical":
            assert set(col) <= set(spec["levels"]), cov
        declared.add(cov)
    for ev, spec in doc.get("events", {}).items():
        assert spec["kind"] in ("death", "discharge", "other")
        v = pts[spec["column"]].dropna()
        assert (v == v.round()).all() and (v > t.get("baseline_day", 0)).all(), ev
        assert v.max() <= t["followup_days"] if len(v) else True
        declared.add(spec["column"])
    assert set(pts.columns) <= declared, set(pts.columns) - declared
    assert set(ms["variable"]) <= set(doc["variables"])
    assert set(ms["day"]) <= set(t["schedule"])
    for var, spec in doc["variables"].items():
        assert spec["better"] in ("higher", "lower") and spec["type"] in ("continuous", "ordinal")
        v = ms.loc[ms["variable"] == var, "value"]
        assert v.between(spec["min"], spec["max"]).all(), var
        if spec["type"] == "ordinal":
            assert set(v) <= set(spec["levels"]), var
        if spec.get("baseline_required"):
            base = ms[(ms["variable"] == var) & (ms["day"] == t["baseline_day"])]
            assert set(base["patient_id"]) == set(pts["patient_id"]), var
    text = (folder / "CALIBRATION.md").read_text(encoding="utf-8")
    assert text.startswith("# ") and "SYNTHETIC" in text.splitlines()[0]


@pytest.mark.parametrize("name", NEW)
def test_targets_cite_their_published_quote_keys(name, shared_dir):
    """Every non-assumption `source` key of a targets file exists in the shared fact file."""
    import yaml

    spec = rc.load_targets(fixtures_dir() / name / "targets.toml")
    facts = yaml.safe_load((shared_dir / "published" / spec.facts).read_text(encoding="utf-8"))
    keys = [t.source for t in spec.targets] + [c["source"] for c in spec.candidates]
    assert keys
    for key in keys:
        section, fact = key.split(".")
        assert "quote" in facts[section][fact], key
