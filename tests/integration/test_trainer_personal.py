"""Personalisation on the real stack: 50 curated samples of one user on a noisy line → a per-user
voice model that lifts that user's scores there, keeps the guard out, and the gateway uses it.

Four people of the vendored data (one speaker each) enrol at the gateway; the subject then logs
in 50 times from a noisy telephone line (``telephone-noisy``), the others 16 times each, and
the gateway curates those samples. A per-user job for the subject runs through the job service
with the production trainer.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from aiokafka import ConsumerRecord

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.personal_models import PersonalModels
from bench.support.curated import capture_accepted
from core.biometrics.degrade import condition, degrade_wav
from core.biometrics.vectors import l2_normalise
from core.settings import Settings
from core.signing import Signer, generate_keypair, load_private_key
from producers.people import Person, chimeric_people
from schemas import ActivationStatus, AuthDecision, ModelActivation
from schemas.enums import JobState, Outcome, RetrainReason
from schemas.model_catalog import BASE_VERSION, VOICE_EMBEDDER, ModelRef
from schemas.personal import personal_key, personal_record_id
from tests.integration.conftest import namespaced, with_gateway_keys
from tests.integration.gateway_kit import (
    attempt,
    enrol_uploads,
    running_gateway,
)
from tests.integration.trainer_kit import trainer_settings
from trainer.bootstrap import bootstrap
from trainer.jobs import Job, JobRequest
from trainer.personal import PersonalParams
from trainer.personal_onnx import export_personal, personal_parity
from trainer.personal_publish import PERSONAL_MODELS, publish_personal
from trainer.pipeline import JobContext
from trainer.pipeline import Outcome as TrainingOutcome
from trainer.process import train_once

NOISY_LINE = "term-noisy-line"
NOISY = condition("telephone-noisy")
SUBJECT_SAMPLES = 50  # processors.personalisation_samples
OTHERS_SAMPLES = 16


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_keypair()


@pytest.fixture(scope="module")
def gw_settings(base_settings: Settings, keys: tuple[str, str]) -> Settings:
    """The gateway's: the publisher's public key only (it refuses to hold the private one)."""
    settings = with_gateway_keys(namespaced(base_settings, "pm"), "test-admin-key")
    models = settings.models
    return settings.model_copy(
        update={
            "gateway": settings.gateway.model_copy(update={"recent_probes_kept": 0}),
            "models": models.model_copy(
                update={"trust": models.trust.model_copy(update={"public_keys": keys[1]})}
            ),
        }
    )


@pytest.fixture(scope="module")
def p_settings(gw_settings: Settings, keys: tuple[str, str]) -> Settings:
    """The trainer's: the same namespace, with the signing key."""
    return trainer_settings(gw_settings, keys[0])


