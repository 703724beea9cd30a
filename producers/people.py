"""Simulated people from the shared data: chimeric users (a face identity + a voice speaker).

Enrolment uses clips 0–9 of each digit and the first three photos of an identity; attempts use
clips from 10 on and the remaining photos, so enrolment and verification never share a sample.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.biometrics.audio import join_clips

ENROL_PHOTOS = 3
ENROL_GROUPS = ("0123", "456", "789")  # three utterances covering all ten digits
FIRST_PROBE_CLIP = 10
CLIPS_PER_DIGIT = 50


@dataclass
class Person:
    user_id: str
    face_identity: str
    speaker: str
    photos: list[Path]
    voices_dir: Path
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
        image = cv2.imdecode(
            np.frombuffer(probes[k % len(probes)].read_bytes(), np.uint8), cv2.IMREAD_COLOR
        )
        # 70 distinct (crop, quality) pairs per photo before the bytes could repeat.
        capture = next(self._next_capture)
        shift, quality = capture % 7 + 1, 95 - (capture // 7) % 10
        ok, encoded = cv2.imencode(
            ".jpg", image[shift:, shift:], [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise ValueError(f"cannot re-encode {probes[k % len(probes)]}")
        return bytes(encoded)

    def say(self, digits: str, clip: int | None = None) -> bytes:
        """A recording of ``digits``, 400 ms apart; a clip index not used before unless given."""
        index = next(self._next_clip) if clip is None else clip
        if index >= CLIPS_PER_DIGIT:
            raise ValueError(f"{self.speaker} has no unused recordings left")
        clips = [(self.voices_dir / f"{d}_{self.speaker}_{index}.wav").read_bytes() for d in digits]
        return join_clips(clips, silence_ms=400)


def chimeric_people(data: Path, count: int, *, tag: str) -> list[Person]:
    """``count`` people: identities with enough photos (sorted) paired with speakers (sorted)."""
    by_identity: dict[str, list[Path]] = {}
    with (data / "faces" / "identities.csv").open() as handle:
        for row in csv.DictReader(handle):
            by_identity.setdefault(row["identity"], []).append(data / "faces" / row["file"])
    identities = sorted(i for i, photos in by_identity.items() if len(photos) > ENROL_PHOTOS)
    speakers = sorted({p.name.split("_")[1] for p in (data / "voices").glob("*_*_*.wav")})
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
            photos=sorted(by_identity[identity]),
            voices_dir=data / "voices",
        )
        for identity, speaker in zip(identities[:count], speakers[:count], strict=True)
    ]
