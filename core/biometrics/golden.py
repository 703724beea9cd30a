"""Golden samples for the canary sets, chosen from the shared data set, and their seeding.

Faces: the last ``people`` identities (sorted) that have at least ``per_person`` photos, their
last photos; voices: every speaker, ``per_person`` utterances of four digits from the last
recordings. The simulated users and tests take identities, speakers and clips from the start,
so the canary is made of samples they never use.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.objectstore import ObjectStore
from core.registry.canary import CanarySet, seed_canary
from core.signing import Signer

Sample = tuple[str, bytes, str]
BaseEmbedder = Callable[[bytes], NDArray[np.float32] | None]

_UTTERANCES = ("0123", "4567", "8901", "2345")
_LAST_CLIP = 49


def golden_faces(data: Path, *, people: int = 4, per_person: int = 3) -> list[Sample]:
    by_identity: dict[str, list[Path]] = {}
    with (data / "faces" / "identities.csv").open() as handle:
        for row in csv.DictReader(handle):
            by_identity.setdefault(row["identity"], []).append(data / "faces" / row["file"])
    chosen = sorted(i for i, photos in by_identity.items() if len(photos) >= per_person)[-people:]
    return [
        (identity, photo.read_bytes(), "image/jpeg")
        for identity in chosen
        for photo in sorted(by_identity[identity])[-per_person:]
    ]


def golden_voices(data: Path, *, per_person: int = 3) -> list[Sample]:
    from core.biometrics.audio import join_clips

    voices = data / "voices"
    speakers = sorted({p.name.split("_")[1] for p in voices.glob("*_*_*.wav")})
    return [
        (
            speaker,
            join_clips(
                [(voices / f"{d}_{speaker}_{_LAST_CLIP - k}.wav").read_bytes() for d in digits]
            ),
            "audio/wav",
        )
        for speaker in speakers
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