@pytest.fixture(scope="module")
async def gateway(gw_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    async with running_gateway(gw_settings, analyser) as gw:
        yield gw


def _noisy(person: Person, digits: str, k: int) -> bytes:
    return degrade_wav(person.say(digits), NOISY, f"{person.user_id}/{k}")


async def _noisy_login(gw: Gateway, person: Person, k: int) -> AuthDecision:
    """A login of ``person`` from the noisy line, decided by the gateway."""
    challenge = await gw.challenges.issue(person.user_id, NOISY_LINE)
    event = await attempt(
        gw,
        person.user_id,
        face=person.probe_photo(k % 3),
        voice=_noisy(person, challenge.digits, 999 + k),
        challenge_id=challenge.challenge_id,
        terminal=NOISY_LINE,
    )
    return (await gw.verifier.verify(event)).decision


@pytest.fixture(scope="module")
async def crowd(gateway: Gateway, data_dir: Path) -> list[Person]:
    people = chimeric_people(data_dir, 4, tag="pm")
    said = random.Random(11)
    for person in people:
        faces, voices = enrol_uploads(person)
        await gateway.enroller.enroll(person.user_id, faces, voices)
    for i, person in enumerate(people):
        for k in range(SUBJECT_SAMPLES if i == 0 else OTHERS_SAMPLES):
            digits = "".join(said.choice("0123456789") for _ in range(4))
            await capture_accepted(
                gateway,
                person.user_id,
                NOISY_LINE,
                face=person.probe_photo(k),
                voice=_noisy(person, digits, k),
            )
    return people


async def test_fifty_curated_samples_make_a_personal_model_the_gateway_uses(
    p_settings: Settings, gateway: Gateway, crowd: list[Person]
) -> None:
    subject = crowd[0]
    request = JobRequest(
        model=VOICE_EMBEDDER,
        reason=RetrainReason.USER_SAMPLE_COUNT,
        user_id=subject.user_id,
        requested_by="tests",
    )
    seen: list[Job] = []
    job = await train_once(p_settings, request, seen.append, poll_seconds=0.2)
    assert job.state is JobState.SUCCEEDED, job.message
    m = job.metrics
    # The acceptance: the subject's median on the noisy line rises, the guard's FMR does not.
    assert m["genuine_median_worst_after"] > m["genuine_median_worst_before"], m
    assert m["guard_fmr_after"] <= m["guard_fmr_before"], m
    assert m["personal_probes"] >= 5 and m["personal_guard_trials"] >= 10, m
    assert job.result_version == "1.1.0"

    record = await gateway.db[PERSONAL_MODELS].find_one(
        {"_id": personal_record_id(VOICE_EMBEDDER, subject.user_id)}
    )
    assert record is not None and record["for_version"] == "1.0.0"

    # A login from the noisy line: the decision says the personal model scored it.
    decision = await _noisy_login(gateway, subject, 1)
    assert decision.model_versions.get(f"{VOICE_EMBEDDER}-personal") == "1.1.0", decision
    # Another user's login is not scored by the subject's model.
    theirs = await _noisy_login(gateway, crowd[1], 1)
    assert f"{VOICE_EMBEDDER}-personal" not in theirs.model_versions

    # Erasure takes the personal model with the person.
    removed = await gateway.erase_user(subject.user_id)
    assert removed["personal_models_bucket"] == 2 and removed["PersonalModels"] == 1, removed
    assert removed["training_jobs"] == 1, removed
    assert await gateway.db["training_jobs"].find_one({"request.user_id": subject.user_id}) is None
    assert await gateway.db["training_open_jobs"].count_documents({}) == 0
    after = await _noisy_login(gateway, subject, 2)
    assert after.outcome is not Outcome.ACCEPT
    assert f"{VOICE_EMBEDDER}-personal" not in after.model_versions


async def _published(settings: Settings, gw: Gateway, user_id: str, signer: Signer) -> None:
    """A personal model of ``user_id`` published by the trainer's own path, fitted on
    synthetic rows (what it scores does not matter here, only whether it is trusted)."""
    rng = np.random.default_rng(3)
    params = PersonalParams(
        prototypes=l2_normalise(rng.standard_normal((2, 256)), np.float32),
        scale=np.ones(2, dtype=np.float32),
        offset=np.zeros(2, dtype=np.float32),
        conditions=("a", "b"),
    )
    onnx = export_personal(params)
    probes = rng.standard_normal((4, 256))
    job = Job(
        job_id=f"job-{user_id}",
        key=f"{VOICE_EMBEDDER}/{user_id}",
        request=JobRequest(
            model=VOICE_EMBEDDER,
            reason=RetrainReason.USER_SAMPLE_COUNT,
            user_id=user_id,
            requested_by="tests",
        ),
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    outcome = TrainingOutcome(
        onnx=onnx,
        operating_point=None,
        promote=True,
        summary="synthetic",
        parity=personal_parity(onnx, params, probes),
        conditions=params.conditions,
    )
    context = JobContext(job=job, version="1.1.0", champion_version=BASE_VERSION)
    await publish_personal(gw.db, gw.objects, job, context, outcome, signer)


async def test_only_a_signed_intact_personal_model_is_used(
    p_settings: Settings, gateway: Gateway
) -> None:
    trust = p_settings.models.trust.keys()
    shared = ModelRef(name=VOICE_EMBEDDER, version=BASE_VERSION)
    good, altered, forged = (
        f"{name}-pm-{uuid.uuid4().hex[:6]}" for name in ("good", "altered", "forged")
    )
    await _published(p_settings, gateway, good, p_settings.models.publisher.signer())
    await _published(p_settings, gateway, altered, p_settings.models.publisher.signer())
    await _published(p_settings, gateway, forged, Signer(load_private_key(generate_keypair()[0])))
    record = await gateway.db[PERSONAL_MODELS].find_one(
        {"_id": personal_record_id(VOICE_EMBEDDER, altered)}
    )
    assert record is not None
    # Someone with write access to the bucket swaps the graph for another one.
    key = personal_key(altered, VOICE_EMBEDDER, "1.1.0", "model.onnx")
    await gateway.objects.put_bytes(gateway.objects.bucket("models"), key, b"not that graph")

    models = PersonalModels(gateway.db, gateway.objects, trust)
    scorer = await models.for_user(good, shared)
    assert scorer is not None and scorer.version == "1.1.0"
    assert isinstance(scorer.score(np.ones(256, dtype=np.float32)), float)
    assert await models.for_user(altered, shared) is None
    assert await models.for_user(forged, shared) is None
    # Fitted in another shared version's space: not used with this one.
    newer = ModelRef(name=VOICE_EMBEDDER, version="1.2.0")
    assert await models.for_user(good, newer) is None
    assert await models.for_user("nobody-has-one", shared) is None


async def test_a_new_shared_version_refits_the_personal_models_fitted_in_another(
    p_settings: Settings, gateway: Gateway
) -> None:
    """Each personal model is queued for a refit once, however many gateways report."""
    user = f"refit-{uuid.uuid4().hex[:6]}"
    await _published(p_settings, gateway, user, p_settings.models.publisher.signer())
    runtime = await bootstrap(p_settings)
    try:
        for instance in ("gw-a", "gw-b"):
            await runtime.service.on_activation(
                ModelActivation(
                    producer="tests",
                    model=VOICE_EMBEDDER,
                    model_version="1.4.0",
                    status=ActivationStatus.ACTIVATED,
                    previous_version=BASE_VERSION,
                    instance_id=instance,
                ),
                cast(ConsumerRecord[bytes, bytes], None),
            )
        queued = [j for j in await runtime.store.jobs(VOICE_EMBEDDER) if j.request.user_id == user]
        assert len(queued) == 1 and queued[0].state is JobState.QUEUED
        assert queued[0].request.reason is RetrainReason.DRIFT
        assert len(queued[0].trigger_ids) == 1
    finally:
        await runtime.close()
