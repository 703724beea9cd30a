"""Near-duplicate ("echo") detection: is a probe the same capture as one seen before?

Two captures of a person are never the same: the pose, the light, the words and the room
change, and the base embedding moves with them. A photo replayed from an earlier capture moves
it far less, whatever its bytes: re-encoding or resizing it keeps the face embedding within a
hair of the original. So a probe whose base embedding's cosine to one of the user's enrolment
samples or recent accepted probes reaches the threshold is taken for a replay of it.

The threshold, 0.99 for both modalities, comes from ``bench/pad.py`` (cosine of each capture
to the closest *other* capture of the same person = bona fide; to the capture it was made from
= attack). Faces: the closest genuine pair is 0.986 on tests/data (48 photos, BPCER 0/48) and
0.9987 on data-large (858 photos, BPCER 21/858 = 2.4 % [1.5, 3.7]); the pairs above 0.99
there are the data set's own duplicates (one press photo cropped twice, burst shots). JPEG
re-encodes are caught (APCER 0.7 % on data-large), resized crops mostly (14 %), screen and
print re-photographs often not (56 %, 73 %). Voices: the closest genuine pair is 0.948
(tests/data) and 0.980 (data-large), but the embedding moves a lot under any resampling,
lossy coding, noise or a time shift (APCER 94-100 %): the echo check catches only
sample-exact copies (a WAV re-encoded losslessly); the spoken challenge is what refuses a
replayed recording. This is not a liveness test.
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
