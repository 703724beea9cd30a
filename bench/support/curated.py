"""Enrolled users and curated training samples, laid out by the gateway's own code.

What the trainer reads is made here as production makes it: users enrolled through the
gateway's :class:`~auth_gateway.enrolment.Enroller`, their media uploaded as a terminal uploads
them, and accepted attempts copied to the training bucket by its
:class:`~auth_gateway.capture.SampleCapture`. Used by the trainer benchmark and the trainer's
integration tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from auth_gateway.enrolment import EnrolmentError, Upload
from auth_gateway.gateway import Gateway
from core.biometrics.audio import join_clips
from core.biometrics.dataset import ChimericUser, Utterance
from schemas import AuthAttempt, TrainingSampleCaptured
from schemas.enums import SampleOrigin

# Good enough for capture: the gateway keeps accepted samples of at least its threshold (0.95).
QUALITIES = {"face": 0.97, "voice": 0.97}


async def terminal_attempt(
    gw: Gateway,
    claimed: str,
    *,
    face: bytes | None,
    voice: bytes | None,
    challenge_id: str | None,
    terminal: str = "term-1",
) -> AuthAttempt:
    """Uploads the media as a terminal would and returns the attempt event."""
    attempt_id = uuid.uuid4().hex
    bucket = gw.objects.bucket("samples")
    refs = {}
    for name, data, kind in (("face", face, "image/jpeg"), ("voice", voice, "audio/wav")):
        if data is not None:
            refs[name] = await gw.objects.put_bytes(
                bucket, f"{claimed}/{attempt_id}/{name}", data, kind
            )
    return AuthAttempt(
        producer=f"terminal-{terminal}",
        attempt_id=attempt_id,
        terminal_id=terminal,
        user_id=claimed,
        challenge_id=challenge_id,
        face=refs.get("face"),
        voice=refs.get("voice"),
    )


async def capture_accepted(
    gw: Gateway, user_id: str, terminal: str, *, face: bytes | None, voice: bytes | None
) -> TrainingSampleCaptured:
    """An accepted attempt of ``user_id`` on ``terminal``, captured as a training sample."""
    event = await terminal_attempt(
        gw, user_id, face=face, voice=voice, challenge_id=None, terminal=terminal
    )
    media = {name: data for name, data in (("face", face), ("voice", voice)) if data is not None}
    captured = await gw.capture.capture(event, media, QUALITIES, SampleOrigin.ACCEPTED)
    if captured is None:
        raise RuntimeError(f"attempt {event.attempt_id} was captured before")
    return captured


@dataclass(frozen=True)
class Seeded:
    """What :func:`enrol_and_capture` laid out."""

    users: tuple[str, ...]  # enrolled
    refused: tuple[str, ...]  # whose enrolment the gateway refused (no face found, say)
    face_samples: int  # curated samples with a photo
    voice_samples: int  # curated samples with a recording

    def counts(self) -> dict[str, int]:
        return {
            "users_enrolled": len(self.users),
            "users_refused": len(self.refused),
            "curated_face_samples": self.face_samples,
            "curated_voice_samples": self.voice_samples,
        }


def _recording(utterance: Utterance) -> bytes:
    return join_clips([clip.read_bytes() for clip in utterance.clips])


async def enrol_and_capture(
    gw: Gateway, users: Sequence[ChimericUser], terminals: Sequence[str]
) -> Seeded:
    """Enrols each user with their enrolment photos and utterances, then captures their probe
    photos and challenges as accepted attempts, dealt over ``terminals`` in turn. Attempt *k*
    carries probe photo *k* and challenge *k*, whichever of the two the user has."""
    enrolled: list[str] = []
    refused: list[str] = []
    faces = voices = 0
    for user in users:
        try:
            await gw.enroller.enroll(
                user.user_id,
                [Upload(data=p.read_bytes(), content_type="image/jpeg") for p in user.face_enrol],
                [Upload(data=_recording(u), content_type="audio/wav") for u in user.voice_enrol],
            )
        except EnrolmentError:
            refused.append(user.user_id)
            continue
        enrolled.append(user.user_id)
        for k in range(max(len(user.face_probes), len(user.challenges))):
            face = user.face_probes[k].read_bytes() if k < len(user.face_probes) else None
            voice = _recording(user.challenges[k]) if k < len(user.challenges) else None
            terminal = terminals[k % len(terminals)]
            await capture_accepted(gw, user.user_id, terminal, face=face, voice=voice)
            faces += face is not None
            voices += voice is not None
    return Seeded(tuple(enrolled), tuple(refused), faces, voices)
