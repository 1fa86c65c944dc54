"""Run a Python snippet in a fresh process (no PyTensor/numba state) and read its result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_fresh(script: str, cache: str, **env: str) -> dict:
    """Run ``script`` with ``LONGMOD_CACHE=cache``, no inherited ``PYTENSOR_FLAGS``, and ``env``.

    The script prints one line ``RESULT <json>``; its JSON is returned.
    """
    full = {k: v for k, v in os.environ.items() if k != "PYTENSOR_FLAGS"}
    full.update(LONGMOD_CACHE=cache, PYTHONPATH=str(ROOT), **env)
    out = subprocess.run([sys.executable, "-c", script], env=full, cwd=ROOT, capture_output=True, text=True,
                         timeout=900, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])
