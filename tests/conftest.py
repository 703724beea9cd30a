"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.biometrics.dataset import DEFAULT_DATA_DIR


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Real faces and voices: the project's ``tests/data``, or the folder ``KIBALOCK_TEST_DATA``
    names (a larger set with the same layout)."""
    path = Path(os.environ.get("KIBALOCK_TEST_DATA", DEFAULT_DATA_DIR))
    if not (path / "faces").is_dir() or not (path / "voices").is_dir():
        pytest.fail(f"test data not found at {path}: it needs faces/ and voices/")
    return path
