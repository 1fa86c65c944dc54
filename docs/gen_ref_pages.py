"""Generate the API reference pages (run by mkdocs-gen-files at build time).

One page per public module of ``longmod``; each page is rendered by
mkdocstrings from the module's numpydoc docstrings. The module list is read
from the package itself, so new modules appear without editing this file.
Private modules (leading underscore) and the CLI entry point are left out.
"""

from __future__ import annotations

from pathlib import Path

import mkdocs_gen_files

import longmod

SKIP_PREFIXES = ("longmod._", "longmod.cli")


def public_modules() -> list[str]:
    """Dotted names of the public modules, found on disk (nothing is imported)."""
    root = Path(longmod.__file__).parent
    names = []
    for py in sorted(root.rglob("*.py")):
        rel = py.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if any(p.startswith("_") for p in parts[1:]) or name.startswith(SKIP_PREFIXES):
            continue
        names.append(name)
    return sorted(set(names))


modules = public_modules()
lines = ["# API reference", "",
         "Generated at build time from the numpydoc docstrings of every public module.", ""]
for name in modules:
    doc_path = Path("reference", *name.split(".")).with_suffix(".md")
    with mkdocs_gen_files.open(doc_path, "w") as fh:
        fh.write(f"# `{name}`\n\n::: {name}\n")
    lines.append(f"- [`{name}`]({Path(*name.split('.')).with_suffix('.md').as_posix()})")
with mkdocs_gen_files.open("reference/index.md", "w") as fh:
    fh.write("\n".join(lines) + "\n")
