"""Locate the bundled ``models/`` and ``fixtures/`` folders.

In a wheel they are package data under ``longmod/_bundled``; in a source
checkout (editable install) they are the top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _bundled(name: str) -> Path:
    for candidate in (_PKG / "_bundled" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"longmod's bundled '{name}/' folder was not found (looked in {_PKG / '_bundled' / name} "
        f"and {_PKG.parent / name}); reinstall longmod"
    )


def models_dir() -> Path:
    """Folder of the declarative model specs shipped with longmod.

    Examples
    --------
    >>> from longmod.resources import models_dir
    >>> (models_dir() / "stroma_cov2").is_dir()
    True
    """
    return _bundled("models")


def fixtures_dir() -> Path:
    """Folder of the bundled (synthetic) trial fixtures.

    Examples
    --------
    >>> from longmod.resources import fixtures_dir
    >>> (fixtures_dir() / "stroma_cov2").is_dir()
    True
    """
    return _bundled("fixtures")


def trial_names() -> list[str]:
    """Names of the bundled trials, as accepted by ``longmod reanalyse``: fixtures with a trial.toml and
    bundled plans of published summaries (``models/<name>/plan.toml`` without patient data, e.g. msc-meta).

    Examples
    --------
    >>> "msc-meta" in trial_names() and "stroma-cov2" in trial_names()
    True
    """
    names = {p.name for p in fixtures_dir().iterdir() if (p / "trial.toml").exists()}
    for p in models_dir().iterdir():
        plan = p / "plan.toml"
        if p.name not in names and plan.is_file():
            import tomllib

            if tomllib.loads(plan.read_text(encoding="utf-8")).get("plan", {}).get("data") == "published summaries":
                names.add(p.name)
    return sorted(n.replace("_", "-") for n in names)
