"""What the gateways did with a job's version: which reports concern it, and where it stands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas import ActivationStatus, ModelActivation
from schemas.training import JobActivation
from trainer.activations import ActivationReport, standing, versions_concerned

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ACTIVATED, ROLLED_BACK, REJECTED = (
    ActivationStatus.ACTIVATED,
    ActivationStatus.ROLLED_BACK,
    ActivationStatus.REJECTED,
)


def _event(
    status: ActivationStatus,
    version: str,
    previous: str | None = None,
    *,
    minute: int = 0,
    reason: str | None = None,
    instance: str = "gw-a",
) -> ModelActivation:
    return ModelActivation(
        producer="auth_gateway",
        occurred_at=T0 + timedelta(minutes=minute),
        model="face-embedder",
        model_version=version,
        status=status,
        reason=reason,
        previous_version=previous,
        instance_id=instance,
    )


def _reports(*events: ModelActivation) -> list[ActivationReport]:
    return [ActivationReport.of(event) for event in events]


def _at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_a_report_concerns_its_version_and_the_one_it_replaced_or_restored() -> None:
    assert versions_concerned(_event(ACTIVATED, "1.2.0", "1.1.0")) == ["1.2.0", "1.1.0"]
    assert versions_concerned(_event(ROLLED_BACK, "1.2.0", "1.1.0", reason="manual")) == [
        "1.2.0",
        "1.1.0",
    ]
    assert versions_concerned(_event(ACTIVATED, "1.1.0")) == ["1.1.0"]
    # A refusal changes nothing for the version that keeps serving.
    assert versions_concerned(_event(REJECTED, "1.2.0", "1.1.0", reason="canary_regression")) == [
        "1.2.0"
    ]


def test_a_version_no_gateway_reported_on_is_not_active() -> None:
    assert standing("1.1.0", []) == JobActivation(active=False)


def test_activations_by_several_instances_count_once_each_from_the_first() -> None:
    reports = _reports(
        _event(ACTIVATED, "1.1.0", "1.0.0", minute=2, instance="gw-b", reason="converged"),
        _event(ACTIVATED, "1.1.0", "1.0.0", minute=1),
        _event(ACTIVATED, "1.1.0", "1.0.0", minute=3, instance="gw-b", reason="converged"),
    )
    assert standing("1.1.0", reports) == JobActivation(
        active=True, activated_at=_at(1), instances=["gw-a", "gw-b"]
    )


def test_a_rollback_of_the_version_ends_it_with_its_reason() -> None:
    reports = _reports(
        _event(ROLLED_BACK, "1.1.0", "1.0.0", minute=5, reason="manual"),
        _event(ACTIVATED, "1.1.0", "1.0.0", minute=1),
    )
    assert standing("1.1.0", reports) == JobActivation(
        active=False,
        activated_at=_at(1),
        instances=["gw-a"],
        rolled_back_at=_at(5),
        rollback_reason="manual",
    )


def test_a_later_version_replaces_it_and_the_rollback_of_that_one_brings_it_back() -> None:
    first = _event(ACTIVATED, "1.1.0", "1.0.0", minute=1)
    replaced = _event(ACTIVATED, "1.2.0", "1.1.0", minute=4)
    assert standing("1.1.0", _reports(first, replaced)) == JobActivation(
        active=False,
        activated_at=_at(1),
        instances=["gw-a"],
        replaced_at=_at(4),
        replaced_by="1.2.0",
    )
    back = _event(ROLLED_BACK, "1.2.0", "1.1.0", minute=6, reason="score_drift")
    restored = standing("1.1.0", _reports(first, replaced, back))
    assert restored.active and restored.rolled_back_at is None
    # The same reports seen from 1.2.0: replaced nothing of its own, rolled back.
    later = standing("1.2.0", _reports(first, replaced, back))
    assert (later.active, later.rollback_reason, later.activated_at) == (
        False,
        "score_drift",
        _at(4),
    )


def test_a_refused_version_is_not_active_and_says_why() -> None:
    reports = _reports(_event(REJECTED, "1.1.0", minute=2, reason="canary_regression"))
    assert standing("1.1.0", reports) == JobActivation(
        active=False, rejected_at=_at(2), rejection_reason="canary_regression"
    )


def test_reports_on_other_versions_change_nothing() -> None:
    reports = _reports(
        _event(ACTIVATED, "1.1.0", "1.0.0", minute=1),
        _event(REJECTED, "1.3.0", minute=2, reason="signature_untrusted"),
        _event(ROLLED_BACK, "1.4.0", "1.3.0", minute=3, reason="manual"),
    )
    assert standing("1.1.0", reports) == JobActivation(
        active=True, activated_at=_at(1), instances=["gw-a"]
    )
