"""Golden samples for the canary sets, chosen from a data folder, and their seeding.

Faces: the last ``people`` identities (sorted) that have at least ``per_person`` photos, their
last photos; voices: every speaker, ``per_person`` utterances of four digits from the last
``CANARY_CLIPS`` recordings of each digit. The simulated users and tests take identities,
speakers and clips from the start, so the canary is made of samples they never use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.biometrics.dataset import CANARY_CLIPS, read_faces, read_voices
from core.objectstore import ObjectStore
from core.registry.canary import CanarySet, seed_canary
from core.signing import Signer

Sample = tuple[str, bytes, str]
BaseEmbedder = Callable[[bytes], NDArray[np.float32] | None]

_UTTERANCES = ("0123", "4567", "8901")


def golden_faces(data: Path, *, people: int = 4, per_person: int = 3) -> list[Sample]:
    by_identity = read_faces(data / "faces")
    chosen = sorted(i for i, photos in by_identity.items() if len(photos) >= per_person)[-people:]
    return [
        (identity, photo.read_bytes(), "image/jpeg")
        for identity in chosen
        for photo in by_identity[identity][-per_person:]
    ]


def golden_voices(data: Path, *, per_person: int = CANARY_CLIPS) -> list[Sample]:
    """Utterance ``k`` of a speaker: for each of its digits, the ``k``-th clip from the end."""
    from core.biometrics.audio import join_clips

    if not 0 < per_person <= min(CANARY_CLIPS, len(_UTTERANCES)):
        raise ValueError(f"per_person must be 1..{min(CANARY_CLIPS, len(_UTTERANCES))}")
    voices = read_voices(data / "voices")
    return [
        (
            speaker,
            join_clips([voices[speaker][int(d)][-1 - k].read_bytes() for d in digits]),
            "audio/wav",
        )
        for speaker in sorted(voices)
        for k, digits in enumerate(_UTTERANCES[:per_person])
    ]


async def seed_golden(
    objects: ObjectStore,
    model: str,
    samples: Sequence[Sample],
    embed: BaseEmbedder,
    *,
    base_version: str,
    signer: Signer,
) -> CanarySet:
    """Computes the base embeddings of ``samples`` with ``embed`` and uploads the canary set.

    A sample the base model cannot use (no face, no speech) is left out.
    """
    kept: list[Sample] = []
    vectors: list[NDArray[np.float32]] = []
    for sample in samples:
        vector = await asyncio.to_thread(embed, sample[1])
        if vector is not None:
            kept.append(sample)
            vectors.append(vector.reshape(-1))
    return await seed_canary(
        objects,
        model,
        base_version=base_version,
        samples=kept,
        base=np.stack(vectors).astype(np.float32),
        signer=signer,
    )
