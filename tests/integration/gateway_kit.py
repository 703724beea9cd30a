"""Real users for gateway tests: chimeric (a face identity + a voice speaker) from shared data.

Enrolment uses clips 0–9 of each digit and the first three photos; attempts use clips from 10
on and the remaining photos, so enrolment and verification never share a sample.
"""

from __future__ import annotations

import csv
import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from auth_gateway.enrolment import Upload
from auth_gateway.gateway import Gateway
from core.biometrics.audio import join_clips
from schemas import AuthAttempt

ENROL_CLIPS = range(0, 10)


@dataclass
class Person:
    user_id: str
    face_identity: str
    speaker: str
    photos: list[Path]
    voices_dir: Path
    _clip_counter: itertools.count[int] = field(default_factory=lambda: itertools.count(10))

    def enrol_faces(self) -> list[Upload]:
        return [Upload(data=p.read_bytes(), content_type="image/jpeg") for p in self.photos[:3]]

    def enrol_voices(self) -> list[Upload]:
        # Three utterances covering all ten digits, as a user would read them at enrolment.
        groups = [(0, 1, 2, 3), (4, 5, 6), (7, 8, 9)]
        return [
            Upload(data=self.say("".join(map(str, g)), clip=i), content_type="audio/wav")
            for i, g in zip(ENROL_CLIPS, groups, strict=False)
        ]

    def probe_photo(self, k: int = 0) -> bytes:
        probes = self.photos[3:]
        return probes[k % len(probes)].read_bytes()

    def say(self, digits: str, clip: int | None = None) -> bytes:
        """A fresh recording of ``digits`` (a new clip index each call unless given)."""
        index = next(self._clip_counter) if clip is None else clip
        clips = [(self.voices_dir / f"{d}_{self.speaker}_{index}.wav").read_bytes() for d in digits]
        return join_clips(clips, silence_ms=400)


def people(data: Path) -> list[Person]:
    by_identity: dict[str, list[Path]] = {}
    with (data / "faces" / "identities.csv").open() as handle:
        for row in csv.DictReader(handle):
            by_identity.setdefault(row["identity"], []).append(data / "faces" / row["file"])
    chosen = [("face01", "george"), ("face02", "jackson"), ("face03", "lucas")]
    tag = uuid.uuid4().hex[:6]
    return [
        Person(
            user_id=f"{identity}-{speaker}-{tag}",
            face_identity=identity,
            speaker=speaker,
            photos=sorted(by_identity[identity]),
            voices_dir=data / "voices",
        )
        for identity, speaker in chosen
    ]


async def attempt(
    gw: Gateway,
    claimed: str,
    *,
    face: bytes | None,
    voice: bytes | None,
    challenge_id: str | None,
    terminal: str = "term-1",
    face_type: str = "image/jpeg",
    voice_type: str = "audio/wav",
) -> AuthAttempt:
    """Uploads the media as a terminal would and returns the attempt event."""
    attempt_id = uuid.uuid4().hex
    bucket = gw.objects.bucket("samples")
    refs = {}
    for name, data, kind in (("face", face, face_type), ("voice", voice, voice_type)):
        if data is not None:
            refs[name] = await gw.objects.put_bytes(
                bucket, f"{claimed}/{attempt_id}/{name}", data, kind
            )
    return AuthAttempt(
        producer="tests",
        attempt_id=attempt_id,
        terminal_id=terminal,
        user_id=claimed,
        challenge_id=challenge_id,
        face=refs.get("face"),
        voice=refs.get("voice"),
    )
