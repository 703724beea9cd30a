"""``kibalock trainer status``: where a job's published version stands, in one line."""

from __future__ import annotations

from datetime import UTC, datetime

from kibalock_cli.trainer import _in_production
from schemas.training import JobActivation

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_each_fate_of_a_published_version_reads_as_one_line() -> None:
    assert _in_production(None) == ""
    assert _in_production(JobActivation(active=False)) == "not activated yet"
    active = JobActivation(active=True, activated_at=AT, instances=["gw-1", "gw-2"])
    assert _in_production(active).startswith("active since 2026-12-03 12:00:00+00:00 on gw-1, gw-2")
    rolled = JobActivation(
        active=False, activated_at=AT, rolled_back_at=AT, rollback_reason="manual"
    )
    assert _in_production(rolled) == "rolled back at 2026-12-03 12:00:00+00:00 (manual)"
    replaced = JobActivation(active=False, replaced_at=AT, replaced_by="1.3.0")
    assert _in_production(replaced).endswith("(1.3.0)")
    refused = JobActivation(active=False, rejected_at=AT, rejection_reason="canary_failed")
    assert _in_production(refused).startswith("refused at")
