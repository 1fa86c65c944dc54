"""docs/r_to_longmod.md: its executed blocks run, and longmod agrees with the stored R output.

The page's ``python exec="on"`` blocks are run here in order (as markdown-exec runs them at
build time, one session). Every "max relative difference" line the page prints must be within
1e-6 (lme4/lmerTest/pbkrtest/emmeans: both sides converge tightly, see
tests/api/test_contrasts_vs_emmeans.py), except the nlme::gls unstructured MMRM (gls stops on
its flat REML surface a little above the optimum): coefficients within 1e-4 SE, -2 log L 1e-4
relative (tests/engines/test_vs_r.py allows 1e-4 absolute on coefficients, 1e-8 on -2 log L;
measured here 3e-5 SE and 7e-11). The R numbers are those of
tests/reference/r_to_longmod/r_to_longmod.R (its .txt and .json beside it).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "r_to_longmod.md"
BLOCK = re.compile(r"```python exec=\"on\"[^\n]*\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def page_output():
    ns: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for code in BLOCK.findall(PAGE.read_text()):
            exec(compile(code, str(PAGE), "exec"), ns)  # noqa: S102 - the page's own code
    return out.getvalue()


def test_every_printed_agreement_is_within_tolerance(page_output):
    lines = [ln for ln in page_output.splitlines() if " max " in ln and "difference" in ln]
    assert len(lines) == 18
    for ln in lines:
        value = float(ln.rsplit(" ", 1)[1])
        assert value <= (1e-4 if "(vs gls)" in ln else 1e-6), ln


def test_the_r_text_and_json_come_from_one_run():
    txt = (ROOT / "tests" / "reference" / "r_to_longmod" / "r_to_longmod.txt").read_text()
    ref = json.loads((ROOT / "tests" / "reference" / "r_to_longmod" / "r_to_longmod.json").read_text())
    for name in ("lmer", "lmer_kr", "emmeans", "contrast", "average", "gls"):
        assert f"## {name}\n" in txt
    # the printed (rounded) numbers are the JSON's
    assert f"{ref['lmer']['estimate'][1]:.5f}" in txt and f"{ref['gls']['estimate'][4]:.7f}" in txt
