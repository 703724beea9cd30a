"""Retrain triggers: accuracy incidents per model version, and per-user personalisation.

Accuracy incidents
    Each closed window of the kind ``trigger_window`` for a model version is one reading. A
    reading counts only with at least ``min_labelled`` labelled attempts; a thinner window
    changes nothing. The per-version state machine:

    - healthy → **degraded** when accuracy < ``accuracy_threshold`` (an incident starts);
    - degraded → **healthy** when accuracy >= ``recovery_accuracy`` (hysteresis: between the
      two thresholds the state stays what it was, so a model hovering at the threshold is one
      incident, not many);
    - an incident fires one trigger, when it starts, unless the model (by name, any version)
      fired less than ``trigger_cooldown_s`` before (window end to window end); a suppressed
      incident fires at its first low reading after the cool-down, if it is still going on.

    Versions whose incidents fire at the same window end share one ``RetrainTrigger`` naming
    every such model, worst accuracy first (the first model is the partition key). Its id is
    derived from the window end and the models, so a trigger published again after a crash
    keeps its ``trigger_id`` and ``event_id``.

Personalisation
    A user's distinct curated samples that carry a voice (``training.samples``, deduplicated by
    ``sample_id``) are counted; at ``personalisation_samples`` one per-user trigger for
    ``personal_model`` is emitted, once per user.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from core.settings import ProcessorsSection
from schemas import RetrainReason, RetrainTrigger, TrainingSampleCaptured
from schemas.model_catalog import ModelRef
from stream_processors.outcomes import rate
from stream_processors.windows import EVENT_NAMESPACE, PaneAccumulator, bounded_identifier, utc


class VersionHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    degraded: bool = False
    triggered: bool = False  # the current incident has fired its trigger


class ModelWatch(BaseModel):
    """Incident state of one model (by name), across its versions."""

    model_config = ConfigDict(extra="forbid")

    versions: dict[str, VersionHealth] = Field(default_factory=dict)
    last_trigger_end: int | None = None
    triggers: int = 0


@dataclass(frozen=True, slots=True)
class Firing:
    model: str
    version: str
    acc: PaneAccumulator


def read_window(
    watch: ModelWatch, version: str, acc: PaneAccumulator, end: int, cfg: ProcessorsSection
) -> bool:
    """Feeds one closed window to the watch (mutated); True if the model fires now."""
    accuracy = acc.accuracy
    if acc.labelled < cfg.min_labelled or accuracy is None:
        return False
    health = watch.versions.setdefault(version, VersionHealth())
    if accuracy >= cfg.recovery_accuracy:
        health.degraded = health.triggered = False
        return False
    if accuracy >= cfg.accuracy_threshold:
        return False
    if not health.degraded:
        health.degraded, health.triggered = True, False
    cooled = (
        watch.last_trigger_end is None or end - watch.last_trigger_end >= cfg.trigger_cooldown_s
    )
    if health.triggered or not cooled:
        return False
    health.triggered = True
    watch.last_trigger_end = end
    watch.triggers += 1
    return True


def accuracy_trigger(
    firings: list[Firing], end: int, size_s: int, cfg: ProcessorsSection
) -> RetrainTrigger:
    """One trigger for every model that fired at this window end."""
    ranked = sorted(firings, key=lambda f: (f.acc.accuracy or 0.0, f.model))
    # RetrainTrigger names at most 8 models; the worst ones come first.
    models = list(dict.fromkeys(f.model for f in ranked))[:8]
    worst = ranked[0].acc
    figures: dict[str, float] = {
        "accuracy": worst.accuracy or 0.0,
        "labelled": float(worst.labelled),
        "threshold": cfg.accuracy_threshold,
        "recovery_threshold": cfg.recovery_accuracy,
        "min_labelled": float(cfg.min_labelled),
        "window_start_s": float(end - size_s),
        "window_end_s": float(end),
        "window_size_s": float(size_s),
    }
    far, frr = rate(worst.false_accepts, worst.impostor), rate(worst.false_rejects, worst.genuine)
    if far is not None:
        figures["far"] = far
    if frr is not None:
        figures["frr"] = frr
    for firing in ranked:
        if firing.model in models:
            figures.setdefault(f"accuracy_{_code(firing.model)}", firing.acc.accuracy or 0.0)
    versions = ",".join(sorted(str(ModelRef(name=f.model, version=f.version)) for f in firings))
    digest = hashlib.sha256(versions.encode()).hexdigest()[:12]
    trigger_id = f"accuracy-{utc(end):%Y%m%dT%H%M%SZ}-{digest}"
    return RetrainTrigger(
        event_id=uuid.uuid5(EVENT_NAMESPACE, f"trigger|{trigger_id}"),
        occurred_at=utc(end),
        producer=cfg.producer_id,
        trigger_id=trigger_id,
        models=models,
        reason=RetrainReason.ACCURACY_DROP,
        figures=figures,
        requested_by=cfg.producer_id,
    )


def _code(model: str) -> str:
    # Model names may hold '-', which figure codes may not.
    return model.replace("-", "_")


class SampleCount(BaseModel):
    """Per user: the distinct voice samples seen, until the personal model is triggered."""

    model_config = ConfigDict(extra="forbid")

    sample_ids: list[str] = Field(default_factory=list)
    triggered: bool = False


def count_sample(
    state: SampleCount, sample: TrainingSampleCaptured, cfg: ProcessorsSection
) -> tuple[SampleCount, RetrainTrigger | None]:
    """The new state and, at the threshold, the user's personalisation trigger."""
    if state.triggered or sample.voice is None or sample.sample_id in state.sample_ids:
        return state, None
    ids = [*state.sample_ids, sample.sample_id]
    if len(ids) < cfg.personalisation_samples:
        return SampleCount(sample_ids=ids), None
    return SampleCount(triggered=True), personal_trigger(
        sample.user_id, len(ids), sample.occurred_at, cfg
    )


def personal_trigger(
    user_id: str, samples: int, at: datetime, cfg: ProcessorsSection
) -> RetrainTrigger:
    trigger_id = bounded_identifier(f"personal-{cfg.personal_model}-{user_id}")
    return RetrainTrigger(
        event_id=uuid.uuid5(EVENT_NAMESPACE, f"trigger|{trigger_id}"),
        occurred_at=at,
        producer=cfg.producer_id,
        trigger_id=trigger_id,
        models=[cfg.personal_model],
        reason=RetrainReason.USER_SAMPLE_COUNT,
        user_id=user_id,
        figures={"samples": float(samples), "threshold": float(cfg.personalisation_samples)},
        requested_by=cfg.producer_id,
    )
