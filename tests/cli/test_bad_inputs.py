"""The bad-input catalogue: every input file of a trial folder and ``longmod fit``, broken one way at a time.

Each case copies a bundled trial folder (found with ``longmod.resources``; the names of its covariates, events
and variables are read from its trial.toml, so nothing here is specific to one trial), breaks one thing, runs
the command and asserts: exit status 2, one message naming the file (and the line and column where there is
one) and what would be valid, no traceback, the input files byte-identical afterwards, no output folder and
no temporary folder left behind.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from longmod.cli import main
from longmod.resources import fixtures_dir, trial_names

# ---------------------------------------------------------------------------------------------------------------
# The trial folder and the names the cases use (read from its trial.toml)


def _features(folder: Path) -> int:
    doc = tomllib.loads((folder / "trial.toml").read_text(encoding="utf-8"))
    kinds = {e.get("kind") for e in doc.get("events", {}).values()}
    types = {c.get("type") for c in doc.get("covariates", {}).values()}
    meas = (folder / "measurements.csv").read_text(encoding="utf-8").splitlines()
    has_lloq = any(line.rsplit(",", 1)[-1].strip() for line in meas[1:200])
    return (len(kinds & {"death", "discharge"}) + len(types) + ("doses_planned" in doc["trial"]) + has_lloq)


def _pick_trial() -> Path:
    folders = [fixtures_dir() / n.replace("-", "_") for n in trial_names()]
    folders = [f for f in folders if (f / "trial.toml").is_file()]  # not the plans of published summaries
    return max(folders, key=_features)


SOURCE = _pick_trial()


@dataclass
class Names:
    folder: Path
    doc: dict

    @property
    def trial(self):
        return self.doc["trial"]

    def covariate(self, type_=None, role=None):
        for name, c in self.doc.get("covariates", {}).items():
            if (type_ is None or c.get("type") == type_) and (role is None or c.get("role", "covariate") == role):
                return name
        pytest.skip(f"the trial has no {type_ or ''} {role or ''} covariate")

    def event(self, kind):
        for e in self.doc.get("events", {}).values():
            if e["kind"] == kind:
                return e["column"]
        pytest.skip(f"the trial has no {kind} event")

    @property
    def outcome(self):
        return self.trial["primary_outcome"]

    @property
    def patients(self) -> Path:
        return self.folder / self.doc.get("files", {}).get("patients", "patients.csv")

    @property
    def measurements(self) -> Path:
        return self.folder / self.doc.get("files", {}).get("measurements", "measurements.csv")


class Table:
    """A CSV file as lines of cells (the cases break it one cell at a time)."""

    def __init__(self, path: Path):
        self.path = path
        self.rows = [line.split(",") for line in path.read_text(encoding="utf-8").splitlines()]
        self.header = self.rows[0]

    def col(self, name):
        return self.header.index(name)

    def find(self, **where) -> int:
        """Line number (1-based, header = 1) of the first row matching ``where``."""
        for i, r in enumerate(self.rows[1:], start=2):
            if all(r[self.col(k)] == v for k, v in where.items()):
                return i
        raise LookupError(where)

    def lines(self, pred) -> list[int]:
        return [i for i, r in enumerate(self.rows[1:], start=2) if pred(dict(zip(self.header, r)))]

    def set(self, line, column, value):
        self.rows[line - 1][self.col(column)] = value

    def get(self, line, column):
        return self.rows[line - 1][self.col(column)]

    def save(self):
        self.path.write_text("\n".join(",".join(r) for r in self.rows) + "\n", encoding="utf-8")


def _toml_replace(n: Names, old: str, new: str):
    p = n.folder / "trial.toml"
    text = p.read_text(encoding="utf-8")
    assert old in text, old
    p.write_text(text.replace(old, new, 1), encoding="utf-8")


def _toml_line(n: Names, needle: str) -> int:
    lines = (n.folder / "trial.toml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


# ---------------------------------------------------------------------------------------------------------------
# The cases: (id, break the folder -> list of strings the message must contain)

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# --- trial.toml -------------------------------------------------------------------------------------------------
@case
def toml_missing(n):
    (n.folder / "trial.toml").unlink()
    return [str(n.folder), "no trial.toml here"]


@case
def toml_empty(n):
    (n.folder / "trial.toml").write_text("")
    return ["trial.toml", "no [trial] table"]


@case
def toml_invalid_syntax(n):
    _toml_replace(n, "[trial]\n", "[trial]\nname = \n")
    return ["trial.toml", "not valid TOML", "line"]


@case
def toml_latin1(n):
    p = n.folder / "trial.toml"
    p.write_bytes(p.read_bytes().replace(b"[trial]\n", b"[trial]\n# r\xe9sum\xe9\n", 1))
    return ["trial.toml", "not UTF-8", "save the file as UTF-8"]


@case
def toml_missing_key(n):
    _toml_replace(n, f'reference_arm = "{n.trial["reference_arm"]}"\n', "")
    return ["trial.toml", "key 'trial'", "needs 'reference_arm'"]


@case
def toml_reference_arm_not_an_arm(n):
    _toml_replace(n, f'reference_arm = "{n.trial["reference_arm"]}"', 'reference_arm = "standard_care"')
    return ["trial.toml", f"line {_toml_line(n, 'reference_arm')}", "reference_arm 'standard_care' is not one of the "
            "arms", "valid: " + ", ".join(n.trial["arms"])]


@case
def toml_wrong_type_int(n):
    _toml_replace(n, f'primary_day = {n.trial["primary_day"]}', 'primary_day = "seven"')
    return ["trial.toml", f"line {_toml_line(n, 'primary_day')}", "primary_day must be a whole number"]


@case
def toml_wrong_type_list(n):
    arms = ", ".join(f'"{a}"' for a in n.trial["arms"])
    _toml_replace(n, f"arms = [{arms}]", f'arms = "{n.trial["arms"][0]}"')
    return ["trial.toml", "key 'trial.arms'", "arms must be a list of strings"]


@case
def toml_wrong_type_number(n):
    _toml_replace(n, "\nmin = ", '\nmin = "low" #')
    return ["trial.toml", "min must be a number"]


@case
def toml_unknown_key(n):
    _toml_replace(n, "schedule = ", "schedul = ")
    return ["trial.toml", "unknown key 'schedul'", "valid keys:", "needs 'schedule'"]


@case
def toml_one_arm(n):
    arms = ", ".join(f'"{a}"' for a in n.trial["arms"])
    _toml_replace(n, f"arms = [{arms}]", f'arms = ["{n.trial["reference_arm"]}"]')
    return ["trial.toml", "a trial needs at least two arms"]


@case
def toml_primary_day_off_schedule(n):
    _toml_replace(n, f'primary_day = {n.trial["primary_day"]}', "primary_day = 999")
    return ["trial.toml", "primary_day 999 is not in the schedule"]


@case
def toml_bad_covariate_type(n):
    cov = n.covariate("binary")
    _toml_replace(n, f'[covariates.{cov}]\ntype = "binary"', f'[covariates.{cov}]\ntype = "boolean"')
    return ["trial.toml", "type 'boolean' is not valid", "binary, categorical, numeric"]


@case
def toml_bad_event_kind(n):
    col = n.event("death")
    _toml_replace(n, f'column = "{col}"\nkind = "death"', f'column = "{col}"\nkind = "dead"')
    return ["trial.toml", "kind 'dead' is not valid", "death, discharge, other"]


@case
def toml_data_file_missing(n):
    n.patients.unlink()
    return [str(n.patients), "file not found"]


# --- patients table ---------------------------------------------------------------------------------------------
@case
def patients_empty(n):
    n.patients.write_bytes(b"")
    return [str(n.patients), "the file is empty"]


@case
def patients_header_only(n):
    n.patients.write_text(n.patients.read_text().splitlines()[0] + "\n")
    return [str(n.patients), "a header line but no data rows"]


@case
def patients_binary(n):
    n.patients.write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)))
    return [str(n.patients), "binary content", "not a CSV text file"]


@case
def patients_latin1(n):
    t = Table(n.patients)
    t.set(3, "arm", t.get(3, "arm"))
    data = n.patients.read_bytes()
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(b",", b"\xe9,", 1)
    n.patients.write_bytes(b"\n".join(lines))
    return [str(n.patients), "line 3", "not UTF-8 text: byte 0xe9", "Latin-1", "save the file as CSV UTF-8"]


@case
def patients_semicolons(n):
    n.patients.write_text(n.patients.read_text().replace(",", ";"))
    return [str(n.patients), "line 1", "delimited by semicolons", "comma-separated"]


@case
def patients_tabs(n):
    n.patients.write_text(n.patients.read_text().replace(",", "\t"))
    return [str(n.patients), "line 1", "delimited by tabs"]


@case
def patients_duplicated_header(n):
    t = Table(n.patients)
    cov = n.covariate("numeric")
    i = t.col(cov)
    t.header[i] = "arm"
    t.save()
    return [str(n.patients), "line 1, column 'arm'", "appears twice in the header", "must be unique"]


@case
def patients_ragged_row(n):
    t = Table(n.patients)
    t.rows[4].append("extra")
    t.save()
    return [str(n.patients), "line 5", "as many fields as the header"]


@case
def patients_missing_column(n):
    t = Table(n.patients)
    t.header[t.col("arm")] = "group"
    t.save()
    return [str(n.patients), "column 'arm'", "required column is missing", "columns present: patient_id, group"]


@case
def patients_unknown_arm(n):
    t = Table(n.patients)
    t.set(4, "arm", "MSC")
    t.save()
    return [str(n.patients), "line 4, column 'arm'", "unknown arm 'MSC'", "valid arms: " + ", ".join(n.trial["arms"])]


@case
def patients_duplicate_id(n):
    t = Table(n.patients)
    t.set(5, "patient_id", t.get(4, "patient_id"))
    t.save()
    return [str(n.patients), "line 5, column 'patient_id'", "duplicate patient id", "must be unique"]


@case
def patients_yes_in_binary(n):
    t = Table(n.patients)
    cov = n.covariate("binary")
    t.set(6, cov, "yes")
    t.save()
    return [str(n.patients), f"line 6, column '{cov}'", "must be 0 or 1, got 'yes'", "ONE PROBLEM"]


@case
def patients_nan_in_numeric(n):
    t = Table(n.patients)
    cov = n.covariate("numeric")
    t.set(7, cov, "NaN")
    t.save()
    return [str(n.patients), f"line 7, column '{cov}'", "must be a number, got 'NaN'", "ONE PROBLEM"]


@case
def patients_unknown_level(n):
    t = Table(n.patients)
    cov = n.covariate("categorical")
    t.set(3, cov, "critical")
    t.save()
    return [str(n.patients), f"line 3, column '{cov}'", "unknown level 'critical'", "valid levels:"]


@case
def patients_missing_stratum(n):
    t = Table(n.patients)
    cov = n.covariate(role="stratification")
    t.set(8, cov, "")
    t.save()
    return [str(n.patients), f"line 8, column '{cov}'", "stratification covariate is missing"]


@case
def patients_negative_event_day(n):
    t = Table(n.patients)
    col = n.event("death")
    t.set(4, col, "-3")
    t.save()
    return [str(n.patients), f"line 4, column '{col}'", "must be empty or a day >= 0"]


@case
def patients_text_event_day(n):
    t = Table(n.patients)
    col = n.event("death")
    t.set(4, col, "unknown")
    t.save()
    return [str(n.patients), f"line 4, column '{col}'", "must be empty or a day >= 0, got 'unknown'"]


@case
def patients_too_many_doses(n):
    if "doses_planned" not in n.trial:
        pytest.skip("no doses_planned")
    t = Table(n.patients)
    t.set(3, "doses_received", str(n.trial["doses_planned"] + 5))
    t.save()
    return [str(n.patients), "line 3, column 'doses_received'", f"must be an integer 0 to {n.trial['doses_planned']}"]


@case
def patients_all_in_one_arm(n):
    t = Table(n.patients)
    for line in range(2, len(t.rows) + 1):
        t.set(line, "arm", n.trial["reference_arm"])
    t.save()
    return [str(n.patients), "column 'arm'", "fewer than 2 patients", "patients per arm"]


@case
def patients_one_per_arm(n):
    t = Table(n.patients)
    keep = {}
    for r in t.rows[1:]:
        keep.setdefault(r[t.col("arm")], r)
    t.rows = [t.header, *keep.values()]
    t.save()
    m = Table(n.measurements)
    ids = {r[t.col("patient_id")] for r in t.rows[1:]}
    # (markers are dropped: with two patients some have every value below the LLOQ, a problem of its own)
    m.rows = [m.header] + [r for r in m.rows[1:] if r[m.col("patient_id")] in ids and r[m.col("lloq")] == ""]
    m.save()
    return [str(n.patients), "column 'arm'", "fewer than 2 patients", " 1, "]


@case
def patients_many_bad_values_capped(n):
    t = Table(n.patients)
    cov = n.covariate("binary")
    for line in range(2, 16):
        t.set(line, cov, "2")
    t.save()
    return [str(n.patients), f"column '{cov}'", "and 4 more problem(s) like the one at line 2"]


# --- measurements table -----------------------------------------------------------------------------------------
@case
def measurements_empty(n):
    n.measurements.write_text("\n\n")
    return [str(n.measurements), "the file is empty"]


@case
def measurements_header_only(n):
    n.measurements.write_text(n.measurements.read_text().splitlines()[0] + "\n")
    return [str(n.measurements), "no data rows"]


@case
def measurements_semicolons(n):
    n.measurements.write_text(n.measurements.read_text().replace(",", ";"))
    return [str(n.measurements), "delimited by semicolons"]


@case
def measurements_latin1(n):
    data = n.measurements.read_bytes().split(b"\n")
    data[9] = data[9].replace(b",", b",\xb5", 1)
    n.measurements.write_bytes(b"\n".join(data))
    return [str(n.measurements), "line 10", "not UTF-8", "0xb5"]


@case
def measurements_duplicated_header(n):
    t = Table(n.measurements)
    t.header[t.col("lloq")] = "value"
    t.save()
    return [str(n.measurements), "column 'value'", "appears twice"]


@case
def measurements_nan_string_in_outcome(n):
    t = Table(n.measurements)
    line = t.find(variable=n.outcome, day=str(n.trial["primary_day"]))
    t.set(line, "value", "NaN")
    t.save()
    return [str(n.measurements), f"line {line}, column 'value'", "not a number: 'NaN'", "ONE PROBLEM"]


@case
def measurements_lloq_with_less_than(n):
    t = Table(n.measurements)
    lines = t.lines(lambda r: r.get("lloq", "") != "")
    if not lines:
        pytest.skip("no LLOQ in this trial")
    t.set(lines[0], "lloq", "<0.03")
    t.save()
    return [str(n.measurements), f"line {lines[0]}, column 'lloq'", "not a number: '<0.03'", "(e.g. 0.03)"]


@case
def measurements_day_off_schedule(n):
    t = Table(n.measurements)
    t.set(3, "day", "999")
    t.save()
    return [str(n.measurements), "line 3, column 'day'", "not in the schedule", "valid days:"]


@case
def measurements_unknown_variable(n):
    t = Table(n.measurements)
    t.set(4, "variable", "pf_ratio_typo")
    t.save()
    return [str(n.measurements), "line 4, column 'variable'", "unknown variable 'pf_ratio_typo'", "valid variables:"]


@case
def measurements_unknown_patient(n):
    t = Table(n.measurements)
    t.set(5, "patient_id", "ZZ999")
    t.save()
    return [str(n.measurements), "line 5, column 'patient_id'", "'ZZ999' is not in the patients table"]


@case
def measurements_duplicate_row(n):
    t = Table(n.measurements)
    t.rows.insert(3, list(t.rows[2]))
    t.save()
    return [str(n.measurements), "line 4", "duplicate row", "keep one value per patient, day and variable"]


@case
def measurements_out_of_range(n):
    t = Table(n.measurements)
    line = t.find(variable=n.outcome)
    t.set(line, "value", "1e7")
    t.save()
    return [str(n.measurements), f"line {line}, column 'value'", "outside the plausible range"]


@case
def measurements_after_death(n):
    p = Table(n.patients)
    col = n.event("death")
    m = Table(n.measurements)
    pid = next(r[p.col("patient_id")] for r in p.rows[1:] if r[p.col(col)] == ""
               and len(m.lines(lambda x, i=r[p.col("patient_id")]: x["patient_id"] == i and x["day"] == "2")))
    p.set(p.find(patient_id=pid), col, "1")
    p.save()
    return [str(n.measurements), "column 'day'", f"after patient '{pid}' died on day 1"]


@case
def measurements_after_discharge(n):
    p = Table(n.patients)
    col = n.event("discharge")
    death = n.event("death")
    m = Table(n.measurements)
    later = n.trial["schedule"][2]
    pid = next(r[p.col("patient_id")] for r in p.rows[1:] if r[p.col(col)] == "" and r[p.col(death)] == ""
               and m.lines(lambda x, i=r[p.col("patient_id")]: x["patient_id"] == i and x["variable"] == n.outcome
                           and x["day"] == str(later)))
    p.set(p.find(patient_id=pid), col, str(n.trial["schedule"][1]))
    p.save()
    return [str(n.measurements), "column 'day'", f"after patient '{pid}' was discharged on day "
            f"{n.trial['schedule'][1]} ({col})", "after_discharge = true"]


@case
def measurements_marker_all_below_lloq(n):
    t = Table(n.measurements)
    lines = t.lines(lambda r: r.get("lloq", "") != "")
    if not lines:
        pytest.skip("no LLOQ in this trial")
    marker = t.get(lines[0], "variable")
    lloq = t.get(lines[0], "lloq")
    for line in t.lines(lambda r: r["variable"] == marker):
        t.set(line, "value", "")
        t.set(line, "lloq", lloq)
    t.save()
    return [str(n.measurements), f"marker '{marker}'", "every value", "below its LLOQ", "cannot be modelled"]


@case
def measurements_missing_baseline(n):
    doc_vars = n.doc["variables"]
    var = next((k for k, v in doc_vars.items() if v.get("baseline_required")), None)
    if var is None:
        pytest.skip("no baseline_required variable")
    t = Table(n.measurements)
    line = t.find(variable=var, day=str(n.trial.get("baseline_day", 0)))
    pid = t.get(line, "patient_id")
    del t.rows[line - 1]
    t.save()
    return [str(n.patients), "column 'patient_id'", f"patient '{pid}' has no baseline"]


# --- plan.toml (the bundled plan of the trial, copied beside it) ------------------------------------------------
def _with_plan(n) -> Path:
    from longmod.resources import models_dir

    src = models_dir() / n.folder.name if (models_dir() / n.folder.name).is_dir() else models_dir() / SOURCE.name
    if not (src / "plan.toml").is_file():
        pytest.skip("the trial has no bundled plan")
    for f in src.glob("*.toml"):
        shutil.copy(f, n.folder / f.name)
    return n.folder / "plan.toml"


@case
def plan_invalid_toml(n):
    plan = _with_plan(n)
    plan.write_text("[plan\n" + plan.read_text())
    return [str(plan), "not valid TOML", "line 1"]


@case
def plan_unknown_outcome(n):
    plan = _with_plan(n)
    text = plan.read_text()
    plan.write_text(text.replace(f'outcome = "{n.outcome}"', 'outcome = "no_such_outcome"', 1))
    return [str(plan), "outcome 'no_such_outcome' is not measured", "measured:"]


@case
def plan_spec_file_missing(n):
    plan = _with_plan(n)
    text = plan.read_text()
    m = re.search(r'spec = "([^"]+)"', text)
    (n.folder / m.group(1)).unlink()
    return [str(plan), m.group(1), "ONLY=" + re.findall(r'name = "([^"]+)"', text[:m.start()])[-1]]


# --- the command line -------------------------------------------------------------------------------------------
@case
def out_is_a_file(n):
    n.folder.joinpath("..", "out").resolve().write_text("not a folder")
    return ["--out", "existing file, not a folder", "KEEP_OUT"]


@case
def out_under_a_file(n):
    n.folder.joinpath("..", "blocker").resolve().write_text("x")
    return ["--out", "is a file, so the folder cannot be created", "OUT=blocker/out"]


@case
def unknown_analysis(n):
    return ["unknown analysis name(s) nonsense_analysis", "the plan declares", "ONLY=nonsense_analysis"]


# ---------------------------------------------------------------------------------------------------------------
def _digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, capsys):
    folder = tmp_path / "trial"
    shutil.copytree(SOURCE, folder, ignore=shutil.ignore_patterns("*.R", "*.json", "*.md", "targets.toml"))
    n = Names(folder, tomllib.loads((folder / "trial.toml").read_text(encoding="utf-8")))
    expect = CASES[name](n)
    flags = [e for e in expect if e.isupper() or e.startswith(("OUT=", "ONLY="))]
    expect = [e for e in expect if e not in flags]
    out = tmp_path / next((f[4:] for f in flags if f.startswith("OUT=")), "out")
    only = next((f[5:] for f in flags if f.startswith("ONLY=")), "primary_ancova")
    before = _digest(tmp_path)
    code = main(["reanalyse", str(folder), "--out", str(out), "--quiet", "--only", only])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("longmod: error: "), err
    for e in expect:
        assert e in err, f"{e!r} not in:\n{err}"
    if "ONE PROBLEM" in flags:
        assert "1 problem(s)" in err, err
    assert len(err) < 4000, "a flood of messages"
    assert _digest(tmp_path) == before, "an input file changed or an output was written"
    if "KEEP_OUT" not in flags:
        assert not out.exists()
    assert not [p for p in tmp_path.rglob(".*")], "a hidden (temporary) folder was left behind"


# ---------------------------------------------------------------------------------------------------------------
# longmod fit
SPEC = ('[model]\nname = "m"\noutcome = "y"\nfixed = "arm + x"\nsubject = "id"\nengine = "ancova"\n'
        '[model.treatment]\nvariable = "arm"\nreference = "control"\nactive = "drug"\n')


def _fit_data(rows=20, y=None):
    lines = ["id,arm,x,y"]
    for i in range(rows):
        lines.append(f"p{i},{'drug' if i % 2 else 'control'},{(i * 7 % 5) / 3:.3f},{y if y is not None else i * 1.3 % 4:.2f}")
    return "\n".join(lines) + "\n"


FIT_CASES = {
    "fit_one_subject": (SPEC, "id,arm,x,y\np1,drug,0.5,2.0\n", ["data.csv", "the outcome is constant"]),
    "fit_one_per_arm": (SPEC, "id,arm,x,y\np1,drug,0.5,2.0\np2,control,0.1,1.0\n",
                        ["data.csv", "column 'arm'", "fewer than 2 subjects", "drug 1"]),
    "fit_constant_outcome": (SPEC, _fit_data(y=3.0), ["data.csv", "column 'y'", "the outcome is constant"]),
    "fit_treatment_key_typo": (SPEC.replace("reference =", "refrence ="), _fit_data(),
                               ["spec.toml", "unknown key(s) refrence", "valid keys: variable, reference, active"]),
    "fit_treatment_level_absent": (SPEC.replace('active = "drug"', 'active = "Drug"'), _fit_data(),
                                   ["data.csv", "column 'arm'", "active = 'Drug' does not occur", "control, drug"]),
    "fit_outcome_column_missing": (SPEC.replace('outcome = "y"', 'outcome = "fev1"'), _fit_data(),
                                   ["data.csv", "column 'fev1'", "outcome column is not in the data",
                                    "columns present: id, arm, x, y"]),
    "fit_nan_string_outcome": (SPEC, _fit_data().replace(",0.00\n", ",NaN\n", 1),
                               ["data.csv", "column 'y'", "not a number: 'NaN'", "line "]),
    "fit_empty_data": (SPEC, "", ["data.csv", "the file is empty"]),
    "fit_semicolon_data": (SPEC, _fit_data().replace(",", ";"), ["data.csv", "delimited by semicolons"]),
    "fit_spec_invalid_toml": ("[model\nname = 1\n", _fit_data(), ["spec.toml"]),
}


@pytest.mark.parametrize("name", list(FIT_CASES))
def test_bad_fit_input(name, tmp_path, capsys):
    spec, data, expect = FIT_CASES[name]
    (tmp_path / "spec.toml").write_text(spec)
    (tmp_path / "data.csv").write_text(data)
    before = _digest(tmp_path)
    out = tmp_path / "out"
    code = main(["fit", str(tmp_path / "spec.toml"), "--data", str(tmp_path / "data.csv"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("longmod: error: "), err
    for e in expect:
        assert e in err, f"{e!r} not in:\n{err}"
    assert _digest(tmp_path) == before and not out.exists()
    assert not [p for p in tmp_path.rglob(".*")]


def test_the_catalogue_is_large_enough():
    assert len(CASES) + len(FIT_CASES) >= 40

