"""Reference pages of the input formats, generated from the code that reads them.

The docs' "Plan format" and "trial.toml format" pages print these at build
time, so a new analysis kind, option or key appears there without a docs edit
and the pages cannot drift from what the loaders accept.
"""

from __future__ import annotations

from longmod.data.trial_toml import SCHEMA
from longmod.pipeline.registry import COMMON_OPTIONS, KINDS, Option
from longmod.spec.estimand import (
    DEATH_STRATEGIES, DISCHARGE_STRATEGIES, DOSING_STRATEGIES, OTHER_MISSING_STRATEGIES, POPULATIONS,
)
from longmod.spec.plan import PLAN_KEYS


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _options_table(options: tuple[Option, ...]) -> list[str]:
    rows = ["| key | type | required | default | meaning | example |", "|---|---|---|---|---|---|"]
    for o in options:
        rows.append(f"| `{o.name}` | {o.type} | {'yes' if o.required else 'no'} | {_cell(o.default) or '-'} | "
                    f"{_cell(o.doc)} | `{_cell(o.example)}` |" if o.example else
                    f"| `{o.name}` | {o.type} | {'yes' if o.required else 'no'} | {_cell(o.default) or '-'} | "
                    f"{_cell(o.doc)} | |")
    return rows


def plan_reference_markdown() -> str:
    """Markdown reference of ``plan.toml``: the ``[plan]`` keys, estimands and every analysis kind's options.

    Examples
    --------
    >>> text = plan_reference_markdown()
    >>> all(f"### `{k}`" in text for k in KINDS)
    True
    """
    lines = ["## `[plan]`", "", "| key | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {_cell(v)} |" for k, v in PLAN_KEYS.items()]
    lines += ["", "Every key is optional. The treatment comparison is not part of the plan: it comes from "
              "trial.toml (`arms`, `reference_arm`; every active arm is compared with the reference).", "",
              "## `[estimands.<name>]`", "",
              "| key | type | default | values |", "|---|---|---|---|",
              "| `outcome` | str | required | a measured variable (`[variables.*]` of trial.toml) |",
              "| `day` | int | required | a scheduled day after the baseline |",
              "| `baseline_day` | int | the trial's `baseline_day` | a scheduled day |",
              f"| `population` | str | `mitt` | {', '.join(f'`{p}`' for p in POPULATIONS)} |",
              f"| `death` | str or table | `hypothetical` | {', '.join(f'`{s}`' for s in DEATH_STRATEGIES)} "
              "(applies to events of kind `death`) |",
              f"| `discharge` | str or table | `hypothetical` | {', '.join(f'`{s}`' for s in DISCHARGE_STRATEGIES)} "
              "(applies to events of kind `discharge`) |",
              f"| `incomplete_dosing` | str | `treatment_policy` | {', '.join(f'`{s}`' for s in DOSING_STRATEGIES)} |",
              f"| `other_missing` | str | `exclude` | {', '.join(f'`{s}`' for s in OTHER_MISSING_STRATEGIES)} |",
              "| `summary` | str | difference in mean change ... | shown in reports |",
              "| `label` | str | the description | shown in reports |",
              "", "A strategy with a parameter is a table: `death = { strategy = \"composite\", value = 0 }` (the "
              "value in the outcome's units; required), `discharge = { strategy = \"locf_multiplier\", factor = "
              "1.10 }` or `{ strategy = \"locf_plus_baseline_fraction\", factor = 0.10 }` (required).", "",
              "## `[[analyses]]`", "", "Keys of every analysis:", ""]
    lines += _options_table(COMMON_OPTIONS)
    lines += ["", "## Analysis kinds", ""]
    for k in KINDS.values():
        lines += [f"### `{k.name}`", "", k.summary, "",
                  f"Estimand: {'required' if k.estimand == 'required' else ('optional' if k.estimand == 'optional' else 'none (not allowed)')}."
                  + (" Sampled (the `--chains`, `--draws`, `--tune`, `--seed` overrides apply)." if k.sampled else ""),
                  ""]
        lines += _options_table(k.options) if k.options else ["No options besides the common keys."]
        lines.append("")
    return "\n".join(lines)


def trial_reference_markdown() -> str:
    """Markdown reference of ``trial.toml`` (version 2): every table and key, from :data:`~longmod.data.trial_toml.SCHEMA`.

    Examples
    --------
    >>> "[covariates.<name>]" in trial_reference_markdown()
    True
    """
    lines = []
    for table, keys in SCHEMA.items():
        lines += [f"## `[{table}]`", "", "| key | type | required | default | meaning | example |",
                  "|---|---|---|---|---|---|"]
        for k in keys:
            default = "-" if k.default is None or k.required else f"`{k.default!r}`".replace("'", '"')
            lines.append(f"| `{k.name}` | {k.type} | {'yes' if k.required else 'no'} | {default} | {_cell(k.doc)} | "
                         f"`{_cell(k.example)}` |")
        lines.append("")
    return "\n".join(lines)
