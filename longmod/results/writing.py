"""Write output folders whole or not at all (see :mod:`longmod.outputs`)."""

from longmod.outputs import atomic_output_dir, check_writable

__all__ = ["atomic_output_dir", "check_writable"]
