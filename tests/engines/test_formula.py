"""Formula (formulaic) -> design matrix with R's coding and names. Expected column names are
R 4.2's model.matrix output (written out by hand from R's documented naming rule and checked
against the SAS/mmrm r_term names in sas_reference.yaml); the values of transformed terms are
checked against NumPy on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from longmod.spec.formula import Formula, FormulaError, design_matrix, parse_formula


@pytest.fixture()
def small():
    return pd.DataFrame({
        "RACE": ["Asian", "White", "Black or African American", "White"],
        "SEX": ["Male", "Female", "Female", "Male"],
        "ARMCD": ["PBO", "TRT", "PBO", "TRT"],
        "AVISIT": ["VIS1", "VIS2", "VIS3", "VIS1"],
        "BL": [1.0, 2.0, 3.0, 4.0],
    })


def test_key_case_columns_match_r_names(small):
    X, cols = design_matrix("RACE + SEX + ARMCD * AVISIT", small, {"SEX": ["Male", "Female"]})
    assert cols == [
        "(Intercept)", "RACEBlack or African American", "RACEWhite", "SEXFemale", "ARMCDTRT",
        "AVISITVIS2", "AVISITVIS3", "ARMCDTRT:AVISITVIS2", "ARMCDTRT:AVISITVIS3",
    ]
    # row 2: White, Female, TRT, VIS2
    assert X[1].tolist() == [1, 0, 1, 1, 1, 1, 0, 1, 0]


def test_terms_are_ordered_like_r():
    assert parse_formula("a:b + c + a")[1] == [("c",), ("a",), ("a", "b")]
    assert parse_formula("a*b - a:b")[1] == [("a",), ("b",)]
    assert parse_formula("y ~ x - 1") == (False, [("x",)])


def test_no_intercept_gives_full_coding_and_numeric_interaction(small):
    _, cols = design_matrix("0 + ARMCD + ARMCD:BL", small)
    assert cols == ["ARMCDPBO", "ARMCDTRT", "ARMCDPBO:BL", "ARMCDTRT:BL"]


def test_interaction_first_factor_varies_fastest():
    d = pd.DataFrame({"a": ["x", "y", "z", "x"], "b": ["p", "q", "q", "p"]})
    X, cols = design_matrix("a:b", d)
    assert cols == ["(Intercept)", "ax:bp", "ay:bp", "az:bp", "ax:bq", "ay:bq", "az:bq"]
    assert X[2].tolist() == [1, 0, 0, 0, 0, 0, 1]


def test_levels_from_spec_then_categorical_then_sorted(small):
    cat = small.assign(SEX=pd.Categorical(small["SEX"], categories=["Male", "Female"]))
    assert Formula.from_data("SEX", cat).columns == ("(Intercept)", "SEXFemale")
    assert Formula.from_data("SEX", small).columns == ("(Intercept)", "SEXMale")
    assert Formula.from_data("BL", small, {"BL": [4.0, 3.0, 2.0, 1.0]}).columns[1] == "BL3"


def test_new_data_uses_same_columns(small):
    f = Formula.from_data("ARMCD * AVISIT", small)
    new = pd.DataFrame({"ARMCD": ["TRT"], "AVISIT": ["VIS3"]})
    assert f.matrix(new).tolist() == [[1, 1, 0, 1, 0, 1]]


def test_missing_column_error_lists_available(small):
    with pytest.raises(FormulaError, match=r"AGE.*available columns: RACE, SEX, ARMCD, AVISIT, BL"):
        design_matrix("ARMCD + AGE", small)


def test_unknown_level_and_unsupported_coding_errors(small):
    with pytest.raises(FormulaError, match="not among its levels"):
        design_matrix("SEX", small, {"SEX": ["Male"]})
    with pytest.raises(FormulaError, match="only treatment contrasts"):
        design_matrix("C(SEX, Sum)", small)
    with pytest.raises(FormulaError, match="must be a column or C"):
        design_matrix("C(BL > 2)", small)
    with pytest.raises(FormulaError, match="both as categorical and numeric"):
        design_matrix("C(BL) + BL", small)
    with pytest.raises(FormulaError, match="not part of a fixed-effects formula"):
        design_matrix("SEX + (1 | RACE)", small)
    with pytest.raises(FormulaError, match="non-finite"):
        design_matrix("log(BL - 1)", small)


def test_function_calls_and_c_keep_r_style_names(small):
    X, cols = design_matrix("C(ARMCD, Treatment('TRT')) * C(AVISIT) + log(BL) + I(BL**2)", small)
    assert cols == ["(Intercept)", "ARMCDPBO", "AVISITVIS2", "AVISITVIS3", "log(BL)", "I(BL ** 2)",
                    "ARMCDPBO:AVISITVIS2", "ARMCDPBO:AVISITVIS3"]
    np.testing.assert_allclose(X[:, 4], np.log(small["BL"]))
    np.testing.assert_allclose(X[:, 5], small["BL"] ** 2)
    assert X[:, 1].tolist() == [1, 0, 1, 0]  # PBO rows: TRT is the reference
    # C() around a text column names the columns as the bare column does: one model, one set of names
    assert design_matrix("C(ARMCD) * AVISIT", small)[1] == design_matrix("ARMCD * AVISIT", small)[1]


def test_number_coded_factor_with_c_and_levels(small):
    d = small.assign(V=[1, 2, 3, 1])
    assert design_matrix("C(V)", d)[1] == ["(Intercept)", "V2", "V3"]
    assert design_matrix("V", d, {"V": [3, 2, 1]})[1] == ["(Intercept)", "V2", "V1"]
    assert design_matrix("V", d)[1] == ["(Intercept)", "V"]  # numeric: a slope


def test_stateful_transform_keeps_its_state_for_new_data(small):
    f = Formula.from_data("center(BL)", small)
    new = pd.DataFrame({"BL": [10.0]})
    assert f.matrix(new)[0, 1] == pytest.approx(10.0 - small["BL"].mean())


def test_caller_frame_not_modified(small):
    before = small.copy()
    design_matrix("RACE * BL", small)
    pd.testing.assert_frame_equal(small, before)
    assert np.isfinite(design_matrix("RACE * BL", small)[0]).all()
