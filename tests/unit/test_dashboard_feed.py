"""The dashboard's feed state: records decoded with the schemas' codec, bad ones counted and
skipped, redeliveries and re-emitted windows kept once, memory bounded."""

from __future__ import annotations

from datetime import timedelta

from dashboard.feed_state import ACTIVATIONS, JOBS, METRICS, FeedState
from schemas import Event, JobState, MetricDimension, encode
from tests.dashboard_kit import activation, job, window


def ingest(state: FeedState, event: Event) -> None:
    encoded = encode(event)
    state.ingest(encoded.topic, encoded.key, encoded.value, encoded.headers)


def test_records_of_each_topic_are_decoded_and_kept_in_time_order() -> None:
    state = FeedState(history=100)
    ingest(state, window(2))
    ingest(state, window(1))
    ingest(state, activation(3, "voice-embedder", "1.1.0"))
    ingest(state, job(4, "job-a"))
    snap = state.snapshot()
    assert [m.window_end.minute for m in snap.metrics] == [1, 2]
    assert [a.model_version for a in snap.activations] == ["1.1.0"]
    assert [j.job_id for j in snap.jobs] == ["job-a"]
    assert snap.records == 4 and snap.skipped == {}


def test_bad_records_are_counted_by_reason_and_skipped() -> None:
    state = FeedState(history=100)
    good = encode(window(1))
    state.ingest(METRICS, None, b"[" * 100_000)
    state.ingest(METRICS, None, b"\xff\xfe not utf-8")
    state.ingest(METRICS, None, b'{"type": "nobody.knows", "version": 1}')
    state.ingest(JOBS, None, good.value, good.headers)  # a metric window on the jobs topic
    state.ingest(METRICS, None, good.value.replace(b'"accuracy":', b'"accuracy":7,"x":'))
    state.ingest(ACTIVATIONS, None, b"{}")
    state.ingest(METRICS, good.key, good.value, good.headers)
    snap = state.snapshot()
    assert snap.skipped == {"malformed": 3, "unknown_type": 1, "wrong_topic": 1, "invalid": 1}
    assert snap.skipped_total == 6 and snap.records == 7
    assert len(snap.metrics) == 1


def test_a_re_emitted_window_replaces_the_first_copy() -> None:
    state = FeedState(history=100)
    ingest(state, window(1, genuine=40))
    ingest(state, window(1, genuine=45))
    ingest(state, window(1, dimension=MetricDimension.TERMINAL, value="t-1"))
    snap = state.snapshot()
    assert len(snap.metrics) == 2
    assert [m.counts.genuine for m in snap.metrics if m.dimension_value is None] == [45]


def test_a_job_keeps_its_latest_update_and_an_older_replay_does_not_win() -> None:
    state = FeedState(history=100)
    done = job(5, "job-a", JobState.SUCCEEDED, progress=1.0, result_version="1.1.0")
    ingest(state, job(1, "job-a", JobState.QUEUED, progress=0.0))
    ingest(state, done)
    ingest(state, job(3, "job-a", JobState.RUNNING))
    (kept,) = state.snapshot().jobs
    assert kept.state is JobState.SUCCEEDED and kept.result_version == "1.1.0"


def test_a_redelivered_activation_is_kept_once() -> None:
    state = FeedState(history=100)
    report = activation(1, "face-embedder", "1.1.0")
    ingest(state, report)
    ingest(state, report)
    assert len(state.snapshot().activations) == 1


def test_a_tombstone_on_the_jobs_topic_erases_that_job() -> None:
    state = FeedState(history=100)
    ingest(state, job(1, "job-a"))
    ingest(state, job(1, "job-b"))
    state.ingest(JOBS, b"job-a", None)
    state.ingest(METRICS, b"auth:x", None)
    snap = state.snapshot()
    assert [j.job_id for j in snap.jobs] == ["job-b"]
    assert snap.skipped == {"malformed": 1}


def test_memory_is_bounded_and_the_oldest_go_first() -> None:
    state = FeedState(history=10)
    for minute in range(25):
        ingest(state, window(minute))
        ingest(state, job(minute, f"job-{minute}"))
    snap = state.snapshot()
    assert [m.window_end for m in snap.metrics] == [window(m).window_end for m in range(15, 25)]
    assert [j.job_id for j in snap.jobs] == [f"job-{m}" for m in range(15, 25)]
    assert snap.metrics[-1].window_end - snap.metrics[0].window_end == timedelta(minutes=9)


def test_the_connection_state_is_reported() -> None:
    state = FeedState(history=10)
    assert state.snapshot().connected is False
    state.connection(False, "KafkaConnectionError: no broker")
    assert state.snapshot().error == "KafkaConnectionError: no broker"
    state.connection(True)
    snap = state.snapshot()
    assert snap.connected and snap.error is None
