"""Topic records → the dashboard's tables: rates per model version, volume per terminal, jobs,
rollbacks, the versions in production and the registry's lineage."""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta

from core.registry.store import ModelRecord, ModelStatus
from dashboard import frames
from schemas import ActivationStatus, JobState, MediaRef, MetricDimension, WindowKind
from schemas.training import JobActivation
from tests.dashboard_kit import T0, activation, job, window
from tests.registry_kit import good, manifest_for

MV = MetricDimension.MODEL_VERSION
TERMINAL = MetricDimension.TERMINAL


def test_rates_per_model_version_over_time_and_undefined_rates_stay_missing() -> None:
    metrics = [
        window(1, dimension=MV, value="voice-embedder@1.0.0", false_rejects=4, false_accepts=1),
        window(1, dimension=MV, value="voice-embedder@1.1.0", genuine=20, impostor=0),
        window(2, dimension=MV, value="voice-embedder@1.0.0", false_rejects=8),
        window(2, dimension=MV, value="x@1.0.0", kind=WindowKind.HOPPING),
        window(2),  # global: not a model version
    ]
    rates = frames.rates_by_model_version(metrics)
    assert list(rates["model_version"]) == [
        "voice-embedder@1.0.0",
        "voice-embedder@1.1.0",
        "voice-embedder@1.0.0",
    ]
    first = rates.iloc[0]
    assert math.isclose(first["accuracy"], 45 / 50)
    assert math.isclose(first["far"], 1 / 10) and math.isclose(first["frr"], 4 / 40)
    assert math.isnan(rates.iloc[1]["far"]) and rates.iloc[1]["frr"] == 0.0
    assert math.isclose(rates.iloc[2]["frr"], 8 / 40)
    assert list(rates["time"]) == [T0 + timedelta(minutes=m) for m in (1, 1, 2)]
    assert frames.rates_by_model_version([]).empty


def test_volume_per_terminal_and_totals_busiest_first() -> None:
    metrics = [
        window(1, dimension=TERMINAL, value="t-a", attempts=5),
        window(1, dimension=TERMINAL, value="t-b", attempts=30),
        window(2, dimension=TERMINAL, value="t-a", attempts=40),
        window(2, dimension=TERMINAL, value="t-b", attempts=99, kind=WindowKind.HOPPING),
    ]
    volume = frames.volume_by_terminal(metrics)
    assert list(zip(volume["terminal"], volume["attempts"], strict=True)) == [
        ("t-a", 5),
        ("t-b", 30),
        ("t-a", 40),
    ]
    totals = frames.terminal_totals(volume)
    assert totals.to_dict("records") == [
        {"terminal": "t-a", "attempts": 45},
        {"terminal": "t-b", "attempts": 30},
    ]


def test_the_latest_defined_global_accuracy() -> None:
    assert frames.latest_accuracy([]) is None
    metrics = [
        window(1, false_rejects=10),
        window(3, genuine=0, impostor=0, attempts=4),  # nothing labelled: undefined
        window(2, false_rejects=5),
    ]
    latest = frames.latest_accuracy(metrics)
    assert latest is not None and latest.accuracy == 45 / 50
    assert latest.window_end == T0 + timedelta(minutes=2)
    assert frames.percent(0.94) == "94.0%" and frames.percent(None) == "—"


def test_jobs_newest_first_with_where_their_version_stands() -> None:
    live = JobActivation(active=True, activated_at=T0, instances=["gw-1"])
    back = JobActivation(active=False, rolled_back_at=T0, rollback_reason="score_drift")
    jobs = [
        job(
            1, "job-old", JobState.SUCCEEDED, progress=1.0, result_version="1.1.0", activation=back
        ),
        job(3, "job-new", JobState.QUEUED, progress=0.0),
        job(
            2, "job-mid", JobState.SUCCEEDED, progress=1.0, result_version="1.2.0", activation=live
        ),
        job(4, "job-not", JobState.SUCCEEDED_NOT_PROMOTED, progress=1.0, trained_version="1.3.0"),
    ]
    table = frames.jobs_table(jobs)
    assert list(table["job_id"]) == ["job-not", "job-new", "job-mid", "job-old"]
    assert list(table["version"].fillna("")) == ["1.3.0", "", "1.2.0", "1.1.0"]
    assert list(table["in_production"]) == ["", "", "active", "rolled back (score_drift)"]
    assert [j.job_id for j in frames.open_jobs(jobs)] == ["job-new"]
    assert frames.models_trained(jobs) == 3


def test_rollbacks_latest_first_and_the_versions_they_leave_active() -> None:
    reports = [
        activation(1, "voice-embedder", "1.1.0", previous="1.0.0"),
        activation(1, "voice-embedder", "1.1.0", previous="1.0.0", instance="gw-2"),
        activation(2, "face-embedder", "1.1.0"),
        activation(
            4,
            "voice-embedder",
            "1.1.0",
            ActivationStatus.ROLLED_BACK,
            previous="1.0.0",
            reason="score_drift",
        ),
        activation(5, "face-embedder", "1.2.0", ActivationStatus.REJECTED, reason="canary"),
    ]
    rollbacks = frames.rollbacks_table(reports)
    assert rollbacks[["model", "version", "reason", "back_to"]].to_dict("records") == [
        {"model": "voice-embedder", "version": "1.1.0", "reason": "score_drift", "back_to": "1.0.0"}
    ]
    live = frames.live_versions(reports)
    assert live[["model", "version", "ref"]].to_dict("records") == [
        {"model": "face-embedder", "version": "1.1.0", "ref": "face-embedder@1.1.0"},
        {"model": "voice-embedder", "version": "1.0.0", "ref": "voice-embedder@1.0.0"},
    ]
    assert list(live["since"]) == [T0 + timedelta(minutes=2), T0 + timedelta(minutes=4)]
    before = frames.live_versions(reports[:2])
    assert list(before["instances"]) == [2]
    assert frames.rollbacks_table(reports[:3]).empty


def _record(version: str, status: ModelStatus, **lineage: str) -> ModelRecord:
    data = good(256)
    manifest = manifest_for(data, "voice-embedder", version, **lineage)
    ref = MediaRef.of(
        "models",
        f"voice-embedder/{version}/model.onnx",
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/onnx",
        size_bytes=len(data),
    )
    return ModelRecord(
        name="voice-embedder",
        version=version,
        status=status,
        manifest=manifest,
        artifact=ref,
        manifest_ref=ref,
        published_at=T0 + timedelta(minutes=int(version.split(".")[1])),
    )


def test_the_registry_lineage_of_each_version() -> None:
    records = [
        _record(
            "1.1.0",
            ModelStatus.ACTIVE,
            parent_version="1.0.0",
            training_job_id="job-7",
            data_snapshot_id="snap-7",
        ),
        _record("1.0.0", ModelStatus.RETIRED),
    ]
    lineage = frames.lineage_table(records)
    assert lineage.to_dict("records")[1] | {"published_at": None} == {
        "model": "voice-embedder",
        "version": "1.1.0",
        "status": "active",
        "parent_version": "1.0.0",
        "training_job_id": "job-7",
        "data_snapshot_id": "snap-7",
        "published_at": None,
        "activated_at": None,
        "reason": None,
    }
    assert list(lineage["version"]) == ["1.0.0", "1.1.0"]
