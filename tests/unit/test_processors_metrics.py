"""Definitions, the latency sketch and the pane accumulators of the stream processors."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from schemas import FeedbackLabel, MetricDimension, Outcome, WindowKind
from stream_processors.observations import (
    AttemptLabelled,
    DecisionObserved,
    QualityObserved,
    series_of,
)
from stream_processors.outcomes import verdict
from stream_processors.sketch import RELATIVE_ACCURACY, LatencySketch
from stream_processors.windows import (
    PaneAccumulator,
    bounded_identifier,
    metric_window,
    window_ends,
)

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize(
    ("outcome", "label", "fa", "fr", "correct"),
    [
        (Outcome.ACCEPT, FeedbackLabel.GENUINE, False, False, True),
        (Outcome.REJECT, FeedbackLabel.GENUINE, False, True, False),
        (Outcome.RETRY, FeedbackLabel.GENUINE, False, True, False),
        (Outcome.ACCEPT, FeedbackLabel.IMPOSTOR, True, False, False),
        (Outcome.ACCEPT, FeedbackLabel.ATTACK, True, False, False),
        (Outcome.REJECT, FeedbackLabel.ATTACK, False, False, True),
        (Outcome.RETRY, FeedbackLabel.IMPOSTOR, False, False, True),
    ],
)
def test_verdicts(
    outcome: Outcome, label: FeedbackLabel, fa: bool, fr: bool, correct: bool
) -> None:
    v = verdict(outcome, label)
    assert (v.false_accept, v.false_reject, v.correct) == (fa, fr, correct)


def test_sketch_quantiles_are_within_the_relative_accuracy() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(5.0, 0.8) for _ in range(5000)]
    sketch = LatencySketch()
    for v in values:
        sketch.add(v)
    for q in (0.01, 0.5, 0.95, 0.99, 1.0):
        exact = nearest_rank(values, q)
        got = sketch.quantile(q)
        assert got is not None
        assert abs(got - exact) <= RELATIVE_ACCURACY * exact * 1.0001


def test_sketch_merges_and_survives_json() -> None:
    a, b = LatencySketch(), LatencySketch()
    for v in (0.0, 10.0, 20.0):
        a.add(v)
    for v in (30.0, 40.0):
        b.add(v)
    a.merge(b)
    again = LatencySketch.model_validate_json(a.model_dump_json())
    assert again == a and again.count == 5
    assert again.quantile(0.2) == 0.0
    assert again.quantile(1.0) == pytest.approx(40.0, rel=RELATIVE_ACCURACY)
    assert LatencySketch().quantile(0.5) is None


def _decision(offset: int, latency: float = 100.0) -> DecisionObserved:
    return DecisionObserved(
        source="auth.decisions:0",
        offset=offset,
        event_time=T0,
        record_time=T0,
        terminal_id="term-1",
        model_versions={"face-embedder": "1.2.0"},
        outcome=Outcome.ACCEPT,
        latency_ms=latency,
    )


def _label(offset: int, outcome: Outcome, label: FeedbackLabel, score: float) -> AttemptLabelled:
    return AttemptLabelled(
        source="auth.feedback:0",
        offset=offset,
        event_time=T0,
        record_time=T0,
        terminal_id="term-1",
        model_versions={"face-embedder": "1.2.0"},
        outcome=outcome,
        label=label,
        fused_score=score,
    )


def test_accumulator_counts_and_rejects_what_it_applied_already() -> None:
    acc = PaneAccumulator()
    assert acc.apply(_decision(1, 100.0))
    assert acc.apply(_decision(2, 300.0))
    assert not acc.apply(_decision(2, 300.0)), "same source, kind and offset: a replay"
    assert not acc.apply(_decision(1, 100.0)), "behind the high mark: applied before"
    assert acc.apply(_label(2, Outcome.ACCEPT, FeedbackLabel.GENUINE, 0.9)), "other kind"
    assert acc.apply(_label(3, Outcome.RETRY, FeedbackLabel.GENUINE, 0.3))
    assert acc.apply(_label(4, Outcome.ACCEPT, FeedbackLabel.ATTACK, 0.7))
    assert acc.apply(_label(5, Outcome.REJECT, FeedbackLabel.IMPOSTOR, 0.1))
    assert (acc.attempts, acc.labelled, acc.genuine, acc.impostor) == (2, 4, 2, 2)
    assert (acc.false_accepts, acc.false_rejects) == (1, 1)
    assert acc.accuracy == 0.5

    window = metric_window(
        "model_version:face-embedder@1.2.0",
        WindowKind.TUMBLING,
        1_748_779_260,
        60,
        acc,
        producer="stream_processors",
    )
    assert window.dimension is MetricDimension.MODEL_VERSION
    assert window.dimension_value == "face-embedder@1.2.0"
    assert (window.far, window.frr, window.accuracy) == (0.5, 0.5, 0.5)
    assert window.mean_genuine_score == pytest.approx(0.6)
    assert window.mean_impostor_score == pytest.approx(0.4)
    assert window.latency_p50_ms == pytest.approx(100.0, rel=RELATIVE_ACCURACY)
    assert window.latency_p95_ms == pytest.approx(300.0, rel=RELATIVE_ACCURACY)
    assert window.mean_face_quality is None
    again = metric_window(
        "model_version:face-embedder@1.2.0",
        WindowKind.TUMBLING,
        1_748_779_260,
        60,
        acc,
        producer="stream_processors",
    )
    assert again.event_id == window.event_id, "a window published twice keeps its id"


def test_rates_are_undefined_without_trials_and_quality_is_averaged() -> None:
    acc = PaneAccumulator()
    for offset, (face, voice) in enumerate([(0.9, None), (0.7, 0.5), (None, 0.3)]):
        acc.apply(
            QualityObserved(
                source="auth.quality:1",
                offset=offset,
                event_time=T0,
                record_time=T0,
                terminal_id="term-2",
                face=face,
                voice=voice,
            )
        )
    window = metric_window(
        "terminal:term-2", WindowKind.HOPPING, 1_748_779_500, 300, acc, producer="p"
    )
    assert window.counts.attempts == 0 and window.accuracy is None
    assert window.far is None and window.frr is None and window.latency_p50_ms is None
    assert window.mean_face_quality == pytest.approx(0.8)
    assert window.mean_voice_quality == pytest.approx(0.4)


def test_series_of_an_observation() -> None:
    quality = QualityObserved(
        source="auth.quality:0", offset=0, event_time=T0, record_time=T0, terminal_id="t", face=0.5
    )
    assert series_of(quality) == ["global", "terminal:t"]
    assert series_of(_decision(0)) == [
        "global",
        "terminal:term-1",
        "model_version:face-embedder@1.2.0",
    ]


def test_window_ends_cover_exactly_the_windows_holding_a_pane() -> None:
    # Hopping 300 s every 60 s over 60 s panes: a pane is in five windows.
    assert list(window_ends(600, 60, 300, 60)) == [660, 720, 780, 840, 900]
    # Tumbling 60 s: one.
    assert list(window_ends(600, 60, 60, 60)) == [660]
    # Tumbling 120 s over 60 s panes: both panes of a window share its end.
    assert list(window_ends(600, 60, 120, 120)) == [720]
    assert list(window_ends(660, 60, 120, 120)) == [720]


def test_long_identifiers_are_bounded_deterministically() -> None:
    long = "model_version:" + "m" * 64 + "@" + "1.0.0-" + "a" * 58
    assert bounded_identifier("short") == "short"
    bounded = bounded_identifier(long)
    assert len(bounded) == 128 and bounded == bounded_identifier(long)
    assert bounded != bounded_identifier(long + "x")
