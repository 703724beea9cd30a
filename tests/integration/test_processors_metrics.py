"""A scripted stream of decisions, feedback and quality gives the window metrics computed here
independently; bad records go to the dead-letter topic."""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bench.support.synthetic import decision, feedback, quality
from core.bus import EventProducer
from core.kafka_client import client_options
from core.settings import Settings
from schemas import (
    AuthDecision,
    DeadLetter,
    Event,
    FeedbackLabel,
    MetricWindow,
    Outcome,
    WindowKind,
    encode,
)
from schemas.model_catalog import ModelRef
from tests.integration.test_processors_support import (
    base_time,
    flush,
    publish_all,
    read_events,
    running_worker,
    wait_caught_up,
    worker_settings,
)

pytestmark = pytest.mark.integration

MODEL_SETS = [
    {"face-embedder": "1.2.0", "voice-embedder": "1.0.0"},
    {"face-embedder": "1.3.0", "voice-embedder": "1.0.0"},
]
WINDOWS = {WindowKind.TUMBLING: (60, 60), WindowKind.HOPPING: (300, 60)}


@dataclass
class Scripted:
    attempt_id: str
    user: str
    terminal: str
    models: dict[str, str]
    outcome: Outcome
    decided_at: datetime
    latency_ms: float
    score: float
    label: FeedbackLabel | None
    feedback_at: datetime | None
    feedback_first: bool
    face: float | None
    voice: float | None


def script(start: datetime, n: int = 160) -> list[Scripted]:
    rng = random.Random(11)
    out = []
    for i in range(n):
        decided = start + timedelta(seconds=rng.uniform(0, 360))
        label = rng.choice(
            [*[FeedbackLabel.GENUINE] * 6, FeedbackLabel.IMPOSTOR, FeedbackLabel.ATTACK, None]
        )
        with_quality = rng.random() < 0.7
        out.append(
            Scripted(
                attempt_id=f"att-{i}",
                user=f"user-{rng.randrange(20)}",
                terminal=rng.choice(["term-a", "term-b"]),
                models=rng.choice(MODEL_SETS),
                outcome=rng.choice([*[Outcome.ACCEPT] * 6, *[Outcome.REJECT] * 3, Outcome.RETRY]),
                decided_at=decided,
                latency_ms=rng.lognormvariate(5.2, 0.5),
                score=rng.random(),
                label=label,
                feedback_at=None
                if label is None
                else decided + timedelta(seconds=rng.uniform(0.5, 90)),
                feedback_first=rng.random() < 0.3,
                face=round(rng.random(), 3) if with_quality else None,
                voice=round(rng.random(), 3) if with_quality and rng.random() < 0.5 else None,
            )
        )
    return out


def series_of(a: Scripted) -> list[tuple[str, str | None]]:
    return [
        ("global", None),
        ("terminal", a.terminal),
        *(("model_version", str(ModelRef(name=m, version=v))) for m, v in a.models.items()),
    ]


