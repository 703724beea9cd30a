"""Golden samples for the canary sets, chosen from a data folder.

Faces: the last ``people`` identities (sorted) that have at least ``per_person`` photos, their
last photos; voices: every speaker, ``per_person`` utterances of four digits, utterance ``k``
made of the ``k``-th clip from the end of each digit (within the last ``CANARY_CLIPS``). The
simulated users and tests take identities, speakers and clips from the start, so the canary is
made of samples they never use. Both read the data set with
:mod:`core.biometrics.dataset`, so "first" and "last" mean the same order everywhere.
"""

from __future__ import annotations

from pathlib import Path

from core.biometrics.audio import join_clips
from core.biometrics.dataset import CANARY_CLIPS, read_faces, read_voices

GoldenSample = tuple[str, bytes, str]
"""(identity label, media bytes, content type)."""

_UTTERANCES = ("0123", "4567", "8901")


def golden_faces(data: Path, *, people: int = 4, per_person: int = 3) -> list[GoldenSample]:
    faces = read_faces(data)
    chosen = sorted(i for i, photos in faces.items() if len(photos) >= per_person)[-people:]
    return [
        (identity, photo.read_bytes(), "image/jpeg")
        for identity in chosen
        for photo in faces[identity][-per_person:]
    ]


def golden_voices(data: Path, *, per_person: int = CANARY_CLIPS) -> list[GoldenSample]:
    if not 0 < per_person <= min(CANARY_CLIPS, len(_UTTERANCES)):
        raise ValueError(f"per_person must be 1..{min(CANARY_CLIPS, len(_UTTERANCES))}")
    voices = read_voices(data)
    return [
        (speaker, join_clips([clips[int(d)][-1 - k].read_bytes() for d in digits]), "audio/wav")
        for speaker, clips in sorted(voices.items())
        for k, digits in enumerate(_UTTERANCES[:per_person])
    ]
