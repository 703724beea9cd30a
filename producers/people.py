"""Simulated people from a data folder: chimeric users (a face identity + a voice speaker).

Enrolment uses the first three photos of an identity and the speaker's first clip of every digit;
attempts use the remaining photos and clips, so enrolment and verification never share a
sample. The last clips of each digit are the canary's (``CANARY_CLIPS``) and are never said.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.biometrics.audio import SAMPLE_RATE, decode_audio, encode_wav, join_clips
from core.biometrics.dataset import CANARY_CLIPS, read_faces, read_voices

ENROL_PHOTOS = 3
ENROL_GROUPS = ("0123", "456", "789")  # three utterances covering all ten digits
PAUSE_MS = 400
RETAKE_TAIL_MS = 20


@dataclass
class Person:
    user_id: str
    face_identity: str
    speaker: str
    photos: list[Path]
    clips: dict[int, list[Path]]  # digit -> the speaker's clips, in index order
    _uses: defaultdict[int, itertools.count[int]] = field(
        default_factory=lambda: defaultdict(itertools.count)
    )
    _takes: Counter[tuple[Path, ...]] = field(default_factory=Counter)
    _next_capture: itertools.count[int] = field(default_factory=itertools.count)

    def enrol_photos(self) -> list[bytes]:
        return [p.read_bytes() for p in self.photos[:ENROL_PHOTOS]]

    def enrol_utterances(self) -> list[bytes]:
        return [
            join_clips([self.clips[int(d)][0].read_bytes() for d in group], silence_ms=PAUSE_MS)
            for group in ENROL_GROUPS
        ]

    def probe_photo(self, k: int = 0) -> bytes:
        """A new capture of probe photo ``k``: a camera never delivers the same bytes twice,
        and the gateway rejects byte-identical media as a replay."""
        probes = self.photos[ENROL_PHOTOS:]
        photo = probes[k % len(probes)]
        image = cv2.imdecode(np.frombuffer(photo.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode {photo}")
        # 70 distinct (crop, quality) pairs per photo before the bytes could repeat.
        capture = next(self._next_capture)
        shift, quality = capture % 7 + 1, 95 - (capture // 7) % 10
        ok, encoded = cv2.imencode(
            ".jpg", image[shift:, shift:], [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise ValueError(f"cannot re-encode {photo}")
        return bytes(encoded)

    def say(self, digits: str) -> bytes:
        """A new recording of ``digits``: the next probe clip of each digit, 400 ms apart.

        A small data set has few clips per digit, so they are said again once all were used. A
        retake of the same clips ends with a little more silence, so its bytes differ: the
        gateway rejects byte-identical media as a replay.
        """
        clips = tuple(self._probe_clip(int(d)) for d in digits)
        take = self._takes[clips]
        self._takes[clips] += 1
        recording = join_clips([c.read_bytes() for c in clips], silence_ms=PAUSE_MS)
        if not take:
            return recording
        tail = np.zeros(SAMPLE_RATE * RETAKE_TAIL_MS * take // 1000, dtype=np.float32)
        return encode_wav(np.concatenate([decode_audio(recording), tail]))

    def _probe_clip(self, digit: int) -> Path:
        probes = self.clips.get(digit, [])[1:-CANARY_CLIPS]
        if not probes:
            raise ValueError(
                f"{self.speaker} needs more than {CANARY_CLIPS + 1} clips of {digit}: "
                "one for enrolment, the last ones for the canary"
            )
        return probes[next(self._uses[digit]) % len(probes)]


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
