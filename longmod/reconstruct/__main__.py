"""``python -m longmod.reconstruct NAME [--seed N] [--out DIR]``: build a fixture."""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Build a fixture and print its target summary; exit 1 if a target cannot be met.

    Examples
    --------
    >>> main(["stroma_cov2", "--out", "/tmp/x"])  # doctest: +SKIP
    0
    """
    from longmod.reconstruct import CalibrationError, build_fixture

    p = argparse.ArgumentParser(prog="python -m longmod.reconstruct", description=__doc__)
    p.add_argument("name", help="a bundled fixture name or a folder with targets.toml and trial.toml")
    p.add_argument("--seed", type=int, default=None, help="default: [generator] seed of the targets file")
    p.add_argument("--out", default=None, help="output folder (default: the fixture folder)")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        res = build_fixture(a.name, seed=a.seed, out=a.out)
    except CalibrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    hard = res.report[~res.report["soft"]]
    print(f"SYNTHETIC fixture written to {res.folder} (seed {res.seed}, {res.attempts} attempt(s), "
          f"{time.perf_counter() - t0:.1f} s): {int(hard['passed'].sum())}/{len(hard)} targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
