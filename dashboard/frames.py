"""Topic records as tables: the pure half of the dashboard (no Streamlit, no I/O).

Each function takes events as the live feed keeps them (oldest first) and returns a pandas
DataFrame the pages chart or show as it is. Rates over time come from the tumbling windows by
default: hopping windows overlap, so summing their volumes would count an attempt several times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import pandas as pd

from core.registry.store import ModelRecord
from schemas import (
    ActivationStatus,
    JobState,
    MetricDimension,
    MetricWindow,
    ModelActivation,
    TrainingJobUpdate,
    WindowKind,
)
from schemas.model_catalog import ModelRef
from schemas.training import JobActivation

RATES = ("accuracy", "far", "frr")
OPEN_STATES = frozenset({JobState.QUEUED, JobState.RUNNING})
TRAINED_STATES = frozenset({JobState.SUCCEEDED, JobState.SUCCEEDED_NOT_PROMOTED})


def _windows(
    metrics: Iterable[MetricWindow], dimension: MetricDimension, kind: WindowKind
) -> list[MetricWindow]:
    return [m for m in metrics if m.dimension is dimension and m.window_kind is kind]


def rates_by_model_version(
    metrics: Iterable[MetricWindow], kind: WindowKind = WindowKind.TUMBLING
) -> pd.DataFrame:
    """Accuracy, FAR and FRR per window end and model version (``name@version``); a rate is
    missing (NaN) where its window had no trial of that kind."""
    rows = [
        {
            "time": m.window_end,
            "model_version": m.dimension_value,
            "accuracy": m.accuracy,
            "far": m.far,
            "frr": m.frr,
            "labelled": m.counts.labelled,
        }
        for m in _windows(metrics, MetricDimension.MODEL_VERSION, kind)
    ]
    columns = ["time", "model_version", *RATES, "labelled"]
    return pd.DataFrame(rows, columns=columns).astype({r: "float64" for r in RATES})


def volume_by_terminal(
    metrics: Iterable[MetricWindow], kind: WindowKind = WindowKind.TUMBLING
) -> pd.DataFrame:
    """Attempts per window end and terminal."""
    rows = [
        {"time": m.window_end, "terminal": m.dimension_value, "attempts": m.counts.attempts}
        for m in _windows(metrics, MetricDimension.TERMINAL, kind)
    ]
    return pd.DataFrame(rows, columns=["time", "terminal", "attempts"])


def terminal_totals(volume: pd.DataFrame) -> pd.DataFrame:
    """Attempts per terminal over every window of ``volume``, the busiest first."""
    totals = volume.groupby("terminal", as_index=False)["attempts"].sum()
    return totals.sort_values(["attempts", "terminal"], ascending=[False, True], ignore_index=True)


def latest_accuracy(metrics: Sequence[MetricWindow]) -> MetricWindow | None:
    """The latest global window whose accuracy is defined (it had labelled attempts)."""
    windows = _windows(metrics, MetricDimension.GLOBAL, WindowKind.TUMBLING)
    defined = [m for m in windows if m.accuracy is not None]
    return max(defined, key=lambda m: m.window_end) if defined else None


def jobs_table(jobs: Iterable[TrainingJobUpdate]) -> pd.DataFrame:
    """One row per job, the most recently updated first."""
    rows = [
        {
            "job_id": j.job_id,
            "model": j.model,
            "user_id": j.user_id,
            "state": j.state.value,
            "stage": j.stage.value,
            "progress": j.progress,
            "version": j.result_version or j.trained_version,
            "in_production": in_production(j.activation),
            "updated_at": j.occurred_at,
            "message": j.message,
        }
        for j in sorted(jobs, key=lambda j: j.occurred_at, reverse=True)
    ]
    columns = [
        "job_id",
        "model",
        "user_id",
        "state",
        "stage",
        "progress",
        "version",
        "in_production",
        "updated_at",
        "message",
    ]
    return pd.DataFrame(rows, columns=columns)


def in_production(activation: JobActivation | None) -> str:
    """Where a job's published version stands on the gateways ("" before any report)."""
    if activation is None:
        return ""
    if activation.rolled_back_at is not None:
        return f"rolled back ({activation.rollback_reason})"
    if activation.rejected_at is not None:
        return f"refused ({activation.rejection_reason})"
    if activation.active:
        return "active"
    if activation.replaced_by is not None:
        return f"replaced by {activation.replaced_by}"
    return ""


