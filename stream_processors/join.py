"""Stage 1: the ground-truth join of ``auth.decisions`` with ``auth.feedback`` by attempt.

Both topics are keyed by user, so a decision and its feedback land on the same partition
number; the join entry lives in a table changelogged on that partition, keyed by
``user_id/attempt_id`` (feedback naming another user's attempt never matches it).

Either side may come first. The first decision of an attempt is observed at once (volume,
latency); when both sides are there the attempt is labelled, at the later of the two event
times. Unmatched entries, and matched ones kept to recognise repeats, are forgotten
``join_expiry_s`` of event time after the entry was opened (by the partition's event clock).

Repeats
    The same record processed again (same topic, partition, offset: a replay after a crash)
    yields its observations again, because whether they reached stage 2 before the crash is
    unknown; stage 2 drops what it has already applied. A different record for an attempt
    that already has that side (a producer retry, a second opinion) is a duplicate: ignored,
    so the first decision and the first feedback win.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from schemas import AuthDecision, AuthFeedback, FeedbackLabel, Outcome
from stream_processors.observations import AttemptLabelled, DecisionObserved, Fact
from stream_processors.windows import epoch

_CONFIG = ConfigDict(frozen=True, extra="forbid")


class Source(BaseModel):
    """Where a record was read: the replay-proof identity of what it produced."""

    model_config = _CONFIG

    topic: str
    partition: int
    offset: int

    @property
    def name(self) -> str:
        return f"{self.topic}:{self.partition}"


class DecisionSide(BaseModel):
    model_config = _CONFIG

    terminal_id: str
    outcome: Outcome
    model_versions: dict[str, str]
    fused_score: float | None
    latency_ms: float
    decided_at: datetime
    source: Source


class FeedbackSide(BaseModel):
    model_config = _CONFIG

    label: FeedbackLabel
    occurred_at: datetime
    source: Source


class JoinEntry(BaseModel):
    model_config = _CONFIG

    partition: int
    expires_at: float  # event time, epoch seconds
    decision: DecisionSide | None = None
    feedback: FeedbackSide | None = None
    completed_by: Source | None = None

    @property
    def matched(self) -> bool:
        return self.decision is not None and self.feedback is not None


class JoinStep(StrEnum):
    OPENED = "opened"  # first side of an attempt
    MATCHED = "matched"  # second side: the attempt is labelled
    REPLAYED = "replayed"
    DUPLICATE = "duplicate"


def join_key(user_id: str, attempt_id: str) -> str:
    # '/' cannot occur in an Identifier, so the key is unambiguous.
    return f"{user_id}/{attempt_id}"


def _opened(source: Source, at: datetime, expiry_s: float) -> JoinEntry:
    return JoinEntry(partition=source.partition, expires_at=epoch(at) + expiry_s)


def on_decision(
    entry: JoinEntry | None, decision: AuthDecision, source: Source, expiry_s: float
) -> tuple[JoinEntry, JoinStep, list[Fact]]:
    """The entry after the decision, what happened, and the observations to emit."""
    entry = entry or _opened(source, decision.decided_at, expiry_s)
    if entry.decision is not None:
        if entry.decision.source != source:
            return entry, JoinStep.DUPLICATE, []
        return entry, JoinStep.REPLAYED, _decision_observations(entry, source)
    side = DecisionSide(
        terminal_id=decision.terminal_id,
        outcome=decision.outcome,
        model_versions=dict(decision.model_versions),
        fused_score=decision.fused_score,
        latency_ms=decision.latency_ms,
        decided_at=decision.decided_at,
        source=source,
    )
    entry = entry.model_copy(update={"decision": side})
    step = JoinStep.OPENED
    if entry.feedback is not None:
        entry = entry.model_copy(update={"completed_by": source})
        step = JoinStep.MATCHED
    return entry, step, _decision_observations(entry, source)


def on_feedback(
    entry: JoinEntry | None, feedback: AuthFeedback, source: Source, expiry_s: float
) -> tuple[JoinEntry, JoinStep, list[Fact]]:
    entry = entry or _opened(source, feedback.occurred_at, expiry_s)
    if entry.feedback is not None:
        if entry.feedback.source != source:
            return entry, JoinStep.DUPLICATE, []
        return entry, JoinStep.REPLAYED, _labels(entry, source)
    side = FeedbackSide(label=feedback.label, occurred_at=feedback.occurred_at, source=source)
    entry = entry.model_copy(update={"feedback": side})
    if entry.decision is None:
        return entry, JoinStep.OPENED, []
    entry = entry.model_copy(update={"completed_by": source})
    return entry, JoinStep.MATCHED, _labels(entry, source)


def _decision_observations(entry: JoinEntry, source: Source) -> list[Fact]:
    side = entry.decision
    assert side is not None
    observed = DecisionObserved(
        source=source.name,
        offset=source.offset,
        event_time=side.decided_at,
        record_time=side.decided_at,
        terminal_id=side.terminal_id,
        model_versions=side.model_versions,
        outcome=side.outcome,
        latency_ms=side.latency_ms,
    )
    return [observed, *_labels(entry, source)]


def _labels(entry: JoinEntry, source: Source) -> list[Fact]:
    """The labelled attempt, if this record is the one that completed the join."""
    if entry.completed_by != source or entry.decision is None or entry.feedback is None:
        return []
    decision, feedback = entry.decision, entry.feedback
    return [
        AttemptLabelled(
            source=source.name,
            offset=source.offset,
            event_time=max(decision.decided_at, feedback.occurred_at),
            record_time=decision.decided_at if source == decision.source else feedback.occurred_at,
            terminal_id=decision.terminal_id,
            model_versions=decision.model_versions,
            outcome=decision.outcome,
            label=feedback.label,
            fused_score=decision.fused_score,
        )
    ]


class ExpiryIndex:
    """In-memory index of join entries by expiry, per partition.

    Not persisted: after a restart or a rebalance, a partition's index is rebuilt from the
    (recovered) table the first time that partition is swept.
    """

    def __init__(self) -> None:
        self._heaps: dict[int, list[tuple[float, str]]] = {}

    def loaded(self, partition: int) -> bool:
        return partition in self._heaps

    def load(self, partition: int, entries: list[tuple[float, str]]) -> None:
        heap = list(entries)
        heapq.heapify(heap)
        self._heaps[partition] = heap

    def add(self, partition: int, expires_at: float, key: str) -> None:
        if partition in self._heaps:
            heapq.heappush(self._heaps[partition], (expires_at, key))

    def due(self, partition: int, now: float) -> list[str]:
        """Keys whose entry may have expired at ``now`` (check the entry: it may be newer)."""
        heap = self._heaps.get(partition, [])
        keys = []
        while heap and heap[0][0] <= now:
            keys.append(heapq.heappop(heap)[1])
        return keys

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self._heaps.pop(partition, None)
