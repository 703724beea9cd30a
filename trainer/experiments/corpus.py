"""Base embeddings of a data folder as seen by two terminals: a clean one and a degraded one.

The domain-shift experiment needs every sample twice, as captured by the clean terminal and by
the degraded one (:mod:`core.biometrics.degrade`), embedded by the base engines. Embedding is
the slow part (dlib and Resemblyzer), so each embedding is cached on disk by the bytes that were
analysed (:class:`kibalock_cli.eval_cache.AnalysisCache`): reruns only score and train.

Voice samples are utterances of ``clips_per_utterance`` digit clips of one speaker joined with
silence (a short spoken challenge: single digits are too short for a stable voice embedding),
drawn without replacement in a seeded order. Face samples are the photos. A sample the engine
refuses (no face found in a blurred photo, say) is left out of that terminal and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.biometrics.audio import join_clips
from core.biometrics.dataset import read_faces, read_voices
from core.biometrics.degrade import Condition, degrade_image, degrade_wav
from kibalock_cli.eval_cache import AnalysisCache
from schemas.model_catalog import Modality


@dataclass(frozen=True)
class MediaSample:
    """One sample of one person, before any terminal captured it."""

    sample_id: str
    user_id: str
    load: Callable[[], bytes]


@dataclass(frozen=True)
class Embedded:
    """One terminal's base embeddings of the samples it could analyse."""

    sample_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    vectors: NDArray[np.float32]
    refused: int  # samples the engine could not analyse under this condition


def face_samples(root: Path, *, max_users: int | None, min_photos: int) -> list[MediaSample]:
    """Photos of the first ``max_users`` identities (sorted) with at least ``min_photos``."""
    faces = {k: v for k, v in sorted(read_faces(root).items()) if len(v) >= min_photos}
    chosen = list(faces.items())[:max_users]
    return [
        MediaSample(sample_id=f"face/{path.name}", user_id=identity, load=path.read_bytes)
        for identity, photos in chosen
        for path in photos
    ]


def voice_samples(
    root: Path, *, max_users: int | None, clips_per_utterance: int, seed: int
) -> list[MediaSample]:
    """Utterances of joined digit clips, per speaker (sorted), in a seeded order."""
    rng = np.random.default_rng(seed)
    out: list[MediaSample] = []
    for speaker, digits in sorted(read_voices(root).items())[:max_users]:
        clips = [path for _, paths in sorted(digits.items()) for path in paths]
        order = rng.permutation(len(clips))
        for n, start in enumerate(
            range(0, len(clips) - clips_per_utterance + 1, clips_per_utterance)
        ):
            group = [clips[i] for i in order[start : start + clips_per_utterance]]
            out.append(
                MediaSample(
                    sample_id=f"voice/{speaker}/{n:03d}",
                    user_id=speaker,
                    load=joined(group),
                )
            )
    return out


def joined(paths: Sequence[Path]) -> Callable[[], bytes]:
    return lambda: join_clips([p.read_bytes() for p in paths])


class Analyser:
    """The base engine of one modality, loaded on first use (dlib and torch are slow to load)."""

    def __init__(self, modality: Modality, models_dir: Path | None = None) -> None:
        self.modality = modality
        self.models_dir = models_dir
        self._engine: Callable[[bytes], NDArray[np.float32] | None] | None = None

    def __call__(self, data: bytes) -> NDArray[np.float32] | None:
        if self._engine is None:
            self._engine = self._load()
        return self._engine(data)

    def _load(self) -> Callable[[bytes], NDArray[np.float32] | None]:
        if self.modality is Modality.FACE:
            from core.biometrics.face import FaceEngine

            face = FaceEngine(self.models_dir)
            return lambda data: _embedding(face.analyse(data).embedding)
        from core.biometrics.voice import VoiceEngine

        voice = VoiceEngine(self.models_dir)
        return lambda data: _embedding(voice.analyse(data).embedding)


def _embedding(vector: NDArray[np.floating] | None) -> NDArray[np.float32] | None:
    return None if vector is None else np.asarray(vector, dtype=np.float32)


def capture(
    samples: Sequence[MediaSample],
    cond: Condition,
    analyse: Analyser,
    cache: AnalysisCache,
    *,
    on_sample: Callable[[int, int], None] | None = None,
) -> Embedded:
    """Every sample as ``cond``'s terminal captures it, embedded (cached by the bytes)."""
    degrade = _image_degrader if analyse.modality is Modality.FACE else degrade_wav
    kind = f"{analyse.modality.value}-base"
    ids: list[str] = []
    users: list[str] = []
    rows: list[NDArray[np.float32]] = []
    refused = 0
    for i, sample in enumerate(samples):
        data = degrade(sample.load(), cond, sample.sample_id)
        vector = cache.get_or_compute(kind, data, partial(analyse, data))
        if vector is None:
            refused += 1
        else:
            ids.append(sample.sample_id)
            users.append(sample.user_id)
            rows.append(vector)
        if on_sample is not None:
            on_sample(i + 1, len(samples))
    width = rows[0].shape[0] if rows else 0
    return Embedded(
        sample_ids=tuple(ids),
        user_ids=tuple(users),
        vectors=np.stack(rows) if rows else np.zeros((0, width), np.float32),
        refused=refused,
    )


def _image_degrader(data: bytes, cond: Condition, key: str) -> bytes:
    return degrade_image(data, cond)  # image stages draw no noise: the key is not needed
