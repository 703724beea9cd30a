"""Training jobs in MongoDB, and every change of state on ``training.jobs``.

FerretDB's SQLite backend applies an update as read-modify-write without isolation between
clients: two concurrent updates of one document can lose one of them (measured: 107 of 300
``$inc`` kept). So every rule that must hold under concurrency is an *insert* of a document with
a unique ``_id``, which the server does enforce, and each job document has one writer at a time:

- ``training_open_jobs`` (``_id`` = the job key): the one open job of a key. Whoever inserts it
  creates the job; everyone else joins that job.
- ``training_job_triggers`` (``_id`` = ``trigger_id@key``): which triggers a job serves. A
  redelivered trigger finds its record and changes nothing; joining never writes the job
  document, which belongs to its trainer.
- ``training_job_leases`` (``_id`` = job_id): the trainer running a job and until when; renewed
  by heartbeats. A lease that ran out belongs to whoever deletes it first (a delete is counted
  once) and is replaced by a short recovery lease while the job is requeued or failed.
- ``training_versions`` (``_id`` = ``model@version``): a version reserved by one job, so two
  jobs of one model never train, or publish, the same version.
- ``training_job_activations`` (``_id`` = ``job_id/event_id``): the gateways' reports on
  ``models.activations`` that concern a version a job reserved (``activations.py``); a job's
  activation is derived from them when read, never written into the job document.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from core.bus import EventProducer
from core.docstore import Database, Document, IndexSpec, ensure_indexes
from core.logging import get_logger
from schemas import ModelActivation
from schemas.catalog import TRAINER
from schemas.enums import JobStage, JobState
from schemas.training import JobActivation, TrainingJobUpdate
from trainer.activations import ActivationReport, standing, versions_concerned
from trainer.jobs import Job, JobRequest, check_transition, job_key

log = get_logger(__name__)

JOBS = "training_jobs"
OPEN_JOBS = "training_open_jobs"
TRIGGERS = "training_job_triggers"
LEASES = "training_job_leases"
VERSIONS = "training_versions"
ACTIVATIONS = "training_job_activations"
INDEXES = [
    IndexSpec(JOBS, [("state", ASCENDING), ("created_at", ASCENDING)]),
    IndexSpec(JOBS, [("request.model", ASCENDING)]),
    IndexSpec(TRIGGERS, [("job_id", ASCENDING)]),
    IndexSpec(VERSIONS, [("model", ASCENDING)]),
    IndexSpec(ACTIVATIONS, [("job_id", ASCENDING)]),
]
OPEN_STATES = [JobState.QUEUED.value, JobState.RUNNING.value]
# A job key claimed by a submitter that died before writing the job is free again after this.
CREATE_GRACE = timedelta(seconds=30)
RECOVERY_PREFIX = "recovery/"


class LeaseLost(Exception):
    """This trainer no longer holds the job's lease: another one recovered the job."""


class UnknownJob(LookupError):
    pass


def job_update(job: Job, activation: JobActivation | None = None) -> TrainingJobUpdate:
    """The ``training.jobs`` event that carries a job's current state (and, for a job that
    published, what the gateways did with that version)."""
    return TrainingJobUpdate(
        producer=TRAINER,
        job_id=job.job_id,
        model=job.request.model,
        state=job.state,
        stage=job.stage,
        progress=job.progress,
        message=job.message,
        trigger_ids=job.trigger_ids[-64:],
        user_id=job.request.user_id,
        metrics=job.metrics,
        trained_version=job.trained_version,
        result_version=job.result_version,
        activation=activation,
    )


def request_trigger_id(origin: str) -> str:
    """A trigger id for a request made by hand (``api``, ``cli``): each request is a trigger of
    its own, so a job lists every request it serves."""
    return f"{origin}-{uuid.uuid4().hex}"


def stopped_message(attempts: int, max_attempts: int) -> str:
    """Why a job whose trainer kept dying is given up."""
    times = {1: "once", 2: "twice"}.get(attempts, f"{attempts} times")
    return (
        f"trainer_lost: the trainer stopped {times} during this job (its lease ran out without "
        f"a result); given up after max_attempts={max_attempts}"
    )


