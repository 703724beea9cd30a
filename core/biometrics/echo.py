"""Near-duplicate ("echo") detection: is a probe the same capture as one seen before?

Two captures of a person are never the same: the pose, the light, the words and the room
change, and the base embedding moves with them. A photo or recording replayed from a earlier
capture moves it far less, whatever its bytes: re-encoding, resizing, resampling or re-
photographing it keeps the embedding within a hair of the original. So a probe whose base
embedding is closer than ``threshold`` (cosine) to one of the user's enrolment samples or
recent probes is taken for a replay of it.

The default threshold comes from ``bench/pad.py`` (see its report): the highest cosine between
two *different* genuine captures of one person, with a margin, stays below it, while most
re-encoded and resized copies of a capture lie above it. Re-photographed copies (screen, print)
move the embedding further and are caught less often: this is not a liveness test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.biometrics.vectors import l2_normalise

DEFAULT_ECHO_COSINE = 0.99
# Per modality, as the decision policy carries it.
DEFAULT_ECHO_COSINES = {"face": DEFAULT_ECHO_COSINE, "voice": DEFAULT_ECHO_COSINE}


def nearest_cosine(probe: NDArray[np.floating[Any]], known: NDArray[np.floating[Any]]) -> float:
    """The highest cosine between ``probe`` (d,) and the rows of ``known`` (n, d); -1 if none."""
    if known.size == 0:
        return -1.0
    rows = l2_normalise(known.reshape(-1, probe.shape[-1]), np.float64)
    unit = l2_normalise(probe.reshape(-1), np.float64)
    return float(np.max(rows @ unit))


def is_echo(
    probe: NDArray[np.floating[Any]],
    known: NDArray[np.floating[Any]],
    threshold: float = DEFAULT_ECHO_COSINE,
) -> bool:
    """True when ``probe`` nearly duplicates one of ``known``: a replayed capture."""
    return nearest_cosine(probe, known) >= threshold
