"""Audit findings 5 and 6, on the real stack: feedback poisoning and foreign media references."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import handle, verify_attempt
from core.settings import Settings
from producers.people import Person
from schemas import AuthAttempt, AuthFeedback
from schemas.enums import FeedbackLabel, FeedbackSource, Outcome
from tests.integration.gateway_kit import attempt, enrol_uploads, people, running_gateway
from tests.stack_kit import namespaced, with_gateway_keys


@pytest.fixture(scope="module")
async def gateway(base_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    # Every sample passes the quality gate here: what refuses the poisoning must be the rules.
    settings = with_gateway_keys(
        namespaced(base_settings, "mf"), "mf-admin-key", training_quality_threshold=0.0
    )
    async with running_gateway(settings, analyser, seed=5) as gw:
        yield gw


@pytest.fixture(scope="module")
async def crowd(gateway: Gateway, data_dir: Path) -> list[Person]:
    everyone = people(data_dir)
    for person in everyone[:2]:
        await gateway.enroller.enroll(person.user_id, *enrol_uploads(person))
    return everyone


async def _impostor_attempt(gw: Gateway, victim: Person, impostor: Person) -> AuthAttempt:
    challenge = await gw.challenges.issue(victim.user_id, "term-p")
    event = await attempt(
        gw,
        victim.user_id,
        face=impostor.probe_photo(0),
        voice=impostor.say(challenge.digits),
        challenge_id=challenge.challenge_id,
        terminal="term-p",
    )
    decision = (await verify_attempt(gw, event)).decision
    assert decision.outcome is Outcome.REJECT, decision.reasons
    return event


def _feedback(event: AuthAttempt, source: FeedbackSource, user: str | None = None) -> AuthFeedback:
    return AuthFeedback(
        producer="tests",
        attempt_id=event.attempt_id,
        user_id=user or event.user_id,
        terminal_id=event.terminal_id,
        label=FeedbackLabel.GENUINE,
        source=source,
    )


async def test_feedback_cannot_file_an_impostor_as_the_victim(
    gateway: Gateway, crowd: list[Person]
) -> None:
    victim, other, impostor = crowd
    event = await _impostor_attempt(gateway, victim, impostor)
    # The terminal itself saying "it was them", a confirmation naming someone else, and even a
    # trusted confirmation of an attempt where neither factor matched: nothing is copied.
    for feedback in (
        _feedback(event, FeedbackSource.TERMINAL),
        _feedback(event, FeedbackSource.FALLBACK_FACTOR, user=other.user_id),
        _feedback(event, FeedbackSource.ADMIN),
    ):
        await handle(gateway, feedback)
    assert await gateway.db["training_samples"].count_documents({}) == 0
    training = gateway.objects.bucket("training")
    assert await gateway.objects.list_keys(training, f"{victim.user_id}/") == []


async def test_an_attempt_cannot_name_objects_outside_its_own_upload(
    gateway: Gateway, crowd: list[Person]
) -> None:
    victim, owner = crowd[0], crowd[1]
    samples = gateway.objects.bucket("samples")
    enrolment = await gateway.objects.list_keys(samples, f"{owner.user_id}/enrol/")
    assert enrolment, "the owner's enrolment media are stored"
    stolen = await gateway.objects.put_bytes(
        samples, enrolment[0], await gateway.objects.get_bytes(f"s3://{samples}/{enrolment[0]}")
    )
    challenge = await gateway.challenges.issue(victim.user_id, "term-x")
    honest = await attempt(gateway, victim.user_id, face=None, voice=b"x", challenge_id=None)
    forged = honest.model_copy(update={"face": stolen, "voice": None, "challenge_id": None})
    decision = (await verify_attempt(gateway, forged)).decision
    assert decision.outcome is Outcome.REJECT and "invalid_media" in decision.reasons
    assert challenge.user_id == victim.user_id

    # Erasing the attempt's user leaves the other user's enrolment where it was.
    await gateway.erase_user(victim.user_id)
    assert await gateway.objects.exists(samples, enrolment[0])


async def test_an_oversized_upload_is_refused_before_it_is_read_whole(
    gateway: Gateway, crowd: list[Person]
) -> None:
    victim = crowd[0]
    limit = gateway.settings.gateway.max_upload_bytes
    big = await attempt(
        gateway, victim.user_id, face=b"\xff\xd8\xff" + b"\0" * limit, voice=None, challenge_id=None
    )
    decision = (await verify_attempt(gateway, big)).decision
    assert decision.outcome is Outcome.REJECT and "invalid_media" in decision.reasons
