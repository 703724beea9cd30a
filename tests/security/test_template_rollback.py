"""Audit finding 22, on the real stack: a database writer who puts back a template sealed
before the user's last enrolment is caught when it is read, not served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from bson import Binary

from auth_gateway.analysis import Analyser
from auth_gateway.crypto import TemplateCipher, TemplateTampered, load_key
from auth_gateway.gateway import Gateway
from core.settings import Settings
from producers.people import Person
from tests.integration.gateway_kit import enrol_uploads, people, running_gateway
from tests.stack_kit import namespaced, with_gateway_keys


@pytest.fixture(scope="module")
async def gateway(base_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    settings = with_gateway_keys(namespaced(base_settings, "tr"), "tr-admin-key")
    async with running_gateway(settings, analyser) as gw:
        yield gw


@pytest.fixture(scope="module")
def person(data_dir: Path) -> Person:
    return people(data_dir)[0]


async def test_a_template_from_before_the_last_enrolment_is_refused(
    gateway: Gateway, person: Person
) -> None:
    faces, voices = enrol_uploads(person)
    await gateway.enroller.enroll(person.user_id, faces, voices)
    templates = gateway.db["templates"]
    before = [d async for d in templates.find({"user_id": person.user_id})]
    assert before

    # A new enrolment (fewer photos: other templates), then the old documents put back.
    await gateway.enroller.enroll(person.user_id, faces[:-1] * 2, voices)
    for doc in before:
        await templates.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        with pytest.raises(TemplateTampered):
            await gateway.templates.load(person.user_id, doc["modality"], doc["model_version"])


async def test_the_current_templates_still_open(gateway: Gateway, person: Person) -> None:
    faces, voices = enrol_uploads(person)
    await gateway.enroller.enroll(person.user_id, faces, voices)
    async for doc in gateway.db["templates"].find({"user_id": person.user_id}):
        loaded = await gateway.templates.load(person.user_id, doc["modality"], doc["model_version"])
        assert loaded is not None and loaded.shape[0] == doc["samples"]


async def test_templates_sealed_before_generations_open_until_the_next_enrolment(
    gateway: Gateway, data_dir: Path
) -> None:
    person = people(data_dir)[1]
    cipher = TemplateCipher(load_key(gateway.settings.gateway))
    vectors = np.arange(8, dtype=np.float32).reshape(2, 4)
    # As the gateway sealed templates before generations: no key id, no generation.
    legacy = {
        "user_id": person.user_id,
        "modality": "face",
        "model_version": "face-embedder@0.9.0",
        "sealed": Binary(
            cipher.seal(
                vectors, user_id=person.user_id, modality="face", version="face-embedder@0.9.0"
            )
        ),
        "samples": 2,
        "updated_at": datetime.now(UTC),
    }
    templates = gateway.db["templates"]
    await templates.insert_one(dict(legacy))
    opened = await gateway.templates.load(person.user_id, "face", "face-embedder@0.9.0")
    assert opened is not None and np.array_equal(opened, vectors)

    faces, voices = enrol_uploads(person)
    await gateway.enroller.enroll(person.user_id, faces, voices)
    assert await templates.find_one({"model_version": "face-embedder@0.9.0"}) is None
    await templates.insert_one(dict(legacy))
    with pytest.raises(TemplateTampered):
        await gateway.templates.load(person.user_id, "face", "face-embedder@0.9.0")
