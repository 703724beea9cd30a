"""The envelope and the field-level validation of the events (no Kafka, no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from schemas import (
    AuthAttempt,
    AuthDecision,
    DeadLetter,
    Event,
    LockoutEvent,
    MediaRef,
    MetricCounts,
    MetricWindow,
    ModelActivation,
    ModelPublished,
    QualityReport,
    RetrainTrigger,
    TrainingJobUpdate,
    TrainingSampleCaptured,
)
from schemas.examples import example_events

SHA = "ab" * 32


def media(uri: str = "s3://samples/t1/a1/face.jpg", **changes: Any) -> MediaRef:
    fields: dict[str, Any] = {
        "uri": uri,
        "sha256": SHA,
        "content_type": "image/jpeg",
        "size_bytes": 10,
    }
    return MediaRef(**(fields | changes))


def attempt(**changes: Any) -> AuthAttempt:
    fields: dict[str, Any] = {
        "producer": "term-1",
        "attempt_id": "att-1",
        "terminal_id": "term-1",
        "user_id": "alice",
        "face": media(),
    }
    return AuthAttempt(**(fields | changes))


def example(cls: type[Event]) -> Event:
    return next(e for e in example_events() if type(e) is cls)


def changed(cls: type[Event], **changes: Any) -> Event:
    """Re-validate the example of ``cls`` with some fields changed."""
    return cls.model_validate(example(cls).model_dump() | changes)


# --- envelope ---------------------------------------------------------------------------------


def test_envelope_defaults_come_from_the_class() -> None:
    event = attempt()
    assert event.type == AuthAttempt.EVENT_TYPE == "auth.attempt"
    assert event.version == AuthAttempt.EVENT_VERSION == 1
    assert isinstance(event.event_id, UUID)
    assert event.occurred_at.tzinfo is not None
    assert abs(datetime.now(UTC) - event.occurred_at) < timedelta(minutes=1)
    assert attempt().event_id != event.event_id


def test_envelope_fields_come_first_and_payload_is_flat() -> None:
    dumped = attempt().model_dump()
    assert list(dumped)[:5] == ["event_id", "type", "version", "occurred_at", "producer"]
    assert "payload" not in dumped
    assert dumped["user_id"] == "alice"


@pytest.mark.parametrize("changes", [{"type": "auth.decision"}, {"version": 2}])
def test_type_and_version_must_match_the_class(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=next(iter(changes))):
        attempt(**changes)


def test_version_is_strictly_an_integer() -> None:
    with pytest.raises(ValidationError):
        AuthAttempt.model_validate(attempt().model_dump() | {"version": "1"})


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        attempt(occurred_at=datetime(2025, 1, 1, 12, 0))


def test_aware_datetime_is_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=2))
    event = attempt(occurred_at=datetime(2025, 6, 1, 14, 0, tzinfo=paris))
    assert event.occurred_at == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)
    assert '"occurred_at":"2025-06-01T12:00:00Z"' in event.model_dump_json()


def test_events_are_frozen_and_reject_unknown_fields() -> None:
    event = attempt()
    with pytest.raises(ValidationError):
        event.user_id = "mallory"
    with pytest.raises(ValidationError, match="Extra inputs"):
        attempt(payload={"user_id": "alice"})


def test_the_base_event_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Event(producer="x")


def test_a_concrete_event_must_declare_its_class_variables() -> None:
    with pytest.raises(TypeError, match="EVENT_TYPE"):

        class Nameless(Event):
            EVENT_VERSION = 1
            KEY_FIELD = "producer"


@pytest.mark.parametrize("bad", ["", " alice", "al ice", "a/b", "a" * 129, "é"])
def test_ids_are_non_empty_bounded_and_safe(bad: str) -> None:
    with pytest.raises(ValidationError):
        attempt(user_id=bad)


def test_nan_and_infinity_are_rejected() -> None:
    decision = example(AuthDecision).model_dump()
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            AuthDecision.model_validate(decision | {"latency_ms": bad})


# --- MediaRef ---------------------------------------------------------------------------------


def test_media_ref_parts() -> None:
    ref = media("s3://samples/term-1/att-1/face.jpg")
    assert (ref.bucket, ref.key) == ("samples", "term-1/att-1/face.jpg")
    assert (
        MediaRef.of(
            "samples", "term-1/att-1/face.jpg", sha256=SHA, content_type="image/jpeg", size_bytes=10
        )
        == ref
    )


@pytest.mark.parametrize(
    "uri",
    [
        "samples/face.jpg",
        "s3://samples",
        "s3://samples/",
        "s3://Samples/face.jpg",
        "s3://ab/face.jpg",
        "http://samples/face.jpg",
        "s3://samples/a//b.jpg",
        "s3://samples/../models/x.onnx",
        "s3://samples/a/./b",
        "s3://samples/a\\b",
        "s3://samples/a b.jpg",
        "s3://samples/a/b.jpg\n",
    ],
)
def test_media_ref_rejects_bad_uris(uri: str) -> None:
    with pytest.raises(ValidationError):
        media(uri)


@pytest.mark.parametrize(
    "changes",
    [
        {"sha256": "AB" * 32},
        {"sha256": "ab" * 31},
        {"sha256": "zz" * 32},
        {"size_bytes": -1},
        {"content_type": "jpeg"},
        {"content_type": "image/jpeg; q=1"},
    ],
)
def test_media_ref_rejects_bad_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        media(**changes)


# --- per-event invariants -------------------------------------------------------------------


def test_attempt_needs_some_media() -> None:
    with pytest.raises(ValidationError, match="voice or a face"):
        attempt(face=None)
    assert attempt(face=None, voice=media("s3://samples/t/a/voice.wav")).voice is not None


def test_non_accept_decision_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="at least one reason"):
        changed(AuthDecision, reasons=[])
    assert changed(AuthDecision, outcome="accept", reasons=[])


@pytest.mark.parametrize(
    "changes",
    [
        {"fused_score": 1.5},
        {"face_score": {"raw": 0.5, "calibrated": -0.1}},
        {"reasons": ["Face Mismatch"]},
        {"model_versions": {"face-embedder": "v1"}},
        {"latency_ms": -1.0},
    ],
)
def test_decision_field_validation(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        changed(AuthDecision, **changes)


def test_quality_report_needs_some_quality_and_scores_in_range() -> None:
    with pytest.raises(ValidationError, match="face or a voice"):
        changed(QualityReport, face=None, voice=None)
    report = example(QualityReport).model_dump()
    report["face"]["sharpness"] = 1.2
    with pytest.raises(ValidationError):
        QualityReport.model_validate(report)


def test_training_sample_media_and_quality_go_together() -> None:
    with pytest.raises(ValidationError, match="face_quality go together"):
        changed(TrainingSampleCaptured, face_quality=None)
    with pytest.raises(ValidationError, match="face or a voice"):
        changed(TrainingSampleCaptured, face=None, face_quality=None)


def test_metric_counts_are_coherent() -> None:
    with pytest.raises(ValidationError, match="false_accepts"):
        MetricCounts(
            attempts=10, labelled=5, genuine=3, impostor=2, false_accepts=3, false_rejects=0
        )
    with pytest.raises(ValidationError, match="labelled"):
        MetricCounts(
            attempts=10, labelled=4, genuine=3, impostor=2, false_accepts=0, false_rejects=0
        )


def test_metric_window_invariants() -> None:
    window = example(MetricWindow)
    assert isinstance(window, MetricWindow)
    with pytest.raises(ValidationError, match="window_end"):
        changed(MetricWindow, window_end=window.window_start)
    with pytest.raises(ValidationError, match="dimension_value"):
        changed(MetricWindow, dimension="global")
    assert changed(MetricWindow, dimension="global", dimension_value=None)
    counts = window.counts.model_dump() | {"impostor": 0, "false_accepts": 0}
    with pytest.raises(ValidationError, match="far is undefined"):
        changed(MetricWindow, counts=counts)
    assert changed(MetricWindow, counts=counts, far=None)


def test_retrain_trigger_invariants() -> None:
    with pytest.raises(ValidationError, match="repeat"):
        changed(RetrainTrigger, models=["face-embedder", "face-embedder"])
    with pytest.raises(ValidationError):
        changed(RetrainTrigger, models=[])
    with pytest.raises(ValidationError, match="user_id"):
        changed(RetrainTrigger, reason="user_sample_count", user_id=None)


def test_job_result_version_iff_succeeded() -> None:
    with pytest.raises(ValidationError, match="result_version"):
        changed(TrainingJobUpdate, result_version=None)
    with pytest.raises(ValidationError, match="result_version"):
        changed(TrainingJobUpdate, state="running", progress=0.4)
    with pytest.raises(ValidationError, match="says why"):
        changed(TrainingJobUpdate, state="failed", result_version=None, message="")
    with pytest.raises(ValidationError):
        changed(TrainingJobUpdate, progress=1.01)
    with pytest.raises(ValidationError, match="names the version"):
        changed(
            TrainingJobUpdate,
            state="succeeded-not-promoted",
            result_version=None,
            trained_version=None,
        )
    with pytest.raises(ValidationError, match="only a job that published"):
        changed(TrainingJobUpdate, state="succeeded-not-promoted", result_version=None)
    not_promoted = changed(
        TrainingJobUpdate, state="succeeded-not-promoted", result_version=None, activation=None
    )
    assert isinstance(not_promoted, TrainingJobUpdate)
    assert not_promoted.state.finished and not_promoted.result_version is None


@pytest.mark.parametrize("bad", ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0\n"])
def test_model_versions_are_semver(bad: str) -> None:
    with pytest.raises(ValidationError):
        changed(ModelActivation, model_version=bad)


def test_semver_accepts_prerelease_and_build() -> None:
    assert changed(ModelActivation, model_version="2.0.0-rc.1+build.7")


def test_published_model_files_follow_the_bucket_layout() -> None:
    published = example(ModelPublished)
    assert isinstance(published, ModelPublished)
    wrong = published.artifact.model_dump() | {"uri": "s3://models/voice-embedder/1.3.0/model.onnx"}
    with pytest.raises(ValidationError, match="artifact key"):
        changed(ModelPublished, artifact=wrong)
    with pytest.raises(ValidationError, match="sha256 differs"):
        changed(ModelPublished, sha256="0" * 64)
    with pytest.raises(ValidationError, match="own parent"):
        changed(ModelPublished, parent_version="1.3.0")
    with pytest.raises(ValidationError, match="base64"):
        changed(ModelPublished, signature="not base64!")
    with pytest.raises(ValidationError, match="padded"):
        changed(ModelPublished, signature="YWJj" + "ZA")


def test_io_spec_names_are_unique_and_dims_may_be_dynamic() -> None:
    io = example(ModelPublished).model_dump()["io"]
    io["outputs"].append(io["outputs"][0])
    with pytest.raises(ValidationError, match="outputs names"):
        changed(ModelPublished, io=io)
    io["outputs"].pop()
    io["inputs"][0]["shape"] = [None, "frames", 40]
    assert changed(ModelPublished, io=io)


def test_failed_activation_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        changed(ModelActivation, status="rolled_back", reason=None)


def test_lock_needs_until_and_unlock_has_none() -> None:
    with pytest.raises(ValidationError, match="until"):
        changed(LockoutEvent, until=None)
    with pytest.raises(ValidationError, match="until"):
        changed(LockoutEvent, action="unlock")
    assert changed(LockoutEvent, action="unlock", until=None, reason="admin")


def test_dead_letter_bytes_are_base64() -> None:
    with pytest.raises(ValidationError):
        changed(DeadLetter, original="%%%")
    with pytest.raises(ValidationError):
        changed(DeadLetter, headers=[["kl-type", "not base64"]])
