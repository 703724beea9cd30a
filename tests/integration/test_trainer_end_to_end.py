"""LifeModo end to end on the real stack (issue 11, first acceptance point).

A retrain trigger on ``retrain.triggers`` → the trainer runs a job and publishes a signed ONNX
version → a running gateway verifies it, runs its canary, re-embeds the enrolled user and
activates it → ``GET /api/model_status/{job_id}`` says so; a rollback through the gateway's
admin API shows up there too. The model trainer is the
:class:`~tests.integration.trainer_kit.RotationTrainer` (a real ONNX adapter that keeps every
score, so the canary accepts it); everything else is the services' own code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import onnxruntime as ort
import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.handlers import consumer_of, verify_attempt
from auth_gateway.http import create_app as gateway_app
from auth_gateway.service import model_event_loops
from core.biometrics.golden import golden_faces
from core.registry import SLOTS, ModelStatus, fetch_verified, seed_golden
from core.settings import Settings, TrustSection
from core.signing import TrustedKeys, generate_keypair
from producers.people import Person
from schemas import DeadLetter, ModelPublished, RetrainTrigger, TrainingJobUpdate, decode
from schemas.enums import RetrainReason
from schemas.model_catalog import BASE_VERSION, FACE_EMBEDDER
from tests.integration.gateway_kit import attempt, enrol_uploads, people, running_gateway
from tests.integration.kafka_reader import read_topic
from tests.integration.trainer_kit import Script, eventually, registry_for, trainer_settings
from tests.stack_kit import DOOR_OPEN, namespaced, with_gateway_keys
from trainer.bootstrap import TrainerRuntime, bootstrap
from trainer.http import create_app as trainer_app
from trainer.process import activations_group, run_parts

MODEL = FACE_EMBEDDER
VERSION = "1.1.0"
API_KEY = "end-to-end-admin-key"
INSTANCE = "gw-e2e"
ADMIN = {"X-API-Key": API_KEY}


@dataclass
class World:
    gateway: Gateway
    trainer: TrainerRuntime
    person: Person
    trust: TrustedKeys
    settings: Settings  # the trainer's (the gateway's differ only in keys)


@pytest.fixture
async def world(
    base_settings: Settings, analyser: Analyser, data_dir: Path
) -> AsyncIterator[World]:
    """A gateway with one enrolled user and a trainer, both running their consumers, in one
    namespace; the publisher's key signs the canary set and the trainer's versions, and is
    the one key the gateway trusts."""
    private, public = generate_keypair()
    shared = with_gateway_keys(namespaced(base_settings, "e"), API_KEY, **DOOR_OPEN)
    gateway_models = shared.models.model_copy(
        update={"trust": TrustSection(public_keys=public), "instance_id": INSTANCE}
    )
    gw_settings = shared.model_copy(update={"models": gateway_models})
    tr_settings = trainer_settings(shared, private)

    async with running_gateway(gw_settings, analyser) as gw:
        await seed_golden(
            gw.objects,
            MODEL,
            golden_faces(data_dir),
            lambda b: analyser.face_engine.analyse(b).base_embedding,
            base_version=BASE_VERSION,
            signer=tr_settings.models.publisher.signer(),
        )
        person = people(data_dir)[0]
        await gw.enroller.enroll(person.user_id, *enrol_uploads(person))
        model_events = model_event_loops(gw_settings, INSTANCE, consumer_of(gw), gw.producer)
        runtime = await bootstrap(tr_settings, trainers=registry_for(Script()), owner="trainer-e")
        stop = asyncio.Event()
        parts = asyncio.create_task(run_parts(runtime, stop))
        consuming = [asyncio.create_task(loop.run()) for loop in model_events]
        try:
            yield World(gw, runtime, person, TrustedKeys.parse(public), tr_settings)
        finally:
            stop.set()
            for loop in model_events:
                loop.stop()
            await asyncio.gather(parts, *consuming)
            await runtime.close()


async def _status(http: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/model_status/{job_id}", headers=ADMIN)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _job_updates(settings: Settings, job_id: str) -> list[TrainingJobUpdate]:
    records = await read_topic(settings, "training.jobs", at_least=1, timeout_s=10)
    updates = [decode("training.jobs", r.value, r.headers) for r in records]
    return [u for u in updates if isinstance(u, TrainingJobUpdate) and u.job_id == job_id]


async def test_a_trigger_ends_with_a_version_the_gateway_serves_then_rolls_back(
    world: World,
) -> None:
    gw, trainer, settings = world.gateway, world.trainer, world.settings
    # A record no one can read on the topic the trainer follows: dead-lettered, not fatal.
    await trainer.producer.publish_raw("models.activations", b"{not an activation")
    await trainer.producer.publish(
        RetrainTrigger(
            producer="stream_processors",
            trigger_id="trig-e2e",
            models=[MODEL],
            reason=RetrainReason.ACCURACY_DROP,
            figures={"accuracy": 0.82},
            requested_by="stream_processors",
        )
    )

    async def queued() -> str | None:
        jobs = await trainer.store.jobs(MODEL)
        return jobs[0].job_id if jobs else None

    job_id = await eventually(queued, timeout_s=30)
    to_trainer = httpx.ASGITransport(app=trainer_app(trainer))
    to_gateway = httpx.ASGITransport(app=gateway_app(lambda: gw))
    async with (
        httpx.AsyncClient(transport=to_trainer, base_url="http://trainer") as api,
        httpx.AsyncClient(transport=to_gateway, base_url="http://gateway") as gateway_api,
    ):

        async def served() -> dict[str, Any] | None:
            status = await _status(api, job_id)
            active = status["state"] == "succeeded" and (status["activation"] or {}).get("active")
            return status if active else None

        status = await eventually(served, timeout_s=40)
        assert status["result_version"] == VERSION and status["trigger_ids"] == ["trig-e2e"]
        activation = status["activation"]
        assert activation["activated_at"] is not None and activation["instances"] == [INSTANCE]
        assert activation["rolled_back_at"] is None and activation["rejected_at"] is None

        # The artifact and its signed manifest are in the models bucket and verify.
        records = await read_topic(settings, "models.published", at_least=1)
        published = [decode("models.published", r.value, r.headers) for r in records]
        (event,) = [e for e in published if isinstance(e, ModelPublished)]
        assert (event.model_version, event.training_job_id) == (VERSION, job_id)
        bucket = trainer.objects.bucket("models")
        assert event.artifact.uri.startswith(f"s3://{bucket}/")
        assert event.manifest.uri.startswith(f"s3://{bucket}/")
        verified = await fetch_verified(trainer.objects, event, world.trust)
        assert verified.manifest.training_job_id == job_id
        assert verified.manifest.signature is not None
        session = ort.InferenceSession(verified.data, providers=["CPUExecutionProvider"])
        assert session.get_outputs()[0].shape[-1] == SLOTS[MODEL].width

        # The registry: published as a candidate by the trainer, activated by the gateway.
        record = await trainer.service.registry.get(MODEL, VERSION)
        assert record is not None and record.status is ModelStatus.ACTIVE
        assert [(c.status, c.by) for c in record.history] == [
            (ModelStatus.CANDIDATE, "trainer"),
            (ModelStatus.ACTIVE, INSTANCE),
        ]

        # The gateway's own view, and a decision made after the swap.
        listing = (await gateway_api.get("/api/models", headers=ADMIN)).json()
        assert listing["serving"][MODEL] == VERSION
        challenge = await gw.challenges.issue(world.person.user_id, "term-1")
        login = await attempt(
            gw,
            world.person.user_id,
            face=world.person.probe_photo(0),
            voice=world.person.say(challenge.digits),
            challenge_id=challenge.challenge_id,
        )
        decision = (await verify_attempt(gw, login)).decision
        assert decision.model_versions[MODEL] == VERSION
        # Templates were re-embedded for the new version: the user's face still matches.
        assert decision.face_score is not None, decision.reasons
        assert (decision.face_score.calibrated or 0.0) > 0.5, decision.face_score

        updates = await _job_updates(settings, job_id)
        last = updates[-1]
        assert last.activation is not None and last.activation.active
        assert last.activation.instances == [INSTANCE]

        # A rollback through the gateway's admin API reaches the job's status.
        rollback = await gateway_api.post(f"/api/models/{MODEL}/rollback", headers=ADMIN)
        assert rollback.status_code == 200, rollback.text
        assert (rollback.json()["model_version"], rollback.json()["reason"]) == (VERSION, "manual")

        async def rolled_back() -> dict[str, Any] | None:
            current = (await _status(api, job_id))["activation"]
            return current if current["rolled_back_at"] is not None else None

        after = await eventually(rolled_back, timeout_s=20)
        assert after["active"] is False and after["rollback_reason"] == "manual"
        assert after["activated_at"] == activation["activated_at"]
        assert gw.swapper.current().versions()[MODEL] == BASE_VERSION

    updates = await _job_updates(settings, job_id)
    assert updates[-1].activation is not None
    assert (updates[-1].activation.active, updates[-1].activation.rollback_reason) == (
        False,
        "manual",
    )
    # The gateway's model-events consumer read the bad record too: each group dead-letters it.
    letters = await read_topic(settings, "deadletter", at_least=2)
    dead = [decode("deadletter", r.value, r.headers) for r in letters]
    groups = {d.consumer_group for d in dead if isinstance(d, DeadLetter)}
    assert activations_group(settings.trainer.consumer_group) in groups
    assert {d.source_topic for d in dead if isinstance(d, DeadLetter)} == {"models.activations"}
