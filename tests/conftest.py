"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The real faces and voices in ``../shared/data`` (or ``KIBALOCK_TEST_DATA``)."""
    return Path(os.environ.get("KIBALOCK_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "faces").is_dir() or not (path / "voices").is_dir():
        pytest.fail(
            f"test data not found at {path}: put the shared data set beside the project "
            "(../shared/data) or set KIBALOCK_TEST_DATA"
        )
    return path
