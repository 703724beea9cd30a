"""Gateway test helpers: real people from the test data, and attempts as a terminal makes them
(``attempt``: :func:`bench.support.curated.terminal_attempt`, shared with the benchmarks)."""

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
from bench.support.curated import terminal_attempt as attempt
from core.bus import EventProducer, ensure_topics
from core.settings import Settings
from producers.people import Person, chimeric_people

__all__ = ["attempt", "enrol_uploads", "people", "running_gateway"]


def people(data: Path) -> list[Person]:
    return chimeric_people(data, 3, tag=uuid.uuid4().hex[:6])


def enrol_uploads(person: Person) -> tuple[list[Upload], list[Upload]]:
    faces = [Upload(data=d, content_type="image/jpeg") for d in person.enrol_photos()]
    voices = [Upload(data=d, content_type="audio/wav") for d in person.enrol_utterances()]
    return faces, voices


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
