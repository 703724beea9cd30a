"""Stage 1, ``ingest``: the user-keyed inputs, one record at a time.

Its tables are changelogged on the partition of the record being handled (faust's rule), which
is the user's partition on every input topic: the join, the lockout counts and the sample
counts of a user all live where that user's records arrive.
"""

from __future__ import annotations

import time
from typing import Any

from core.logging import get_logger
from core.settings import ProcessorsSection
from schemas import (
    AuthDecision,
    AuthFeedback,
    DecodeError,
    Event,
    LockoutEvent,
    QualityReport,
    TrainingSampleCaptured,
    decode,
)
from stream_processors import join, lockouts, triggers
from stream_processors.idleness import IdleTracker
from stream_processors.observations import QualityObserved
from stream_processors.outputs import Outputs, record_headers
from stream_processors.tables import ModelTable
from stream_processors.telemetry import Liveness, Telemetry

log = get_logger(__name__)


class IngestStage:
    def __init__(
        self,
        cfg: ProcessorsSection,
        *,
        prefix: str,
        joins: ModelTable[join.JoinEntry],
        locks: ModelTable[lockouts.LockState],
        samples: ModelTable[triggers.SampleCount],
        outputs: Outputs,
        telemetry: Telemetry,
        liveness: Liveness,
    ) -> None:
        self.cfg = cfg
        self.prefix = prefix
        self.joins = joins
        self.locks = locks
        self.samples = samples
        self.outputs = outputs
        self.telemetry = telemetry
        self.liveness = liveness
        self.expiry = join.ExpiryIndex()
        self.idleness = IdleTracker(cfg.source_idle_wall_s, time.time())
        # Per partition: the latest event time seen (the join's expiry clock), last sweep.
        self._partition_clock: dict[int, float] = {}
        self._last_sweep: dict[int, float] = {}

    async def run(self, stream: Any) -> None:
        """The agent: every record is guarded, so one bad record cannot stop the stream."""
        with self.liveness.watch("ingest"):
            async for event in stream.events():
                started = time.perf_counter()
                await self.handle(event.message)
                elapsed = time.perf_counter() - started
                self.telemetry.handle_seconds.labels("ingest").observe(elapsed)

    async def handle(self, message: Any) -> None:
        self.liveness.handled()
        logical = message.topic.removeprefix(self.prefix)
        source = join.Source(topic=logical, partition=message.partition, offset=message.offset)
        if message.value is None and logical == "security.lockouts" and message.key:
            self._forget_user(bytes(message.key).decode("utf-8", "replace"))
            self.idleness.record(source.name, source.offset, None, time.time())
            return
        try:
            event = decode(logical, message.value, record_headers(message.headers))
        except DecodeError as exc:
            self.idleness.record(source.name, source.offset, None, time.time())
            await self.outputs.dead_letter(logical, message, exc)
            return
        at = event.decided_at if isinstance(event, AuthDecision) else event.occurred_at
        self.idleness.record(source.name, source.offset, at.timestamp(), time.time())
        try:
            await self._route(event, source, at.timestamp())
        except Exception as exc:  # a bug or a poison record must not stop the stream
            log.exception("ingest failed", topic=logical, offset=message.offset)
            await self.outputs.dead_letter(logical, message, exc)
            return
        self.telemetry.records.labels(logical, "handled").inc()
        try:
            self._sweep(source.partition)
        except Exception:  # forgetting entries later is harmless; losing the stream is not
            log.exception("join sweep failed", partition=source.partition)

    async def _route(self, event: Event, source: join.Source, at: float) -> None:
        if isinstance(event, AuthDecision):
            await self._on_decision(event, source)
        elif isinstance(event, AuthFeedback):
            key = join.join_key(event.user_id, event.attempt_id)
            entry, step, found = join.on_feedback(
                self.joins.get(key), event, source, self.cfg.join_expiry_s
            )
            await self.outputs.observe(found)
            self._save_join(key, entry, step)
        elif isinstance(event, QualityReport):
            await self.outputs.observe([_quality(event, source)])
        elif isinstance(event, TrainingSampleCaptured):
            await self._on_sample(event)
        elif isinstance(event, LockoutEvent):
            state = self.locks.get(event.user_id) or lockouts.LockState()
            new_state = lockouts.on_lockout_event(state, event, self.cfg)
            if new_state != state:
                self.locks.put(event.user_id, new_state)
        clock = self._partition_clock.get(source.partition, 0.0)
        self._partition_clock[source.partition] = max(clock, at)

    async def _on_decision(self, decision: AuthDecision, source: join.Source) -> None:
        key = join.join_key(decision.user_id, decision.attempt_id)
        entry, step, found = join.on_decision(
            self.joins.get(key), decision, source, self.cfg.join_expiry_s
        )
        state = self.locks.get(decision.user_id) or lockouts.LockState()
        new_state, lock = lockouts.on_decision(state, decision, self.cfg)
        await self.outputs.observe(found)
        if lock is not None:
            await self.outputs.publish_acked([lock])
            self.telemetry.lockouts.labels(lock.reason).inc()
            log.info("user locked", user_id=lock.user_id, until=lock.until, reason=lock.reason)
        if new_state != state:
            self.locks.put(decision.user_id, new_state)
        self._save_join(key, entry, step)

    async def _on_sample(self, sample: TrainingSampleCaptured) -> None:
        state = self.samples.get(sample.user_id) or triggers.SampleCount()
        new_state, trigger = triggers.count_sample(state, sample, self.cfg)
        if trigger is not None:
            await self.outputs.publish_acked([trigger])
            self.telemetry.triggers.labels(trigger.reason.value).inc()
            log.info("personal model triggered", user_id=sample.user_id, models=trigger.models)
        if new_state != state:
            self.samples.put(sample.user_id, new_state)

    def _forget_user(self, user_id: str) -> None:
        """An erased user (the gateway's tombstone on ``security.lockouts``): their lock state and
        sample count go, and so do their changelog entries. Open joins expire on their own."""
        self.locks.delete(user_id)
        self.samples.delete(user_id)
        self.telemetry.records.labels("security.lockouts", "erased_user").inc()
        log.info("user state erased")

    def _save_join(self, key: str, entry: join.JoinEntry, step: join.JoinStep) -> None:
        self.telemetry.join_steps.labels(step.value).inc()
        if step in {join.JoinStep.OPENED, join.JoinStep.MATCHED}:
            self.joins.put(key, entry)
            if step is join.JoinStep.OPENED:
                self.expiry.add(entry.partition, entry.expires_at, key)

    def _sweep(self, partition: int) -> None:
        """Forgets this partition's expired join entries (every few seconds, per partition).

        Runs while a record of that partition is being handled: faust writes the deletions to
        that partition of the changelog, which is where the entries live.
        """
        now_wall = time.monotonic()
        if now_wall - self._last_sweep.get(partition, 0.0) < self.cfg.sweep_interval_wall_s:
            return
        self._last_sweep[partition] = now_wall
        if not self.expiry.loaded(partition):
            self.expiry.load(
                partition,
                [(e.expires_at, k) for k, e in self.joins.items() if e.partition == partition],
            )
        clock = self._partition_clock.get(partition)
        if clock is None:
            return
        for key in self.expiry.due(partition, clock):
            entry = self.joins.get(key)
            if entry is None or entry.expires_at > clock:
                continue
            if not entry.matched:
                side = "decision" if entry.decision is not None else "feedback"
                self.telemetry.join_steps.labels(f"expired_{side}_only").inc()
            self.joins.delete(key)


def _quality(report: QualityReport, source: join.Source) -> QualityObserved:
    return QualityObserved(
        source=source.name,
        offset=source.offset,
        event_time=report.occurred_at,
        record_time=report.occurred_at,
        terminal_id=report.terminal_id,
        face=None if report.face is None else report.face.score,
        voice=None if report.voice is None else report.voice.score,
    )