class JobReader:
    """Jobs as stored, for whoever only looks (``kibalock trainer status``, the API)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._jobs = db[JOBS]
        self._triggers = db[TRIGGERS]
        self._activations = db[ACTIVATIONS]

    async def ensure_indexes(self) -> None:
        await ensure_indexes(self._db, INDEXES)

    async def ping(self) -> None:
        await self._db.command("ping")

    async def get(self, job_id: str) -> Job | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return None if doc is None else await self._job(doc)

    async def jobs(self, model: str | None = None) -> list[Job]:
        query = {} if model is None else {"request.model": model}
        cursor = self._jobs.find(query).sort([("created_at", ASCENDING)])
        return [await self._job(doc) async for doc in cursor]

    async def count_by_state(self) -> dict[JobState, int]:
        return {
            state: await self._jobs.count_documents({"state": state.value}) for state in JobState
        }

    async def activation(self, job: Job) -> JobActivation | None:
        """What the gateways did with the version the job published; None if it published none."""
        if job.result_version is None:
            return None
        cursor = self._activations.find({"job_id": job.job_id}, {"_id": 0, "job_id": 0})
        reports = [ActivationReport.model_validate(doc) async for doc in cursor]
        return standing(job.result_version, reports)

    async def _job(self, doc: Document) -> Job:
        fields = {k: v for k, v in doc.items() if k != "_id"}
        cursor = self._triggers.find({"job_id": doc["_id"]}).sort([("at", ASCENDING)])
        fields["trigger_ids"] = [t["trigger_id"] async for t in cursor]
        return Job.model_validate(fields)


class JobStore(JobReader):
    """Jobs and their rules: submit (coalescing), claim (leases), progress, finish, recover."""

    def __init__(self, db: Database, producer: EventProducer) -> None:
        super().__init__(db)
        self._open = db[OPEN_JOBS]
        self._leases = db[LEASES]
        self._versions = db[VERSIONS]
        self._producer = producer

    async def _require(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise UnknownJob(job_id)
        return job

    # -- submitting ----------------------------------------------------------------------------

    async def submit(self, request: JobRequest) -> tuple[Job, bool]:
        """The open job of the request's key, joined, or a new queued job: (job, created).

        A trigger already recorded (a redelivery) returns its job unchanged.
        """
        key = job_key(request)
        if request.trigger_id is not None:
            seen = await self._triggers.find_one({"_id": _trigger_id(request.trigger_id, key)})
            if seen is not None:
                return await self._require(seen["job_id"]), False
        while True:
            now = datetime.now(UTC)
            claim = await self._open.find_one({"_id": key})
            if claim is None:
                job = await self._create(request, key, now)
                if job is not None:
                    return job, True
                continue
            job = await self.get(claim["job_id"])
            if job is None:
                # Its creator is between the claim and the job document, or died there.
                if _aware(claim["created_at"]) < now - CREATE_GRACE:
                    await self._open.delete_one({"_id": key, "job_id": claim["job_id"]})
                else:
                    await asyncio.sleep(0.05)
                continue
            if job.state.finished:
                await self._open.delete_one({"_id": key, "job_id": job.job_id})
                continue
            return await self._join(job, request, key, now), False

    async def _create(self, request: JobRequest, key: str, now: datetime) -> Job | None:
        job_id = f"job-{uuid.uuid4().hex}"
        try:
            await self._open.insert_one({"_id": key, "job_id": job_id, "created_at": now})
        except DuplicateKeyError:
            return None  # another submitter created the key's job first: join it
        job = Job(job_id=job_id, key=key, request=request, created_at=now, updated_at=now)
        await self._jobs.insert_one(_document(job))
        if request.trigger_id is not None:
            await self._record_trigger(job_id, key, request.trigger_id, now)
        job = await self._require(job_id)
        await self._announce(job)
        log.info("job queued", job_id=job_id, key=key, trigger_id=request.trigger_id)
        return job

    async def _join(self, job: Job, request: JobRequest, key: str, now: datetime) -> Job:
        if request.trigger_id is None or not await self._record_trigger(
            job.job_id, key, request.trigger_id, now
        ):
            return job
        joined = await self._require(job.job_id)
        await self._announce(joined)
        log.info("trigger joined a job", job_id=job.job_id, trigger_id=request.trigger_id)
        return joined

    async def _record_trigger(self, job_id: str, key: str, trigger_id: str, at: datetime) -> bool:
        """False when the trigger was recorded already (a concurrent redelivery)."""
        try:
            await self._triggers.insert_one(
                {
                    "_id": _trigger_id(trigger_id, key),
                    "trigger_id": trigger_id,
                    "job_id": job_id,
                    "at": at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    # -- running -------------------------------------------------------------------------------

    async def claim(
        self,
        owner: str,
        lease_seconds: float,
        *,
        only: str | None = None,
        now: datetime | None = None,
    ) -> Job | None:
        """Takes the oldest queued job (or job ``only``) this trainer can lease and marks it
        running; None if there is none."""
        now = now or datetime.now(UTC)
        until = now + timedelta(seconds=lease_seconds)
        query: dict[str, Any] = {"state": JobState.QUEUED.value}
        if only is not None:
            query["_id"] = only
        cursor = self._jobs.find(query, {"_id": 1}).sort([("created_at", ASCENDING)]).limit(20)
        candidates = [doc["_id"] async for doc in cursor]
        for job_id in candidates:
            if not await self._take_lease(job_id, owner, until, now):
                continue
            job = await self.get(job_id)
            if job is None or job.state is not JobState.QUEUED:
                await self._leases.delete_one({"_id": job_id, "owner": owner})
                continue
            check_transition(job.state, JobState.RUNNING)
            running = await self._write(
                job,
                state=JobState.RUNNING,
                stage=JobStage.SNAPSHOT,
                progress=0.0,
                message="",
                attempts=job.attempts + 1,
                lease_owner=owner,
                lease_until=until,
                now=now,
            )
            log.info("job claimed", job_id=job_id, owner=owner, attempt=running.attempts)
            return running
        return None

    async def _take_lease(self, job_id: str, owner: str, until: datetime, now: datetime) -> bool:
        lease = {"_id": job_id, "owner": owner, "lease_until": until}
        try:
            await self._leases.insert_one(lease)
            return True
        except DuplicateKeyError:
            pass
        # A lease left behind on a queued job (its claimer died half-way) is free once it ran out.
        stale = await self._leases.find_one({"_id": job_id})
        if stale is None or _aware(stale["lease_until"]) >= now:
            return False
        await self._leases.delete_one(
            {"_id": job_id, "owner": stale["owner"], "lease_until": stale["lease_until"]}
        )
        try:
            await self._leases.insert_one(lease)
            return True
        except DuplicateKeyError:
            return False

    async def heartbeat(
        self, job_id: str, owner: str, lease_seconds: float, now: datetime | None = None
    ) -> datetime:
        """Renews the lease; raises :class:`LeaseLost` if this trainer no longer holds it."""
        until = (now or datetime.now(UTC)) + timedelta(seconds=lease_seconds)
        result = await self._leases.update_one(
            {"_id": job_id, "owner": owner}, {"$set": {"lease_until": until}}
        )
        if result.matched_count == 0:
            raise LeaseLost(f"{owner} no longer holds the lease of {job_id}")
        return until

    async def update(
        self,
        job_id: str,
        owner: str,
        *,
        stage: JobStage,
        progress: float,
        message: str = "",
        metrics: dict[str, float] | None = None,
    ) -> Job:
        """Records a running job's progress (only its lease holder may)."""
        job = await self._held(job_id, owner)
        check_transition(job.state, JobState.RUNNING)
        changes: dict[str, Any] = {"stage": stage, "progress": min(max(progress, 0.0), 1.0)}
        changes["message"] = message
        if metrics:
            changes["metrics"] = {**job.metrics, **metrics}
        return await self._write(job, **changes)

    async def finish(
        self,
        job_id: str,
        owner: str,
        state: JobState,
        message: str,
        *,
        metrics: dict[str, float] | None = None,
        trained_version: str | None = None,
        result_version: str | None = None,
        snapshot_digest: str | None = None,
    ) -> Job:
        """Ends a running job (only its lease holder may) and frees its key for a new job."""
        job = await self._held(job_id, owner)
        check_transition(job.state, state)
        changes: dict[str, Any] = {
            "state": state,
            "stage": JobStage.DONE,
            "message": message,
            "trained_version": trained_version,
            "result_version": result_version,
            "lease_owner": None,
            "lease_until": None,
        }
        if state is not JobState.FAILED:
            changes["progress"] = 1.0
        if metrics:
            changes["metrics"] = {**job.metrics, **metrics}
        if snapshot_digest is not None:
            changes["snapshot_digest"] = snapshot_digest
        done = await self._write(job, **changes)
        await self._leases.delete_one({"_id": job_id, "owner": owner})
        await self._open.delete_one({"_id": job.key, "job_id": job_id})
        log.info("job finished", job_id=job_id, state=state.value, message=message)
        return done

    async def release(self, job_id: str, owner: str, message: str) -> Job:
        """Hands a running job back to the queue (this trainer is stopping)."""
        job = await self._held(job_id, owner)
        queued = await self._requeue(job, message)
        await self._leases.delete_one({"_id": job_id, "owner": owner})
        return queued

    async def _held(self, job_id: str, owner: str) -> Job:
        lease = await self._leases.find_one({"_id": job_id})
        if lease is None or lease["owner"] != owner:
            raise LeaseLost(f"{owner} no longer holds the lease of {job_id}")
        return await self._require(job_id)

    # -- recovering ----------------------------------------------------------------------------

    async def recover(
        self, max_attempts: int, lease_seconds: float, now: datetime | None = None
    ) -> list[Job]:
        """Requeues each running job whose lease ran out, or fails it once it has started
        ``max_attempts`` times; returns the jobs changed."""
        now = now or datetime.now(UTC)
        changed = []
        cursor = self._jobs.find({"state": JobState.RUNNING.value}, {"_id": 1})
        for job_id in [doc["_id"] async for doc in cursor]:
            if not await self._take_expired(job_id, now, lease_seconds):
                continue
            try:
                job = await self._require(job_id)
                if job.state is not JobState.RUNNING:
                    continue
                if job.attempts >= max_attempts:
                    changed.append(await self._give_up(job, max_attempts))
                else:
                    changed.append(
                        await self._requeue(job, "requeued: the trainer stopped during this job")
                    )
            finally:
                await self._leases.delete_one({"_id": job_id, "owner": RECOVERY_PREFIX + job_id})
        return changed

    async def _take_expired(self, job_id: str, now: datetime, lease_seconds: float) -> bool:
        lease = await self._leases.find_one({"_id": job_id})
        if lease is not None:
            if _aware(lease["lease_until"]) >= now:
                return False
            deleted = await self._leases.delete_one(
                {"_id": job_id, "owner": lease["owner"], "lease_until": lease["lease_until"]}
            )
            if deleted.deleted_count == 0:
                return False
        # A short lease of its own, so one recoverer handles the job even if two deleted leases.
        try:
            await self._leases.insert_one(
                {
                    "_id": job_id,
                    "owner": RECOVERY_PREFIX + job_id,
                    "lease_until": now + timedelta(seconds=lease_seconds),
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def _requeue(self, job: Job, message: str) -> Job:
        check_transition(job.state, JobState.QUEUED)
        queued = await self._write(
            job,
            state=JobState.QUEUED,
            stage=JobStage.QUEUED,
            progress=0.0,
            message=message,
            lease_owner=None,
            lease_until=None,
        )
        log.warning("job requeued", job_id=job.job_id, attempts=job.attempts, message=message)
        return queued

    async def _give_up(self, job: Job, max_attempts: int) -> Job:
        message = stopped_message(job.attempts, max_attempts)
        check_transition(job.state, JobState.FAILED)
        failed = await self._write(
            job,
            state=JobState.FAILED,
            stage=JobStage.DONE,
            message=message,
            lease_owner=None,
            lease_until=None,
        )
        await self._open.delete_one({"_id": job.key, "job_id": job.job_id})
        log.error("job failed", job_id=job.job_id, message=message)
        return failed

    # -- gateway reports -----------------------------------------------------------------------

    async def record_activation(self, event: ModelActivation) -> list[Job]:
        """Keeps a gateway's report for each job whose reserved version it concerns, and
        announces the jobs that published that version; returns those jobs.

        A redelivered report is kept once and announced again (the announcement may be the part
        that was lost).
        """
        announced = []
        report = ActivationReport.of(event)
        for version in versions_concerned(event):
            reservation = await self._versions.find_one({"_id": f"{event.model}@{version}"})
            if reservation is None:
                continue  # not a version a job of this store trained
            job_id = str(reservation["job_id"])
            with contextlib.suppress(DuplicateKeyError):
                await self._activations.insert_one(
                    {"_id": f"{job_id}/{report.event_id}", "job_id": job_id, **report.model_dump()}
                )
            # Read after the insert: a job finishing meanwhile either is seen finished here or
            # sees the report when it announces itself (see _announce).
            job = await self.get(job_id)
            if job is not None and job.result_version == version:
                await self._producer.publish(job_update(job, await self.activation(job)))
                announced.append(job)
        return announced

    # -- versions ------------------------------------------------------------------------------

    async def reserve_version(self, model: str, job_id: str, candidates: Iterable[str]) -> str:
        """The first of ``candidates`` no other run reserved, now reserved for ``job_id``.

        Each run reserves its own: a run that was cut short may have published its version.
        """
        for version in candidates:
            try:
                await self._versions.insert_one(
                    {
                        "_id": f"{model}@{version}",
                        "model": model,
                        "version": version,
                        "job_id": job_id,
                        "at": datetime.now(UTC),
                    }
                )
            except DuplicateKeyError:
                continue
            return version
        raise RuntimeError(f"no free version of {model} among the candidates")

    async def reserved_versions(self, model: str) -> list[str]:
        cursor = self._versions.find({"model": model}, {"version": 1})
        return [str(doc["version"]) async for doc in cursor]

    # -- writing -------------------------------------------------------------------------------

    async def _write(self, job: Job, *, now: datetime | None = None, **changes: Any) -> Job:
        new = Job.model_validate(
            {**job.model_dump(), **changes, "updated_at": now or datetime.now(UTC)}
        )
        job_update(new)  # validated before anything is written
        stored = _document(new)
        await self._jobs.update_one(
            {"_id": job.job_id}, {"$set": {k: v for k, v in stored.items() if k != "_id"}}
        )
        await self._announce(new)
        return new

    async def _announce(self, job: Job) -> None:
        activation = await self.activation(job)
        await self._producer.publish(job_update(job, activation))
        if activation is None:
            return
        # A report kept while this update was on its way is announced by its handler only if
        # the handler saw the job finished; announcing again when the view moved keeps the
        # last update on the (compacted) topic right either way.
        latest = await self.activation(job)
        if latest != activation:
            await self._producer.publish(job_update(job, latest))


def _document(job: Job) -> Document:
    # Triggers live in their own collection (joining never writes the job document).
    doc = job.model_dump(mode="python", exclude={"trigger_ids"})
    doc["state"] = job.state.value
    doc["stage"] = job.stage.value
    doc["request"] = job.request.model_dump(mode="json")
    return {"_id": job.job_id, **doc}


def _trigger_id(trigger_id: str, key: str) -> str:
    return f"{trigger_id}@{key}"


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
