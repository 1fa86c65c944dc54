"""Regenerate longmod/published/<trial>.toml from the shared fact files.

Run from the repository root:  python tools/extract_published.py [--shared DIR] [trial ...]
Reads ../shared/published/<facts>.yaml (verbatim quotes checked there by validate.py, and again by
tests/published against the seed texts) and writes the subset of published results longmod shows
beside its reproductions. ``--shared`` (or the LONGMOD_SHARED environment variable) points at the
shared folder when it is not beside the repository. Needs PyYAML.

Every result row holds one arm's (or the comparison's) published numbers: ``estimate`` and
optionally ``sd``, ``q1``/``q3`` (IQR), ``conf_low``/``conf_high`` and ``p_value``. A between-arm
P value that the paper prints without an effect estimate sits on the active arm's row (the
``statistic`` text says so). ``day`` is the time point; for a time to event it is the end of
follow-up.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "longmod" / "published"
_KEYS = ("estimate", "conf_low", "conf_high", "p_value", "sd", "q1", "q3")


def _r(section, analysis, estimand, outcome, day, contrast, statistic, **facts):
    return dict(section=section, analysis=analysis, estimand=estimand, outcome=outcome, day=day, contrast=contrast,
                statistic=statistic, **facts)


STROMA = {
    "primary_ancova": _r("primary_endpoint", "primary_ancova", "primary", "pao2_fio2_change", 7, "uc_msc - placebo",
                         "adjusted mean difference", estimate="ancova_treatment_effect", conf_low="ancova_ci_low",
                         conf_high="ancova_ci_high", p_value="ancova_p_value"),
    "median_change_uc_msc": _r("primary_endpoint", "median_change", "primary", "pao2_fio2_change", 7, "uc_msc",
                               "median [IQR]", estimate="pf_change_median_uc_msc", q1="pf_change_iqr_low_uc_msc",
                               q3="pf_change_iqr_high_uc_msc"),
    "median_change_placebo": _r("primary_endpoint", "median_change", "primary", "pao2_fio2_change", 7, "placebo",
                                "median [IQR]", estimate="pf_change_median_placebo", q1="pf_change_iqr_low_placebo",
                                q3="pf_change_iqr_high_placebo"),
    "alive_d0_uc_msc": _r("pao2_fio2_subgroup", "alive_in_icu_mean", "observed_alive_in_icu", "pao2_fio2", 0, "uc_msc",
                          "mean ± SD", estimate="uc_msc_alive_d0_mean", sd="uc_msc_alive_d0_sd"),
    "alive_d7_uc_msc": _r("pao2_fio2_subgroup", "alive_in_icu_mean", "observed_alive_in_icu", "pao2_fio2", 7, "uc_msc",
                          "mean ± SD; P: exact Wilcoxon signed-rank D0 vs D7", estimate="uc_msc_alive_d7_mean",
                          sd="uc_msc_alive_d7_sd", p_value="uc_msc_alive_d0_vs_d7_p"),
    "alive_d0_placebo": _r("pao2_fio2_subgroup", "alive_in_icu_mean", "observed_alive_in_icu", "pao2_fio2", 0, "placebo",
                           "mean ± SD", estimate="placebo_d0_mean", sd="placebo_d0_sd"),
    "alive_d7_placebo": _r("pao2_fio2_subgroup", "alive_in_icu_mean", "observed_alive_in_icu", "pao2_fio2", 7, "placebo",
                           "mean ± SD", estimate="placebo_d7_mean", sd="placebo_d7_sd"),
    "post_imputation_d7_uc_msc": _r("pao2_fio2_subgroup", "post_imputation_mean", "primary", "pao2_fio2", 7, "uc_msc",
                                    "mean ± SD; P: Wilcoxon signed-rank D0 vs D7",
                                    estimate="uc_msc_post_imputation_d7_mean", sd="uc_msc_post_imputation_d7_sd",
                                    p_value="uc_msc_post_imputation_d0_vs_d7_p"),
}

_BETWEEN = "P: between arms, test not named"
MARTINEZ = {
    "pf_increase_bm_msc": _r("efficacy", "pf_increase_d7", "primary", "pao2_fio2_change", 7, "bm_msc",
                             "increase from D0 to D7 (mean or median: not stated)", estimate="pf_increase_d7_bm_msc"),
    "pf_increase_placebo": _r("efficacy", "pf_increase_d7", "primary", "pao2_fio2_change", 7, "placebo",
                              "increase from D0 to D7 (mean or median: not stated)", estimate="pf_increase_d7_placebo"),
    "who_improved_d7_bm_msc": _r("efficacy", "who_improvement_d7", "who_improvement_d7", "who_scale_improved", 7,
                                 "bm_msc", f"patients improved on the WHO scale at D7, n (50%); {_BETWEEN} "
                                 "(two-sided Fisher exact gives 0.0325)",
                                 estimate="who_scale_improvement_d7_bm_msc_n", p_value="who_scale_improvement_d7_p_value"),
    "who_improved_d7_placebo": _r("efficacy", "who_improvement_d7", "who_improvement_d7", "who_scale_improved", 7,
                                  "placebo", "patients improved on the WHO scale at D7, n (0%)",
                                  estimate="who_scale_improvement_d7_placebo_n"),
    "o2_stop_bm_msc": _r("efficacy", "time_to_o2_discontinuation", "time_to_o2_discontinuation", "o2_stop_day", 365,
                         "bm_msc", f"median time to discontinuation of supplemental oxygen, days; {_BETWEEN}",
                         estimate="time_to_o2_discontinuation_median_bm_msc",
                         p_value="time_to_o2_discontinuation_p_value"),
    "o2_stop_placebo": _r("efficacy", "time_to_o2_discontinuation", "time_to_o2_discontinuation", "o2_stop_day", 365,
                          "placebo", "median time to discontinuation of supplemental oxygen, days",
                          estimate="time_to_o2_discontinuation_median_placebo"),
    "hospital_stay_bm_msc": _r("efficacy", "hospital_stay", "hospital_stay", "hospital_discharge_day", 365, "bm_msc",
                               f"hospital stay, days (summary not stated; read as a median); {_BETWEEN}",
                               estimate="hospital_stay_bm_msc", p_value="hospital_stay_p_value"),
    "hospital_stay_placebo": _r("efficacy", "hospital_stay", "hospital_stay", "hospital_discharge_day", 365, "placebo",
                                "hospital stay, days (summary not stated; read as a median)",
                                estimate="hospital_stay_placebo"),
}

_PAIRED = "P: between groups, 'paired statistical tests' (test not named)"
GREGOIRE = {
    "survival_d28_bm_msc": _r("outcomes", "survival", "survival", "alive", 28, "bm_msc",
                              f"survival at D28, % alive; {_PAIRED}", estimate="survival_d28_msc_pct",
                              p_value="survival_d28_p_value"),
    "survival_d28_matched_control": _r("outcomes", "survival", "survival", "alive", 28, "matched_control",
                                       "survival at D28, % alive", estimate="survival_d28_control_pct"),
    "survival_d60_bm_msc": _r("outcomes", "survival", "survival", "alive", 60, "bm_msc",
                              f"survival at D60, % alive; {_PAIRED}", estimate="survival_d60_msc_pct",
                              p_value="survival_d60_p_value"),
    "survival_d60_matched_control": _r("outcomes", "survival", "survival", "alive", 60, "matched_control",
                                       "survival at D60, % alive", estimate="survival_d60_control_pct"),
    "d_dimer_d7_bm_msc": _r("outcomes", "d_dimer_d7", "d_dimer_d7", "d_dimer", 7, "bm_msc",
                            f"median [IQR], µg/L; {_PAIRED}", estimate="d7_ddimer_median_msc",
                            q1="d7_ddimer_iqr_low_msc", q3="d7_ddimer_iqr_high_msc", p_value="d7_ddimer_p_value"),
    "d_dimer_d7_matched_control": _r("outcomes", "d_dimer_d7", "d_dimer_d7", "d_dimer", 7, "matched_control",
                                     "median [IQR], µg/L", estimate="d7_ddimer_median_control",
                                     q1="d7_ddimer_iqr_low_control", q3="d7_ddimer_iqr_high_control"),
}

#: trial file stem -> (display name, shared fact file, trial name, default citation, results)
TRIALS = {
    "stroma_cov2": ("STROMA-CoV-2 (Monsel et al., Crit Care 2022;26:48)", "stroma_cov2_monsel2022.yaml", "stroma-cov2",
                    "Monsel A, et al. Crit Care. 2022;26:48", STROMA),
    "martinez_munoz_2024": ("Martínez-Muñoz et al. (Bone Marrow Transplant 2024), abstract",
                            "martinez_munoz2024_bm_msc_rct.yaml", "martinez-munoz-2024",
                            "Martinez-Munoz ME, et al. Bone Marrow Transplant. 2024", MARTINEZ),
    "gregoire_2022": ("Grégoire et al. (Front Immunol 2022;13:932360), abstract", "gregoire2022_bm_msc_phase1_2.yaml",
                      "gregoire-2022", "Gregoire C, et al. Front Immunol. 2022;13:932360", GREGOIRE),
}


def render(stem: str, doc: dict) -> str:
    """The TOML text of one trial's published results."""
    title, facts_file, name, default_citation, results = TRIALS[stem]
    src = doc.get("source")
    citation = src["citation"] if isinstance(src, dict) and "citation" in src else default_citation
    lines = [
        f"# Published results of {title}.",
        f"# GENERATED by tools/extract_published.py from ../shared/published/{facts_file};",
        "# quotes are verbatim from the paper (U+2212 minus signs and thin spaces kept). Do not edit by hand.",
        "",
        "[trial]",
        f'name = "{name}"',
        f"citation = {json.dumps(citation)}",
        "",
    ]
    for rid, r in results.items():
        sec = doc[r["section"]]
        facts = {k: sec[r[k]] for k in _KEYS if k in r}
        quotes = []
        for f in facts.values():
            if f["quote"] not in quotes:
                quotes.append(f["quote"])
        quotes = [q for q in quotes if not any(q != o and q in o for o in quotes)]
        lines.append(f"[results.{rid}]")
        for k in ("analysis", "estimand", "outcome", "contrast", "statistic"):
            lines.append(f"{k} = {json.dumps(r[k], ensure_ascii=False)}")
        lines.append(f"day = {r['day']}")
        lines.append(f"population = {json.dumps(facts['estimate']['population'])}")
        for k, f in facts.items():
            lines.append(f"{k} = {f['value']}")
        lines.append(f"quote = {json.dumps(' … '.join(quotes), ensure_ascii=False)}")
        lines.append(f"fact_keys = {json.dumps([r['section'] + '.' + r[k] for k in facts])}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trials", nargs="*", default=list(TRIALS), help=f"default: all ({', '.join(TRIALS)})")
    p.add_argument("--shared", default=os.environ.get("LONGMOD_SHARED", str(ROOT.parent / "shared")))
    a = p.parse_args(argv)
    for stem in a.trials:
        src = Path(a.shared) / "published" / TRIALS[stem][1]
        out = OUT / f"{stem}.toml"
        out.write_text(render(stem, yaml.safe_load(src.read_text(encoding="utf-8"))), encoding="utf-8")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
