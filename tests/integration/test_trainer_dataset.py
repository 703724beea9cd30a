"""The trainer's data stage on the real stack: snapshot, base features, split and retention.

Users are enrolled and their samples captured by the gateway's own code (Enroller,
SampleCapture), so the data is laid out exactly as in production.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from auth_gateway.analysis import Analyser
from auth_gateway.bootstrap import bootstrap
from auth_gateway.capture import SampleCapture
from auth_gateway.gateway import Gateway
from auth_gateway.reembed import features_version
from bench.support.curated import QUALITIES, capture_accepted
from core import docstore
from core.bus import EventProducer, ensure_topics
from core.objectstore import ObjectStore
from core.settings import Settings
from core.settings.trainer import TrainerSection
from schemas import AuthAttempt
from schemas.enums import RetrainReason, SampleOrigin
from schemas.model_catalog import FACE_EMBEDDER, VOICE_EMBEDDER, Modality
from tests.integration.conftest import namespaced, with_gateway_keys
from tests.integration.gateway_kit import enrol_uploads, people
from trainer import dataset, retention
from trainer.extract import Engines, extract
from trainer.features import ENROLMENT
from trainer.jobs import Job, JobRequest
from trainer.pipeline import JobFailed
from trainer.training_data import load_split


@pytest.fixture(scope="module")
def td_settings(base_settings: Settings) -> Settings:
    # The test data has three probe photos a person, used again re-encoded: the echo check
    # would refuse those as the replays they are (tested in tests/security/test_replay.py).
    return with_gateway_keys(namespaced(base_settings, "d"), "test-admin-key", recent_probes_kept=0)


@pytest.fixture(scope="module")
async def gateway(td_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    await ensure_topics(td_settings)
    producer = EventProducer(td_settings, producer_name="trainer-data-tests")
    await producer.start()
    gw = bootstrap(td_settings, analyser=analyser, producer=producer)
    await gw.prepare()
    yield gw
    await producer.stop()
    await gw.client.drop_database(td_settings.mongo.database)
    await gw.close()


def _blank_photo() -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.full((240, 320, 3), 128, dtype=np.uint8))
    assert ok
    return bytes(encoded)


@pytest.fixture(scope="module")
async def population(gateway: Gateway, data_dir: Path) -> dict[str, object]:
    """Three enrolled users with 3 + 1 curated samples on two terminals each; user 0 has one
    more whose voice is not audio and whose photo has no face, and user 1's first voice sample
    was overwritten after capture (its sha256 no longer matches)."""
    crowd = people(data_dir)
    digits = random.Random(5)
    for person in crowd:
        faces, voices = enrol_uploads(person)
        await gateway.enroller.enroll(person.user_id, faces, voices)
        for k, terminal in enumerate(("term-1", "term-1", "term-1", "term-2")):
            said = "".join(digits.choice("0123456789") for _ in range(4))
            await capture_accepted(
                gateway,
                person.user_id,
                terminal,
                face=person.probe_photo(k),
                voice=person.say(said),
            )
    bad = await capture_accepted(
        gateway, crowd[0].user_id, "term-1", face=_blank_photo(), voice=b"RIFF not a wave"
    )
    first = await dataset.curated_items(gateway.db, Modality.VOICE)
    victim = next(d.item for d in first if d.item.user_id == crowd[1].user_id)
    bucket = gateway.objects.bucket("training")
    await gateway.objects.put_bytes(bucket, victim.key, b"something else", "audio/wav")
    return {"users": [p.user_id for p in crowd], "bad": bad, "altered": victim.key}


async def test_the_snapshot_is_stable_and_names_each_medium_by_sha256(
    gateway: Gateway, population: dict[str, object]
) -> None:
    users = population["users"]
    assert isinstance(users, list)
    voice = await dataset.take_snapshot(gateway.db, VOICE_EMBEDDER, max_per_user=200)
    again = await dataset.take_snapshot(gateway.db, VOICE_EMBEDDER, max_per_user=200)
    assert voice.digest == again.digest and voice.items == again.items
    assert voice.modality is Modality.VOICE and set(voice.users) == set(users)
    per_user = Counter((i.user_id, i.condition) for i in voice.items)
    for user in users:
        extra = 1 if user == users[0] else 0
        assert per_user[(user, ENROLMENT)] == 3
        assert per_user[(user, "term-1")] == 3 + extra
        assert per_user[(user, "term-2")] == 1
    for item in voice.items:
        if item.key == population["altered"]:
            continue
        data = await gateway.objects.get_bytes(
            f"s3://{gateway.objects.bucket(item.bucket)}/{item.key}"
        )
        assert hashlib.sha256(data).hexdigest() == item.sha256
    face = await dataset.take_snapshot(gateway.db, FACE_EMBEDDER, max_per_user=200)
    assert {i.modality for i in face.items} == {Modality.FACE}
    assert face.digest != voice.digest

    await dataset.save(gateway.db, voice, job_id="job-a")
    await dataset.save(gateway.db, again, job_id="job-b")
    stored = await dataset.load(gateway.db, voice.digest)
    assert stored is not None and stored.items == voice.items
    doc = await gateway.db[dataset.SNAPSHOTS].find_one({"_id": voice.digest})
    assert doc is not None and sorted(doc["jobs"]) == ["job-a", "job-b"]

    newest = await dataset.take_snapshot(gateway.db, VOICE_EMBEDDER, max_per_user=2)
    assert Counter(i.user_id for i in newest.items if i.condition != ENROLMENT) == {
        u: 2 for u in users
    }
    assert newest.excluded == {"over_max_samples_per_user": 3 * 2 + 1}


async def test_features_are_the_gateways_base_embeddings_and_bad_media_are_counted(
    gateway: Gateway, analyser: Analyser, population: dict[str, object]
) -> None:
    users = population["users"]
    assert isinstance(users, list)
    fractions: list[float] = []

    async def progress(fraction: float) -> None:
        fractions.append(fraction)

    voice = await dataset.take_snapshot(gateway.db, VOICE_EMBEDDER, max_per_user=200)
    got = await extract(gateway.objects, voice, analyser.voice_engine.analyse, progress)
    assert got.skipped == {"checksum_mismatch": 1, "corrupt": 1}
    assert got.counts()["skipped_corrupt"] == 1
    assert len(got.features) == len(voice.items) - 2
    assert got.features.width == 256
    assert Counter(got.features.user_ids) == {users[0]: 7, users[1]: 6, users[2]: 7}
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    norms = np.linalg.norm(got.features.vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    # The same preprocessing as the gateway: enrolment rows equal the base features it stored.
    for user in users:
        stored = await gateway.templates.load(user, "voice", features_version(VOICE_EMBEDDER))
        assert stored is not None
        rows = got.features.of_users({user}).in_conditions({ENROLMENT}).vectors
        assert np.allclose(rows, stored, atol=1e-5)

    face = await dataset.take_snapshot(gateway.db, FACE_EMBEDDER, max_per_user=200)
    faces = await extract(gateway.objects, face, analyser.face_engine.analyse)
    assert faces.skipped == {"no_face": 1}
    assert faces.features.width == 128
    assert Counter(faces.features.user_ids) == {u: 7 for u in users}


async def test_load_split_records_lineage_and_keeps_the_guard_apart(
    gateway: Gateway, population: dict[str, object]
) -> None:
    users = population["users"]
    assert isinstance(users, list)
    now = datetime.now(UTC)
    request = JobRequest(
        model=VOICE_EMBEDDER,
        reason=RetrainReason.USER_SAMPLE_COUNT,
        user_id=users[2],
        requested_by="tests",
    )
    job = Job(job_id="job-split", key="k", request=request, created_at=now, updated_at=now)
    data = await load_split(gateway.db, gateway.objects, Engines(), job, TrainerSection())
    parts = data.split
    assert len(parts.guard.users) == 1 and users[2] not in parts.guard.users
    assert set(parts.guard.users).isdisjoint(parts.train.users)
    assert set(parts.guard.users).isdisjoint(parts.validation.users)
    assert set(parts.validation.users) == set(parts.train.users)
    # One enrolment row of each trained user is held back: the clean probe of champion /
    # challenger; the others stay in train as the template.
    held = parts.validation.conditions.count(ENROLMENT)
    assert held == len(parts.train.users)
    assert parts.train.conditions.count(ENROLMENT) >= len(parts.train.users)
    assert data.counts["skipped_corrupt"] == 1 and data.counts["skipped_checksum_mismatch"] == 1
    assert (
        data.counts["train_rows"] + data.counts["validation_rows"] + data.counts["guard_rows"]
        == data.counts["samples_used"]
    )
    doc = await gateway.db[dataset.SNAPSHOTS].find_one({"_id": data.snapshot.digest})
    assert doc is not None and "job-split" in doc["jobs"]
    derived = [d for d in doc["derived"] if d["job_id"] == "job-split"]
    assert derived and derived[0]["counts"]["samples_used"] == data.counts["samples_used"]


async def test_retention_erases_only_curated_media_past_their_time(
    ns_settings: Settings, store: ObjectStore, producer: EventProducer
) -> None:
    client = docstore.client(ns_settings)
    db = client[ns_settings.mongo.database]
    try:
        capture = SampleCapture(db, store, producer, threshold=0.0)
        samples = store.bucket("samples")
        enrol = await store.put_bytes(samples, "ann/enrol/voice/0", b"enrolment clip", "audio/wav")
        events = []
        for k in range(4):
            refs = {
                name: await store.put_bytes(
                    samples, f"ann/a{k}/{name}", f"{name}{k}".encode(), kind
                )
                for name, kind in (("face", "image/jpeg"), ("voice", "audio/wav"))
            }
            upload = AuthAttempt(
                producer="tests",
                attempt_id=f"a{k}",
                terminal_id="term-1",
                user_id="ann",
                face=refs["face"],
                voice=refs["voice"],
            )
            media = {"face": f"face{k}".encode(), "voice": f"voice{k}".encode()}
            captured = await capture.capture(upload, media, QUALITIES, SampleOrigin.ACCEPTED)
            assert captured is not None
            events.append(captured)
        now = datetime.now(UTC)
        for k, age in enumerate((40, 31, 29, 0)):
            await db["training_samples"].update_one(
                {"sample_id": f"a{k}"}, {"$set": {"captured_at": now - timedelta(days=age)}}
            )
        snapshot = await dataset.take_snapshot(db, VOICE_EMBEDDER, max_per_user=200)
        await dataset.save(db, snapshot, job_id="job-before")

        report = await retention.sweep(db, store, TrainerSection(raw_media_retention_days=30), now)

        assert (report.samples, report.objects) == (2, 4)
        left = sorted([d["sample_id"] async for d in db["training_samples"].find({})])
        assert left == ["a2", "a3"]
        training = store.bucket("training")
        for k, event in enumerate(events):
            for ref in (event.face, event.voice):
                assert ref is not None
                assert await store.exists(training, ref.key) == (k >= 2)
        assert await store.exists(samples, enrol.key)
        assert len(await store.list_keys(samples, "ann/")) == 9  # attempts' uploads untouched
        assert await dataset.load(db, snapshot.digest) is not None  # lineage is kept
        again = await retention.sweep(db, store, TrainerSection(raw_media_retention_days=30), now)
        assert (again.samples, again.objects) == (0, 0)

        # The timer: a sample that ages is erased by the next tick, and stop ends the loop.
        await db["training_samples"].update_one(
            {"sample_id": "a2"}, {"$set": {"captured_at": now - timedelta(days=60)}}
        )
        stop = asyncio.Event()
        timed = TrainerSection(raw_media_retention_days=30, retention_sweep_interval_s=0.2)
        loop = asyncio.create_task(retention.sweep_periodically(db, store, timed, stop))
        for _ in range(50):
            if await db["training_samples"].count_documents({}) == 1:
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
        assert [d["sample_id"] async for d in db["training_samples"].find({})] == ["a3"]
    finally:
        await client.drop_database(ns_settings.mongo.database)
        await client.close()


async def test_too_little_data_fails_the_job_with_what_was_found(
    ns_settings: Settings, store: ObjectStore, producer: EventProducer
) -> None:
    client = docstore.client(ns_settings)
    db = client[ns_settings.mongo.database]
    try:
        capture = SampleCapture(db, store, producer, threshold=0.0)
        noise = b"RIFF this is no wave"
        ref = await store.put_bytes(store.bucket("samples"), "bob/a1/voice", noise, "audio/wav")
        upload = AuthAttempt(
            producer="tests", attempt_id="a1", terminal_id="term-9", user_id="bob", voice=ref
        )
        assert await capture.capture(upload, {"voice": noise}, QUALITIES, SampleOrigin.ACCEPTED)
        now = datetime.now(UTC)
        request = JobRequest(model=VOICE_EMBEDDER, reason=RetrainReason.MANUAL, requested_by="t")
        job = Job(job_id="job-thin", key="k", request=request, created_at=now, updated_at=now)

        with pytest.raises(JobFailed) as failed:
            await load_split(db, store, Engines(), job, TrainerSection())

        assert failed.value.reason == "too_little_data"
        assert "0 samples of 0 users" in failed.value.message
        assert "media skipped: corrupt 1" in failed.value.message
        snapshots = [d async for d in db[dataset.SNAPSHOTS].find({})]
        assert len(snapshots) == 1 and snapshots[0]["jobs"] == ["job-thin"]
        assert snapshots[0]["derived"][0]["counts"] == {
            "samples_used": 0,
            "skipped_corrupt": 1,
            "snapshot_items": 1,
        }
    finally:
        await client.drop_database(ns_settings.mongo.database)
        await client.close()
