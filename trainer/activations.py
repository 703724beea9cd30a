"""Where a job's published version stands in the gateways, from their ``models.activations``.

Each gateway instance reports what it did with a version (``auth_gateway/hotswap.py``): it
activated it (``previous_version``: the version it replaced), refused it, or rolled it back
(``previous_version``: the version it restored). So one report can concern two versions: the
one it is about, and the one it replaced or brought back. The trainer keeps every report that
concerns a version one of its jobs published (``job_store.py``) and derives the job's
:class:`~schemas.training.JobActivation` from them here, in the order they happened.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas import ActivationStatus, ModelActivation
from schemas.training import JobActivation

# Statuses whose previous_version is a version put out of service (an activation) or back into
# it (a rollback); a refusal's previous_version changes nothing.
_MOVES_PREVIOUS = {ActivationStatus.ACTIVATED, ActivationStatus.ROLLED_BACK}


class ActivationReport(BaseModel):
    """One gateway report, as the trainer keeps it for a job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    model: str
    model_version: str
    previous_version: str | None
    status: ActivationStatus
    reason: str | None
    instance_id: str
    at: datetime

    @classmethod
    def of(cls, event: ModelActivation) -> ActivationReport:
        return cls(
            event_id=str(event.event_id),
            model=event.model,
            model_version=event.model_version,
            previous_version=event.previous_version,
            status=event.status,
            reason=event.reason,
            instance_id=event.instance_id,
            at=event.occurred_at,
        )


def versions_concerned(event: ModelActivation) -> list[str]:
    """The versions of ``event.model`` whose standing the report changes."""
    versions = [event.model_version]
    previous = event.previous_version
    if event.status in _MOVES_PREVIOUS and previous is not None and previous not in versions:
        versions.append(previous)
    return versions


def standing(version: str, reports: Iterable[ActivationReport]) -> JobActivation:
    """Where ``version`` stands after ``reports`` (those of other versions are ignored)."""
    fields: dict[str, object] = {}
    active = False
    instances: list[str] = []
    for report in sorted(reports, key=lambda r: (r.at, r.event_id)):
        about_it = report.model_version == version
        if report.status is ActivationStatus.ACTIVATED and about_it:
            active = True
            fields.setdefault("activated_at", report.at)
            if report.instance_id not in instances:
                instances.append(report.instance_id)
        elif report.status is ActivationStatus.ACTIVATED and report.previous_version == version:
            active = False
            fields |= {"replaced_at": report.at, "replaced_by": report.model_version}
        elif report.status is ActivationStatus.ROLLED_BACK and about_it:
            active = False
            fields |= {"rolled_back_at": report.at, "rollback_reason": report.reason}
        elif report.status is ActivationStatus.ROLLED_BACK and report.previous_version == version:
            active = True  # a rollback of the version that had replaced it brought it back
        elif report.status is ActivationStatus.REJECTED and about_it:
            fields |= {"rejected_at": report.at, "rejection_reason": report.reason}
    return JobActivation.model_validate({"active": active, "instances": instances[:64], **fields})
