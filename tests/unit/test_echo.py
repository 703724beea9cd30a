"""The near-duplicate (echo) check on its own."""

from __future__ import annotations

import numpy as np
import pytest

from core.biometrics.echo import DEFAULT_ECHO_COSINE, is_echo, nearest_cosine

RNG = np.random.default_rng(3)


def test_the_nearest_known_capture_gives_the_cosine() -> None:
    known = RNG.standard_normal((4, 16)).astype(np.float32)
    probe = known[2] * 3.0  # length does not matter, direction does
    assert nearest_cosine(probe, known) == pytest.approx(1.0)
    assert nearest_cosine(-known[0], known[:1]) == pytest.approx(-1.0)


def test_no_known_capture_is_never_an_echo() -> None:
    probe = RNG.standard_normal(16)
    assert nearest_cosine(probe, np.zeros((0, 16))) == -1.0
    assert not is_echo(probe, np.zeros((0, 16)))


def test_a_slightly_moved_copy_is_an_echo_and_another_capture_is_not() -> None:
    known = RNG.standard_normal((3, 128))
    copy = known[1] + 0.02 * RNG.standard_normal(128)  # cosine ~0.9998
    other = known[1] + 0.5 * RNG.standard_normal(128)  # cosine ~0.9
    assert is_echo(copy, known)
    assert not is_echo(other, known)
    assert nearest_cosine(other, known) < DEFAULT_ECHO_COSINE


def test_the_threshold_is_inclusive() -> None:
    known = np.array([[1.0, 0.0]])
    angle = np.arccos(0.95)
    probe = np.array([np.cos(angle), np.sin(angle)])
    assert is_echo(probe, known, threshold=0.95 - 1e-9)
    assert not is_echo(probe, known, threshold=0.95 + 1e-9)