def open_jobs(jobs: Iterable[TrainingJobUpdate]) -> list[TrainingJobUpdate]:
    """Queued and running jobs, the most recently updated first."""
    return sorted(
        (j for j in jobs if j.state in OPEN_STATES), key=lambda j: j.occurred_at, reverse=True
    )


def models_trained(jobs: Iterable[TrainingJobUpdate]) -> int:
    """Jobs that trained a version, promoted or not."""
    return sum(1 for j in jobs if j.state in TRAINED_STATES)


def rollbacks_table(activations: Iterable[ModelActivation]) -> pd.DataFrame:
    """Rollbacks reported by the gateways, the latest first."""
    rows = [
        {
            "at": a.occurred_at,
            "model": a.model,
            "version": a.model_version,
            "reason": a.reason,
            "back_to": a.previous_version,
            "instance": a.instance_id,
            "detail": a.detail or "",
        }
        for a in sorted(activations, key=lambda a: a.occurred_at, reverse=True)
        if a.status is ActivationStatus.ROLLED_BACK
    ]
    columns = ["at", "model", "version", "reason", "back_to", "instance", "detail"]
    return pd.DataFrame(rows, columns=columns)


def live_versions(activations: Iterable[ModelActivation]) -> pd.DataFrame:
    """Per model, the version the gateways' reports leave active: the last one activated, or
    the version a later rollback of it went back to."""
    current: dict[str, tuple[str, datetime, set[str]]] = {}
    for a in sorted(activations, key=lambda a: a.occurred_at):
        version, since, instances = current.get(a.model, ("", a.occurred_at, set()))
        if a.status is ActivationStatus.ACTIVATED:
            if a.model_version != version:
                since, instances = a.occurred_at, set()
            current[a.model] = (a.model_version, since, instances | {a.instance_id})
        elif a.status is ActivationStatus.ROLLED_BACK and a.model_version == version:
            back_to = a.previous_version or ""
            current[a.model] = (back_to, a.occurred_at, {a.instance_id})
    rows = [
        {
            "model": model,
            "version": version,
            "ref": str(ModelRef(name=model, version=version)) if version else "",
            "since": since,
            "instances": len(instances),
        }
        for model, (version, since, instances) in sorted(current.items())
    ]
    return pd.DataFrame(rows, columns=["model", "version", "ref", "since", "instances"])


def lineage_table(records: Iterable[ModelRecord]) -> pd.DataFrame:
    """The registry's versions with where each came from: the version it was trained from, the
    job that trained it and the data snapshot it saw (none for an imported or packaged one)."""
    rows = [
        {
            "model": r.name,
            "version": r.version,
            "status": r.status.value,
            "parent_version": r.manifest.parent_version,
            "training_job_id": r.manifest.training_job_id,
            "data_snapshot_id": r.manifest.data_snapshot_id,
            "published_at": r.published_at,
            "activated_at": r.activated_at,
            "reason": r.reason,
        }
        for r in sorted(records, key=lambda r: (r.name, r.published_at))
    ]
    columns = [
        "model",
        "version",
        "status",
        "parent_version",
        "training_job_id",
        "data_snapshot_id",
        "published_at",
        "activated_at",
        "reason",
    ]
    return pd.DataFrame(rows, columns=columns)


def percent(value: float | None) -> str:
    """A rate as the pages show it ("94.0%"), or a dash when it is undefined."""
    return "—" if value is None else f"{value:.1%}"
