"""The job service: retrain triggers become jobs, and a worker runs them one at a time.

- :meth:`TrainerService.on_trigger` (a consumer of ``retrain.triggers``): one request per model
  the trigger names, submitted to the store, which coalesces it with the model's open job.
- :meth:`TrainerService.on_activation` (a consumer of ``models.activations``): a gateway's
  report on a version a job published is kept for that job (``activations.py``).
- :meth:`TrainerService.work`: recovers the jobs of dead trainers, claims a queued job, runs its
  model's trainer while heartbeating the lease, and records the outcome. A version is published
  only after the whole run succeeded and the champion was beaten (and ``trainer.auto_publish``
  allows it); anything else publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from aiokafka import ConsumerRecord

from core.bus import EventProducer
from core.logging import get_logger
from core.objectstore import sha256_hex
from core.registry import ModelRegistry
from core.settings import Settings
from schemas import ActivationStatus, Event, ModelActivation
from schemas.catalog import TRAINER
from schemas.enums import JobStage, JobState, RetrainReason
from schemas.fields import TEXT_MAX_LENGTH
from schemas.manifest import SignerLike
from schemas.model_catalog import BASE_VERSION
from schemas.training import RetrainTrigger
from trainer.job_store import JobStore, LeaseLost
from trainer.jobs import Job, JobRequest
from trainer.personal_publish import (
    current_personal_version,
    personal_users_outside,
    publish_personal,
)
from trainer.pipeline import JobContext, JobFailed, Outcome
from trainer.publishing import next_versions, publish_outcome
from trainer.registry_of_trainers import TrainerDeps, TrainerRegistry
from trainer.telemetry import Telemetry

log = get_logger(__name__)
T = TypeVar("T")
Clock = Callable[[], float]


def requests_of(trigger: RetrainTrigger) -> list[JobRequest]:
    """One job request per model a trigger names."""
    return [
        JobRequest(
            model=model,
            reason=trigger.reason,
            user_id=trigger.user_id,
            trigger_id=trigger.trigger_id,
            requested_by=trigger.requested_by,
            figures=trigger.figures,
        )
        for model in trigger.models
    ]


def _text(message: str) -> str:
    return message if len(message) <= TEXT_MAX_LENGTH else message[: TEXT_MAX_LENGTH - 1] + "…"


class ProgressRecorder(Protocol):
    async def update(
        self, job_id: str, owner: str, *, stage: JobStage, progress: float, message: str = ""
    ) -> object: ...


class JobProgress:
    """The :class:`~trainer.pipeline.Progress` a trainer reports to: recorded and announced at
    most once per ``interval`` seconds, except that a new stage is always recorded."""

    def __init__(
        self,
        store: ProgressRecorder,
        job_id: str,
        owner: str,
        interval: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self._store, self._job_id, self._owner = store, job_id, owner
        self._interval, self._clock = interval, clock
        self._stage: JobStage | None = None
        self._last = float("-inf")

    async def __call__(self, stage: JobStage, fraction: float, message: str = "") -> None:
        now = self._clock()
        if stage == self._stage and now - self._last < self._interval:
            return
        self._stage, self._last = stage, now
        await self._store.update(
            self._job_id, self._owner, stage=stage, progress=fraction, message=_text(message)
        )


class TrainerService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        registry: ModelRegistry,
        trainers: TrainerRegistry,
        deps: TrainerDeps,
        producer: EventProducer,
        signer: SignerLike | None,
        *,
        owner: str,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = settings
        self.options = settings.trainer
        self.store = store
        self.registry = registry
        self.trainers = trainers
        self.deps = deps
        self.producer = producer
        self.signer = signer
        self.owner = owner
        self.telemetry = telemetry or Telemetry()
        # Set by a submission in this process: the idle worker looks at once, not at its next poll.
        self._wake = asyncio.Event()

    async def submit(self, request: JobRequest) -> tuple[Job, bool]:
        """The request as a job (new, or the open job it joined); see :meth:`JobStore.submit`."""
        job, created = await self.store.submit(request)
        if created:
            self._wake.set()
        return job, created

    # -- triggers ------------------------------------------------------------------------------

    async def on_trigger(self, event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if not isinstance(event, RetrainTrigger):
            return
        if not self.options.enabled:
            log.info("trigger ignored: trainer.enabled is false", trigger_id=event.trigger_id)
            return
        for request in requests_of(event):
            job, created = await self.submit(request)
            log.info(
                "trigger handled",
                trigger_id=event.trigger_id,
                model=request.model,
                job_id=job.job_id,
                created=created,
            )

    # -- gateway reports -----------------------------------------------------------------------

    async def on_activation(self, event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if not isinstance(event, ModelActivation):
            return
        for job in await self.store.record_activation(event):
            log.info(
                "gateway report kept",
                job_id=job.job_id,
                model=event.model,
                version=event.model_version,
                status=event.status.value,
                instance_id=event.instance_id,
            )
        if event.status is ActivationStatus.ACTIVATED and self.options.enabled:
            await self._refit_personal(event.model, event.model_version)

    async def _refit_personal(self, model: str, version: str) -> None:
        """Personal models live in one shared version's embedding space: once another version
        is active they are no longer used, so each is fitted again in the new one. One trigger
        per (user, version): every gateway instance reports the same activation."""
        for user_id in await personal_users_outside(self.deps.db, model, version):
            request = JobRequest(
                model=model,
                reason=RetrainReason.DRIFT,
                user_id=user_id,
                trigger_id="refit-" + sha256_hex(f"{model}@{version}/{user_id}".encode())[:32],
                requested_by=TRAINER,
            )
            job, created = await self.submit(request)
            log.info("personal model refit", job_id=job.job_id, created=created, version=version)

    # -- the worker ----------------------------------------------------------------------------

    async def work(self, stop: asyncio.Event) -> None:
        """Runs queued jobs one after another until ``stop`` is set."""
        while not stop.is_set():
            try:
                job = await self.next_job()
            except Exception:
                # The stores may be away for a moment (a restart): the next poll tries again.
                log.exception("worker poll failed")
                job = None
            if job is not None:
                try:
                    await self.run(job)
                except Exception:
                    # Recording the end failed (a store away): the lease runs out and the job is
                    # recovered, here or by another trainer.
                    log.exception("job left unrecorded", job_id=job.job_id)
                continue
            await self._idle(stop)

    async def _idle(self, stop: asyncio.Event) -> None:
        """Until ``stop``, a submission in this process, or ``poll_seconds``."""
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(
                waits, timeout=self.options.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        self._wake.clear()

    async def next_job(self, only: str | None = None) -> Job | None:
        """Recovers the jobs of dead trainers, then claims one queued job (or ``only``)."""
        for job in await self.store.recover(self.options.max_attempts, self.options.lease_seconds):
            if job.state.finished:
                self.telemetry.job_done(job.request.model, job.state, None)
        return await self.store.claim(self.owner, self.options.lease_seconds, only=only)

    async def run(self, job: Job) -> Job:
        """Runs a claimed job to its end; the job as it was left."""
        started = time.monotonic()
        bound = log.bind(job_id=job.job_id, model=job.request.model, attempt=job.attempts)
        try:
            finished = await self._run(job)
        except LeaseLost as exc:
            bound.warning("lease lost: another trainer recovered the job", error=str(exc))
            return await self.store.get(job.job_id) or job
        except asyncio.CancelledError:
            bound.warning("trainer stopping: the job goes back to the queue")
            with contextlib.suppress(LeaseLost):
                await self.store.release(job.job_id, self.owner, "requeued: the trainer stopped")
            raise
        except JobFailed as exc:
            bound.warning("job failed", reason=exc.reason, message=exc.message)
            finished = await self._finish_failed(job, f"{exc.reason}: {exc.message}")
        except Exception as exc:
            bound.error("job failed unexpectedly", traceback=traceback.format_exc())
            finished = await self._finish_failed(job, f"{type(exc).__name__}: {exc}")
        self.telemetry.job_done(job.request.model, finished.state, time.monotonic() - started)
        return finished

    async def _finish_failed(self, job: Job, message: str) -> Job:
        try:
            return await self.store.finish(job.job_id, self.owner, JobState.FAILED, _text(message))
        except LeaseLost:
            return await self.store.get(job.job_id) or job

    async def _run(self, job: Job) -> Job:
        trainer = self.trainers.create(job.request.model, self.deps)
        context = await self.context(job)
        progress = JobProgress(
            self.store, job.job_id, self.owner, self.options.progress_interval_seconds
        )
        outcome = await self._leased(job.job_id, trainer.train(context, progress))
        return await self._conclude(job, context, outcome, progress)

    async def context(self, job: Job) -> JobContext:
        """The version this job trains and the champion it must beat."""
        model, user_id = job.request.model, job.request.user_id
        active = await self.registry.active(model)
        # Versions are numbered per line: the shared model's, or one user's personal models.
        if user_id is None:
            known = [r.version for r in await self.registry.versions(model)]
        else:
            current = await current_personal_version(self.deps.db, model, user_id)
            known = [current] if current is not None else []
        known += await self.store.reserved_versions(job.key)
        version = await self.store.reserve_version(job.key, job.job_id, next_versions(known))
        return JobContext(
            job=job,
            version=version,
            champion_version=active.version if active is not None else BASE_VERSION,
        )

    async def _leased(self, job_id: str, training: Awaitable[T]) -> T:
        """Awaits ``training`` while renewing the lease; a lost lease cancels it."""
        task = asyncio.ensure_future(training)
        lost: list[LeaseLost] = []

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.options.heartbeat_seconds)
                try:
                    await self.store.heartbeat(job_id, self.owner, self.options.lease_seconds)
                except LeaseLost as exc:
                    lost.append(exc)
                    task.cancel()
                    return
                except Exception:
                    log.exception("heartbeat failed; retrying", job_id=job_id)

        beating = asyncio.create_task(beat())
        try:
            return await task
        except asyncio.CancelledError:
            if lost:
                raise lost[0] from None
            raise
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)

    async def _conclude(
        self, job: Job, context: JobContext, outcome: Outcome, progress: JobProgress
    ) -> Job:
        if outcome.promote and self.options.auto_publish:
            if self.signer is None:
                raise JobFailed("signing_key_missing", "auto_publish is on but no signing key")
            await progress(JobStage.PUBLISH, 0.98, f"publishing {context.version}")
            # Still this trainer's job right before anything becomes visible to gateways.
            await self.store.heartbeat(job.job_id, self.owner, self.options.lease_seconds)
            if job.request.user_id is None:
                await publish_outcome(
                    self.settings, job, context, outcome, self.signer, self.producer
                )
            else:
                await publish_personal(
                    self.deps.db, self.deps.objects, job, context, outcome, self.signer
                )
            summary = outcome.summary or f"published {context.version}"
            return await self._record(job, context, outcome, summary, published=True)
        why = " (not published: trainer.auto_publish is off)" if outcome.promote else ""
        return await self._record(job, context, outcome, outcome.summary + why, published=False)

    async def _record(
        self, job: Job, context: JobContext, outcome: Outcome, summary: str, *, published: bool
    ) -> Job:
        return await self.store.finish(
            job.job_id,
            self.owner,
            JobState.SUCCEEDED if published else JobState.SUCCEEDED_NOT_PROMOTED,
            _text(summary),
            metrics=dict(outcome.metrics),
            trained_version=context.version,
            result_version=context.version if published else None,
            snapshot_digest=outcome.snapshot_digest,
        )
