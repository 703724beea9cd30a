"""The trainer's job service on the real stack: triggers → jobs → a published, signed version.

The unit under test is the service (store, leases, worker, publishing, REST API), so the model
trainer here is the small :class:`~tests.integration.trainer_kit.RotationTrainer`, whose steps
each test sets.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx
import pytest
from aiokafka import ConsumerRecord

from auth_gateway.capture import SampleCapture
from bench.support.curated import QUALITIES
from core.bus import ConsumerLoop
from core.registry import ModelStatus, fetch_verified
from core.settings import Settings
from core.signing import TrustedKeys, generate_keypair
from schemas import (
    ActivationStatus,
    AuthAttempt,
    ModelActivation,
    ModelPublished,
    RetrainTrigger,
    TrainingJobUpdate,
    decode,
)
from schemas.enums import JobStage, JobState, RetrainReason, SampleOrigin
from schemas.model_catalog import FACE_EMBEDDER, VOICE_EMBEDDER
from tests.integration.conftest import namespaced, with_gateway_keys
from tests.integration.kafka_reader import read_topic
from tests.integration.trainer_kit import Script, eventually, registry_for, trainer_settings
from trainer.bootstrap import TrainerRuntime, bootstrap
from trainer.http import create_app
from trainer.job_store import JobStore
from trainer.jobs import Job, JobRequest
from trainer.pipeline import JobFailed
from trainer.process import TOPICS, run_parts, train_once
from trainer.registry_of_trainers import TrainerRegistry

API_KEY = "trainer-test-admin-key"


@pytest.fixture
def trust_and_settings(base_settings: Settings) -> tuple[TrustedKeys, Settings]:
    private, public = generate_keypair()
    settings = with_gateway_keys(namespaced(base_settings, "j"), API_KEY)
    return TrustedKeys.parse(public), trainer_settings(settings, private)


@pytest.fixture
def settings(trust_and_settings: tuple[TrustedKeys, Settings]) -> Settings:
    return trust_and_settings[1]


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
async def runtime(settings: Settings, script: Script) -> AsyncIterator[TrainerRuntime]:
    rt = await bootstrap(settings, trainers=registry_for(script), owner="trainer-a")
    yield rt
    for task in rt.tasks.values():
        task.cancel()
    await asyncio.gather(*rt.tasks.values(), return_exceptions=True)
    await rt.client.drop_database(settings.mongo.database)
    await rt.close()


def request(model: str = FACE_EMBEDDER, trigger: str | None = None, **extra: object) -> JobRequest:
    return JobRequest.model_validate(
        {
            "model": model,
            "reason": RetrainReason.MANUAL,
            "trigger_id": trigger or f"t-{uuid.uuid4().hex[:8]}",
            "requested_by": "tests",
            **extra,
        }
    )


async def job_updates(settings: Settings, job_id: str, at_least: int) -> list[TrainingJobUpdate]:
    records = await read_topic(settings, "training.jobs", at_least=at_least, timeout_s=20)
    updates = [decode("training.jobs", r.value, r.headers) for r in records]
    return [u for u in updates if isinstance(u, TrainingJobUpdate) and u.job_id == job_id]


async def test_a_trigger_ends_with_a_signed_published_version(
    runtime: TrainerRuntime, trust_and_settings: tuple[TrustedKeys, Settings]
) -> None:
    trust, settings = trust_and_settings
    stop = asyncio.Event()
    consumer = ConsumerLoop(
        TOPICS,
        settings.trainer.consumer_group,
        runtime.service.on_trigger,
        runtime.producer,
        settings=settings,
    )
    runtime.tasks["consumer"] = asyncio.create_task(consumer.run())
    runtime.tasks["worker"] = asyncio.create_task(runtime.service.work(stop))
    trigger = RetrainTrigger(
        producer="tests",
        trigger_id="trig-1",
        models=[FACE_EMBEDDER],
        reason=RetrainReason.ACCURACY_DROP,
        figures={"accuracy": 0.82},
        requested_by="stream_processors",
    )
    await runtime.producer.publish(trigger)

    async def finished() -> Job | None:
        jobs = await runtime.store.jobs(FACE_EMBEDDER)
        return jobs[0] if jobs and jobs[0].state.finished else None

    job = await eventually(finished)
    stop.set()
    consumer.stop()

    assert (job.state, job.result_version, job.trained_version) == (
        JobState.SUCCEEDED,
        "1.1.0",
        "1.1.0",
    )
    assert job.trigger_ids == ["trig-1"] and job.request.figures == {"accuracy": 0.82}
    assert job.metrics["eer_after"] == 0.05 and job.progress == 1.0 and job.attempts == 1
    record = await runtime.service.registry.get(FACE_EMBEDDER, "1.1.0")
    assert record is not None and record.status is ModelStatus.CANDIDATE
    manifest = record.manifest
    assert manifest.training_job_id == job.job_id and manifest.parent_version == "1.0.0"
    assert manifest.data_snapshot_id == "a" * 64 and manifest.validation_metrics["samples"] == 8
    assert manifest.parity is not None and manifest.parity.max_abs_diff < 1e-4

    (published_record,) = await read_topic(settings, "models.published", at_least=1)
    published = decode("models.published", published_record.value, published_record.headers)
    assert isinstance(published, ModelPublished) and published.training_job_id == job.job_id
    verified = await fetch_verified(runtime.objects, published, trust)
    assert verified.manifest.operating_point is not None
    assert str(verified.manifest.operating_point.model) == f"{FACE_EMBEDDER}@1.1.0"

    updates = await job_updates(settings, job.job_id, at_least=8)
    states = [u.state for u in updates]
    assert states[0] is JobState.QUEUED and states[-1] is JobState.SUCCEEDED
    assert JobState.RUNNING in states
    stages = [u.stage for u in updates if u.state is JobState.RUNNING]
    assert JobStage.TRAINING in stages and JobStage.PUBLISH in stages
    assert updates[-1].result_version == "1.1.0" and updates[-1].trigger_ids == ["trig-1"]


async def test_duplicates_and_triggers_for_a_running_model_coalesce(
    runtime: TrainerRuntime, settings: Settings
) -> None:
    store = runtime.store
    first, created = await store.submit(request(trigger="t1"))
    assert created and first.state is JobState.QUEUED
    again, created = await store.submit(request(trigger="t1"))
    assert (again.job_id, created, again.trigger_ids) == (first.job_id, False, ["t1"])
    joined, created = await store.submit(request(trigger="t2"))
    assert (joined.job_id, created, joined.trigger_ids) == (first.job_id, False, ["t1", "t2"])
    personal, created = await store.submit(request(trigger="t2", user_id="alice"))
    assert created and personal.job_id != first.job_id

    running = await store.claim("trainer-a", 60, only=first.job_id)
    assert running is not None and running.state is JobState.RUNNING
    during, created = await store.submit(request(trigger="t3"))
    assert (during.job_id, created) == (first.job_id, False)
    assert during.state is JobState.RUNNING and during.trigger_ids == ["t1", "t2", "t3"]

    await store.finish(first.job_id, "trainer-a", JobState.FAILED, "test: done")
    redelivered, created = await store.submit(request(trigger="t3"))
    assert (redelivered.job_id, created) == (first.job_id, False)
    after, created = await store.submit(request(trigger="t4"))
    assert created and after.job_id != first.job_id and after.trigger_ids == ["t4"]


async def test_concurrent_submitters_from_two_clients_make_one_job(
    runtime: TrainerRuntime, settings: Settings
) -> None:
    other = await bootstrap(settings, trainers=registry_for(Script()), owner="trainer-b")
    try:
        stores: list[JobStore] = [runtime.store, other.store]
        triggers = [f"c{i}" for i in range(12)]
        results = await asyncio.gather(
            *(stores[i % 2].submit(request(trigger=t)) for i, t in enumerate(triggers)),
            *(stores[(i + 1) % 2].submit(request(trigger=t)) for i, t in enumerate(triggers)),
        )
    finally:
        await other.close()
    assert len({job.job_id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    (job,) = await runtime.store.jobs(FACE_EMBEDDER)
    assert sorted(job.trigger_ids) == sorted(triggers)


async def test_two_workers_never_run_the_same_job(
    runtime: TrainerRuntime, settings: Settings, script: Script
) -> None:
    users = [f"user-{i}" for i in range(6)]
    for user in users:
        await runtime.store.submit(request(user_id=user))
    other = await bootstrap(settings, trainers=registry_for(script), owner="trainer-b")
    stop = asyncio.Event()
    try:
        workers = [asyncio.create_task(rt.service.work(stop)) for rt in (runtime, other)]

        async def all_done() -> list[Job] | None:
            jobs = await runtime.store.jobs()
            return jobs if all(j.state.finished for j in jobs) else None

        jobs = await eventually(all_done)
        stop.set()
        await asyncio.gather(*workers)
    finally:
        await other.close()
    assert sorted(script.runs) == sorted(j.job_id for j in jobs)
    assert all(j.state is JobState.SUCCEEDED and j.attempts == 1 for j in jobs)
    # Per-user jobs: each user's own line of versions, and never the shared model's.
    assert [j.result_version for j in jobs] == ["1.1.0"] * len(users)
    assert await runtime.service.registry.versions(FACE_EMBEDDER) == []
    personal = runtime.service.deps.db["personal_models"]
    assert sorted([d["user_id"] async for d in personal.find({})]) == users


async def test_a_slow_trainer_keeps_its_job_by_heartbeating(
    runtime: TrainerRuntime, settings: Settings, script: Script
) -> None:
    script.seconds = 3 * settings.trainer.lease_seconds
    job, _ = await runtime.store.submit(request())
    claimed = await runtime.store.claim("trainer-a", settings.trainer.lease_seconds)
    assert claimed is not None
    running = asyncio.create_task(runtime.service.run(claimed))
    other = await bootstrap(settings, trainers=registry_for(Script()), owner="trainer-b")
    try:
        while not running.done():
            assert await other.service.next_job() is None
            await asyncio.sleep(0.3)
    finally:
        await other.close()
    done = await running
    assert done.state is JobState.SUCCEEDED and done.attempts == 1 and script.runs == [job.job_id]


async def test_a_job_whose_trainer_died_is_requeued_then_failed(
    runtime: TrainerRuntime, settings: Settings, script: Script
) -> None:
    options = settings.trainer
    job, _ = await runtime.store.submit(request())
    # What a killed trainer leaves behind: a running job whose lease is never renewed.
    for dead in ("killed-trainer-1", "killed-trainer-2"):
        assert await runtime.store.claim(dead, options.lease_seconds) is not None
        assert await runtime.store.recover(options.max_attempts, options.lease_seconds) == []
        await asyncio.sleep(options.lease_seconds + 0.2)
        (changed,) = await runtime.store.recover(options.max_attempts, options.lease_seconds)
        assert changed.job_id == job.job_id

    final = await runtime.store.get(job.job_id)
    assert final is not None and final.state is JobState.FAILED and final.attempts == 2
    assert final.message.startswith("trainer_lost: the trainer stopped twice during this job")
    assert await runtime.service.next_job() is None
    assert script.runs == [] and await runtime.service.registry.versions(FACE_EMBEDDER) == []
    updates = await job_updates(settings, job.job_id, at_least=5)
    assert [u.state for u in updates] == [
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.QUEUED,
        JobState.RUNNING,
        JobState.FAILED,
    ]
    assert "requeued" in updates[2].message


async def test_a_dead_trainers_job_is_run_by_a_live_one(
    runtime: TrainerRuntime, settings: Settings, script: Script
) -> None:
    job, _ = await runtime.store.submit(request())
    assert await runtime.store.claim("killed-trainer", settings.trainer.lease_seconds)
    await asyncio.sleep(settings.trainer.lease_seconds + 0.2)
    claimed = await runtime.service.next_job()
    assert claimed is not None and claimed.job_id == job.job_id and claimed.attempts == 2
    done = await runtime.service.run(claimed)
    assert done.state is JobState.SUCCEEDED and script.runs == [job.job_id]


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (JobFailed("too_little_data", "3 samples, 20 needed"), "too_little_data: 3 samples"),
        (RuntimeError("the GPU caught fire"), "RuntimeError: the GPU caught fire"),
    ],
)
async def test_a_failing_trainer_ends_failed_with_its_reason_and_publishes_nothing(
    runtime: TrainerRuntime,
    settings: Settings,
    script: Script,
    failure: Exception,
    message: str,
) -> None:
    script.fail = failure
    job, _ = await runtime.store.submit(request())
    claimed = await runtime.service.next_job()
    assert claimed is not None
    done = await runtime.service.run(claimed)
    assert done.state is JobState.FAILED and done.message.startswith(message)
    assert done.result_version is None
    assert await runtime.service.registry.versions(FACE_EMBEDDER) == []
    # The key is free again: the next trigger starts a new job.
    again, created = await runtime.store.submit(request())
    assert created and again.job_id != job.job_id


async def test_a_model_that_does_not_beat_the_champion_is_not_published(
    runtime: TrainerRuntime, script: Script
) -> None:
    script.promote = False
    await runtime.store.submit(request(VOICE_EMBEDDER))
    claimed = await runtime.service.next_job()
    assert claimed is not None
    done = await runtime.service.run(claimed)
    assert done.state is JobState.SUCCEEDED_NOT_PROMOTED and done.message == "no better"
    assert done.trained_version == "1.1.0" and done.result_version is None
    assert await runtime.service.registry.versions(VOICE_EMBEDDER) == []
    # The next job trains the next version: 1.1.0 stays this job's, in its lineage.
    await runtime.store.submit(request(VOICE_EMBEDDER))
    following = await runtime.service.next_job()
    assert following is not None
    assert (await runtime.service.context(following)).version == "1.2.0"


def _report(status: ActivationStatus, version: str, **extra: object) -> ModelActivation:
    return ModelActivation.model_validate(
        {
            "producer": "auth_gateway",
            "model": FACE_EMBEDDER,
            "model_version": version,
            "status": status,
            "instance_id": "gw-a",
            **extra,
        }
    )


async def test_gateway_reports_on_a_jobs_version_reach_its_status_and_updates(
    runtime: TrainerRuntime, settings: Settings
) -> None:
    no_record = cast(ConsumerRecord[bytes, bytes], None)
    store = runtime.store
    job, _ = await store.submit(request())
    claimed = await runtime.service.next_job()
    assert claimed is not None
    version = (await runtime.service.context(claimed)).version
    # The gateway may be quicker than the trainer's own record of the job's end.
    activated = _report(ActivationStatus.ACTIVATED, version, previous_version="1.0.0")
    assert await store.record_activation(activated) == []
    done = await store.finish(
        job.job_id,
        "trainer-a",
        JobState.SUCCEEDED,
        "done",
        trained_version=version,
        result_version=version,
    )
    shown = await store.activation(done)
    assert shown is not None and shown.active and shown.instances == ["gw-a"]
    (finished,) = [
        u for u in await job_updates(settings, job.job_id, at_least=3) if u.state.finished
    ]
    assert finished.activation == shown

    # A redelivery is kept once; reports on versions no job trained change nothing.
    await runtime.service.on_activation(activated, no_record)
    await runtime.service.on_activation(_report(ActivationStatus.ACTIVATED, "7.0.0"), no_record)
    assert await store.activation(done) == shown
    rolled = _report(
        ActivationStatus.ROLLED_BACK, version, previous_version="1.0.0", reason="score_drift"
    )
    assert [j.job_id for j in await store.record_activation(rolled)] == [job.job_id]
    after = await store.activation(done)
    assert after is not None and not after.active and after.rollback_reason == "score_drift"
    # queued, running, succeeded, then announced again for the redelivery and the rollback
    updates = await job_updates(settings, job.job_id, at_least=5)
    assert updates[-1].activation == after


async def test_the_rest_api_queues_coalesces_and_reports(runtime: TrainerRuntime) -> None:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://trainer") as http:
        body = {"model": VOICE_EMBEDDER, "reason": "manual"}
        denied = await http.post("/api/retrain_request", json=body)
        assert denied.status_code == 401 and denied.json()["error"] == "unauthorized"
        wrong = await http.post("/api/retrain_request", json=body, headers={"X-API-Key": "no"})
        assert wrong.status_code == 401

        key = {"X-API-Key": API_KEY}
        first = await http.post("/api/retrain_request", json=body, headers=key)
        assert first.status_code == 202 and first.json()["created"] is True
        second = await http.post("/api/retrain_request", json=body, headers=key)
        assert second.status_code == 202 and second.json()["created"] is False
        job_id = first.json()["job_id"]
        assert second.json()["job_id"] == job_id
        bad = await http.post(
            "/api/retrain_request", json={"model": "speech-recogniser"}, headers=key
        )
        assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"

        status = await http.get(f"/api/model_status/{job_id}", headers=key)
        assert status.status_code == 200
        assert status.json()["state"] == "queued" and len(status.json()["trigger_ids"]) == 2
        assert (await http.get(f"/api/model_status/{job_id}")).status_code == 401

        claimed = await runtime.service.next_job()
        assert claimed is not None and claimed.job_id == job_id
        await runtime.service.run(claimed)
        status = await http.get(f"/api/model_status/{job_id}", headers=key)
        report = status.json()
        assert report["state"] == "succeeded" and report["result_version"] == "1.1.0"
        assert report["progress"] == 1.0 and report["metrics"]["samples"] == 8.0

        missing = await http.get("/api/model_status/job-nope", headers=key)
        assert missing.status_code == 404
        assert missing.json() == {"error": "unknown_job", "message": "no training job job-nope"}

        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["worker"] == "not started"
        assert ready.json()["checks"]["mongo"] == "ok"
        metrics = (await http.get("/metrics")).text
        assert 'kibalock_training_jobs{state="succeeded"} 1.0' in metrics
        assert 'kibalock_training_job_seconds_count{model="voice-embedder"' in metrics


async def test_train_once_runs_a_job_in_the_foreground(settings: Settings, script: Script) -> None:
    seen: list[Job] = []
    try:
        job = await train_once(
            settings,
            request(VOICE_EMBEDDER, trigger=None, user_id="bob"),
            seen.append,
            trainers=registry_for(script),
            poll_seconds=0.05,
        )
        assert job.state is JobState.SUCCEEDED and job.result_version == "1.1.0"
        assert script.runs == [job.job_id] and seen[-1] == job
    finally:
        runtime = await bootstrap(settings, trainers=registry_for(script))
        await runtime.client.drop_database(settings.mongo.database)
        await runtime.close()


async def test_a_stopping_trainer_hands_its_job_back_and_a_restarted_one_runs_it(
    runtime: TrainerRuntime, settings: Settings, script: Script
) -> None:
    script.hold = asyncio.Event()
    stop = asyncio.Event()
    parts = asyncio.create_task(run_parts(runtime, stop))
    trigger = RetrainTrigger(
        producer="tests",
        trigger_id="trig-stop",
        models=[VOICE_EMBEDDER],
        reason=RetrainReason.DRIFT,
        requested_by="tests",
    )
    await runtime.producer.publish(trigger)

    async def running() -> Job | None:
        jobs = await runtime.store.jobs(VOICE_EMBEDDER)
        return jobs[0] if jobs and jobs[0].stage is JobStage.FEATURES else None

    job = await eventually(running)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://trainer") as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert ready.json()["checks"] == {
            "consumer": "ok",
            "activations": "ok",
            "worker": "ok",
            "retention": "ok",
            "mongo": "ok",
            "objects": "ok",
        }
        stop.set()
        await parts
        assert (await http.get("/readyz")).json()["checks"]["worker"] == "stopped"

    handed_back = await runtime.store.get(job.job_id)
    assert handed_back is not None and handed_back.state is JobState.QUEUED
    assert handed_back.message == "requeued: the trainer stopped"
    assert await runtime.service.registry.versions(VOICE_EMBEDDER) == []

    script.hold = None
    restarted = await bootstrap(settings, trainers=registry_for(script), owner="trainer-c")
    try:
        claimed = await restarted.service.next_job()
        assert claimed is not None and claimed.job_id == job.job_id and claimed.attempts == 2
        done = await restarted.service.run(claimed)
    finally:
        await restarted.close()
    # 1.1.0 was the first run's: a run cut short never hands its version to another.
    assert done.state is JobState.SUCCEEDED and done.result_version == "1.2.0"
    assert script.runs == [job.job_id, job.job_id]


async def test_an_idle_worker_starts_a_job_submitted_in_its_process_at_once(
    settings: Settings, script: Script
) -> None:
    patient = settings.model_copy(
        update={"trainer": settings.trainer.model_copy(update={"poll_seconds": 60.0})}
    )
    runtime = await bootstrap(patient, trainers=registry_for(script), owner="trainer-w")
    stop = asyncio.Event()
    worker = asyncio.create_task(runtime.service.work(stop))
    try:
        await asyncio.sleep(0.5)  # the worker found nothing and waits
        job, _ = await runtime.service.submit(request())

        async def done() -> Job | None:
            current = await runtime.store.get(job.job_id)
            return current if current is not None and current.state.finished else None

        finished = await eventually(done, timeout_s=20)
        assert finished.state is JobState.SUCCEEDED
    finally:
        stop.set()
        await worker
        await runtime.client.drop_database(settings.mongo.database)
        await runtime.close()


async def test_a_model_without_a_trainer_fails_with_that_reason_and_reserves_nothing(
    settings: Settings,
) -> None:
    runtime = await bootstrap(settings, trainers=TrainerRegistry({}), owner="trainer-n")
    try:
        await runtime.service.submit(request(VOICE_EMBEDDER))
        claimed = await runtime.service.next_job()
        assert claimed is not None
        done = await runtime.service.run(claimed)
        assert done.state is JobState.FAILED
        assert (
            done.message == "no_trainer: no trainer is registered for voice-embedder (known: none)"
        )
        assert await runtime.store.reserved_versions(VOICE_EMBEDDER) == []
    finally:
        await runtime.client.drop_database(settings.mongo.database)
        await runtime.close()


async def test_triggers_are_ignored_while_training_is_disabled(settings: Settings) -> None:
    disabled = settings.model_copy(
        update={"trainer": settings.trainer.model_copy(update={"enabled": False})}
    )
    runtime = await bootstrap(disabled, trainers=registry_for(Script()), owner="trainer-d")
    trigger = RetrainTrigger(
        producer="tests",
        trigger_id="trig-off",
        models=[FACE_EMBEDDER],
        reason=RetrainReason.ACCURACY_DROP,
        requested_by="tests",
    )
    try:
        await runtime.service.on_trigger(trigger, cast(ConsumerRecord[bytes, bytes], None))
        assert await runtime.store.jobs() == []
    finally:
        await runtime.client.drop_database(settings.mongo.database)
        await runtime.close()


async def test_the_running_service_erases_curated_media_past_their_retention(
    settings: Settings, script: Script
) -> None:
    short = settings.model_copy(
        update={
            "trainer": settings.trainer.model_copy(
                update={"raw_media_retention_days": 1.0, "retention_sweep_interval_s": 0.2}
            )
        }
    )
    runtime = await bootstrap(short, trainers=registry_for(script))
    db = runtime.service.deps.db
    try:
        capture = SampleCapture(db, runtime.objects, runtime.producer, threshold=0.0)
        samples = runtime.objects.bucket("samples")
        refs = {
            name: await runtime.objects.put_bytes(samples, f"bea/a1/{name}", name.encode(), kind)
            for name, kind in (("face", "image/jpeg"), ("voice", "audio/wav"))
        }
        upload = AuthAttempt(
            producer="tests",
            attempt_id="a1",
            terminal_id="t1",
            user_id="bea",
            face=refs["face"],
            voice=refs["voice"],
        )
        media = {"face": b"face", "voice": b"voice"}
        captured = await capture.capture(upload, media, QUALITIES, SampleOrigin.ACCEPTED)
        assert captured is not None and captured.voice is not None
        old = datetime.now(UTC) - timedelta(days=2)
        await db["training_samples"].update_one({"sample_id": "a1"}, {"$set": {"captured_at": old}})
        stop = asyncio.Event()
        parts = asyncio.create_task(run_parts(runtime, stop))

        async def erased() -> bool | None:
            return await db["training_samples"].count_documents({}) == 0 or None

        await eventually(erased, timeout_s=20)
        assert not await runtime.objects.exists(captured.voice.bucket, captured.voice.key)
        stop.set()
        await parts
    finally:
        await runtime.client.drop_database(short.mongo.database)
        await runtime.close()
