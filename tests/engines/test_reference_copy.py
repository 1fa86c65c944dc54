"""The SAS reference files kept in tests/reference/mmrm are the external folder's, byte for byte."""

from __future__ import annotations

import pytest

from .conftest import MMRM_REF, SHARED_MMRM


@pytest.mark.parametrize("name", ["fev_data.csv", "sas_reference.yaml"])
def test_copy_equals_the_shared_reference(name):
    if not (SHARED_MMRM / name).is_file():
        pytest.skip(f"external reference folder not found at {SHARED_MMRM}; the kept copy is used as is")
    assert (MMRM_REF / name).read_bytes() == (SHARED_MMRM / name).read_bytes()
