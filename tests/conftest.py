from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CALMFLOW_SC_NO_DOWNLOAD", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real datasets; tests that need them skip where they are absent."""
    value = os.environ.get("CALMFLOW_SC_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("CALMFLOW_SC_DATA_DIR does not point at the shared datasets")
    return Path(value)