def expected_windows(
    attempts: list[Scripted], last_end: datetime
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Figures per (dimension, value, kind, window end), straight from the definitions."""
    figures: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {
            "attempts": 0,
            "labelled": 0,
            "genuine": 0,
            "impostor": 0,
            "fa": 0,
            "fr": 0,
            "latency": [],
            "genuine_scores": [],
            "impostor_scores": [],
            "face": [],
            "voice": [],
        }
    )

    def windows_at(t: datetime, kind: WindowKind) -> list[int]:
        size, step = WINDOWS[kind]
        ts = t.timestamp()
        first = math.floor(ts / step) * step + step
        return [
            e
            for e in range(first, math.floor((ts + size) / step) * step + 1, step)
            if e - size <= ts < e <= last_end.timestamp()
        ]

    for a in attempts:
        for kind in WINDOWS:
            for dim, value in series_of(a):
                for end in windows_at(a.decided_at, kind):
                    f = figures[(dim, value, kind, end)]
                    f["attempts"] += 1
                    f["latency"].append(a.latency_ms)
            for dim, value in series_of(a)[:2]:
                if a.face is None and a.voice is None:
                    continue
                for end in windows_at(a.decided_at, kind):
                    f = figures[(dim, value, kind, end)]
                    f["face"] += [a.face] if a.face is not None else []
                    f["voice"] += [a.voice] if a.voice is not None else []
            if a.label is None or a.feedback_at is None:
                continue
            joined_at = max(a.decided_at, a.feedback_at)
            genuine = a.label is FeedbackLabel.GENUINE
            accepted = a.outcome is Outcome.ACCEPT
            for dim, value in series_of(a):
                for end in windows_at(joined_at, kind):
                    f = figures[(dim, value, kind, end)]
                    f["labelled"] += 1
                    if genuine:
                        f["genuine"] += 1
                        f["fr"] += not accepted
                        f["genuine_scores"].append(a.score)
                    else:
                        f["impostor"] += 1
                        f["fa"] += accepted
                        f["impostor_scores"].append(a.score)
    return figures


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def event_time(event: Event) -> datetime:
    return event.decided_at if isinstance(event, AuthDecision) else event.occurred_at


def events_of(a: Scripted) -> tuple[list[Event], list[Event]]:
    """(what to publish first, what to publish after)."""
    d = decision(
        a.attempt_id,
        a.user,
        a.decided_at,
        a.outcome,
        terminal_id=a.terminal,
        latency_ms=a.latency_ms,
        fused_score=a.score,
        models=a.models,
    )
    first: list[Event] = []
    then: list[Event] = [d]
    if a.face is not None or a.voice is not None:
        then.append(
            quality(
                a.attempt_id,
                a.user,
                a.decided_at,
                face=a.face,
                voice=a.voice,
                terminal_id=a.terminal,
            )
        )
    if a.label is not None and a.feedback_at is not None:
        fb = feedback(a.attempt_id, a.user, a.feedback_at, a.label, terminal_id=a.terminal)
        (first if a.feedback_first else then).append(fb)
    return first, then


async def test_scripted_stream_yields_the_expected_windows(
    topics: Settings, producer: EventProducer, tmp_path: Path
) -> None:
    start = base_time()
    attempts = script(start)
    settings = worker_settings(topics, app_id=f"metrics-{uuid.uuid4().hex[:6]}")
    firsts: list[Event] = []
    thens: list[Event] = []
    for a in attempts:
        first, then = events_of(a)
        firsts += first
        thens += then
    # A gateway publishes as it decides: in event-time order (within the allowed lateness).
    thens.sort(key=event_time)

    async with running_worker(settings, tmp_path):
        # Feedback that arrives before its decision, then everything else, then two bad records.
        await publish_all(producer, firsts)
        await wait_caught_up(settings)
        await publish_all(producer, thens)
        garbage = b"\x00\xffnot json"
        wrong_version = json.loads(encode(thens[0]).value)
        wrong_version.update(version=99, event_id=str(uuid.uuid4()))
        await producer.publish_raw("auth.decisions", garbage, key=b"user-1")
        await producer.publish_raw(
            "auth.decisions", json.dumps(wrong_version).encode(), key=b"user-1"
        )
        await wait_caught_up(settings)
        flush_at = start + timedelta(minutes=20)
        await flush(producer, settings, flush_at)

        last_end = flush_at - timedelta(seconds=settings.processors.allowed_lateness_s)
        want = expected_windows(attempts, last_end)
        got_events = await read_events(topics, "metrics", at_least=len(want))

    got: dict[tuple[Any, ...], MetricWindow] = {}
    for event in got_events:
        assert isinstance(event, MetricWindow)
        if event.window_end <= last_end:  # the flush's own windows may close too
            key = (
                event.dimension.value,
                event.dimension_value,
                event.window_kind,
                int(event.window_end.timestamp()),
            )
            assert key not in got, f"window emitted twice: {key}"
            got[key] = event
    got = {k: v for k, v in got.items() if "flush" not in str(v.dimension_value)}
    assert set(got) == set(want)
    assert len(want) > 50  # the script spans enough windows to mean something
    for key, f in want.items():
        w = got[key]
        c = w.counts
        assert (
            c.attempts,
            c.labelled,
            c.genuine,
            c.impostor,
            c.false_accepts,
            c.false_rejects,
        ) == (f["attempts"], f["labelled"], f["genuine"], f["impostor"], f["fa"], f["fr"]), key
        assert w.window_size_s == WINDOWS[key[2]][0]
        assert w.accuracy == (
            pytest.approx((f["labelled"] - f["fa"] - f["fr"]) / f["labelled"])
            if f["labelled"]
            else None
        )
        assert w.far == (pytest.approx(f["fa"] / f["impostor"]) if f["impostor"] else None)
        assert w.frr == (pytest.approx(f["fr"] / f["genuine"]) if f["genuine"] else None)
        assert w.mean_genuine_score == pytest.approx(mean(f["genuine_scores"]))
        assert w.mean_impostor_score == pytest.approx(mean(f["impostor_scores"]))
        assert w.mean_face_quality == pytest.approx(mean(f["face"]))
        assert w.mean_voice_quality == pytest.approx(mean(f["voice"]))
        if f["latency"]:
            for got_q, q in ((w.latency_p50_ms, 0.5), (w.latency_p95_ms, 0.95)):
                assert got_q == pytest.approx(nearest_rank(f["latency"], q), rel=0.021), key
        else:
            assert w.latency_p50_ms is None

    # A terminal shows on its own series, and quality only where reports came in.
    assert {k[1] for k in got if k[0] == "terminal"} == {"term-a", "term-b"}
    assert {k[1] for k in got if k[0] == "model_version"} == {
        "face-embedder@1.2.0",
        "face-embedder@1.3.0",
        "voice-embedder@1.0.0",
    }

    letters = await read_events(topics, "deadletter", at_least=2)
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    assert sorted(letter.error_reason for letter in letters) == ["malformed", "unknown_version"]  # type: ignore[attr-defined]
    assert {letter.consumer_group for letter in letters} == {  # type: ignore[attr-defined]
        f"{topics.kafka.topic_prefix}{settings.processors.app_id}"
    }

    # Faust declared its internal and changelog topics itself, under the namespace.
    admin = AIOKafkaAdminClient(**client_options(topics))
    await admin.start()
    try:
        names = set(await admin.list_topics())
    finally:
        await admin.close()
    app = f"{topics.kafka.topic_prefix}{settings.processors.app_id}"
    assert {f"{app}-observations", f"{app}-panes-changelog", f"{app}-joins-changelog"} <= names
