"""Gateway test helpers: real people from the test data, and attempts as a terminal makes them."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from auth_gateway.analysis import Analyser
from auth_gateway.bootstrap import bootstrap
from auth_gateway.enrolment import Upload
from auth_gateway.gateway import Gateway
from core.bus import EventProducer, ensure_topics
from core.settings import Settings
from producers.people import Person, chimeric_people
from schemas import AuthAttempt, TrainingSampleCaptured
from schemas.enums import SampleOrigin


def people(data: Path) -> list[Person]:
    return chimeric_people(data, 3, tag=uuid.uuid4().hex[:6])


def enrol_uploads(person: Person) -> tuple[list[Upload], list[Upload]]:
    faces = [Upload(data=d, content_type="image/jpeg") for d in person.enrol_photos()]
    voices = [Upload(data=d, content_type="audio/wav") for d in person.enrol_utterances()]
    return faces, voices


async def attempt(
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
        producer="tests",
        attempt_id=attempt_id,
        terminal_id=terminal,
        user_id=claimed,
        challenge_id=challenge_id,
        face=refs.get("face"),
        voice=refs.get("voice"),
    )


@asynccontextmanager
async def running_gateway(
    settings: Settings, analyser: Analyser, *, seed: int = 7
) -> AsyncIterator[Gateway]:
    """A prepared gateway on ``settings`` (its own namespace); its database dropped after.

    Challenge digits are drawn from a seeded chooser: a test's outcome must not depend on them.
    """
    await ensure_topics(settings)
    async with EventProducer(settings, producer_name="gateway-tests") as producer:
        choose = random.Random(seed).choice
        gw = bootstrap(settings, analyser=analyser, producer=producer, choose_digit=choose)
        await gw.prepare()
        try:
            yield gw
        finally:
            await gw.client.drop_database(settings.mongo.database)
            await gw.close()


# Qualities above the capture threshold: the sample becomes training data.
QUALITIES = {"face": 0.97, "voice": 0.97}


async def capture_sample(
    gw: Gateway, person: Person, terminal: str, face: bytes, voice: bytes
) -> TrainingSampleCaptured:
    """A sample the gateway curated from an accepted login at ``terminal``, as in production."""
    event = await attempt(
        gw, person.user_id, face=face, voice=voice, challenge_id=None, terminal=terminal
    )
    captured = await gw.capture.capture(
        event, {"face": face, "voice": voice}, QUALITIES, SampleOrigin.ACCEPTED
    )
    assert captured is not None
    return captured
