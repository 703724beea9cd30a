"""Simulated people from the shared data: chimeric users (a face identity + a voice speaker).

Enrolment uses the first ten recordings of each digit and the first three photos of an
identity; attempts use the later recordings and the remaining photos, so enrolment and
verification never share a sample. "First" is the data set's order
(:mod:`core.biometrics.dataset`: photos in natural file order, recordings by index).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.biometrics.audio import join_clips
from core.biometrics.dataset import read_faces, read_voices

ENROL_PHOTOS = 3
ENROL_GROUPS = ("0123", "456", "789")  # three utterances covering all ten digits
FIRST_PROBE_CLIP = 10


@dataclass
class Person:
    user_id: str
    face_identity: str
    speaker: str
    photos: list[Path]
    clips: dict[int, list[Path]]  # digit -> this speaker's recordings in index order
    _next_clip: itertools.count[int] = field(
        default_factory=lambda: itertools.count(FIRST_PROBE_CLIP)
    )
    _next_capture: itertools.count[int] = field(default_factory=itertools.count)

    def enrol_photos(self) -> list[bytes]:
        return [p.read_bytes() for p in self.photos[:ENROL_PHOTOS]]

    def enrol_utterances(self) -> list[bytes]:
        return [self.say(group, clip=i) for i, group in enumerate(ENROL_GROUPS)]

    def probe_photo(self, k: int = 0) -> bytes:
        """A new capture of probe photo ``k``: a camera never delivers the same bytes twice,
        and the gateway rejects byte-identical media as a replay."""
        probes = self.photos[ENROL_PHOTOS:]
        probe = probes[k % len(probes)]
        image = cv2.imdecode(np.frombuffer(probe.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode {probe}")
        # 70 distinct (crop, quality) pairs per photo before the bytes could repeat.
        capture = next(self._next_capture)
        shift, quality = capture % 7 + 1, 95 - (capture // 7) % 10
        ok, encoded = cv2.imencode(
            ".jpg", image[shift:, shift:], [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise ValueError(f"cannot re-encode {probe}")
        return bytes(encoded)

    def say(self, digits: str, clip: int | None = None) -> bytes:
        """A recording of ``digits``, 400 ms apart; a clip index not used before unless given."""
        index = next(self._next_clip) if clip is None else clip
        if any(index >= len(self.clips.get(int(d), [])) for d in digits):
            raise ValueError(f"{self.speaker} has no unused recordings left")
        return join_clips([self.clips[int(d)][index].read_bytes() for d in digits], silence_ms=400)


def chimeric_people(data: Path, count: int, *, tag: str) -> list[Person]:
    """``count`` people: identities with enough photos (sorted) paired with speakers (sorted)."""
    faces, voices = read_faces(data), read_voices(data)
    identities = sorted(i for i, photos in faces.items() if len(photos) > ENROL_PHOTOS)
    speakers = sorted(voices)
    if count > min(len(identities), len(speakers)):
        raise ValueError(
            f"the data has {len(identities)} usable identities and {len(speakers)} speakers; "
            f"{count} distinct people cannot be formed"
        )
    return [
        Person(
            user_id=f"{identity}-{speaker}-{tag}",
            face_identity=identity,
            speaker=speaker,
            photos=faces[identity],
            clips=voices[speaker],
        )
        for identity, speaker in zip(identities[:count], speakers[:count], strict=True)
    ]
