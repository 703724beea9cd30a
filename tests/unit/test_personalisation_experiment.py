"""The personalisation experiment end to end on the vendored voices (4 speakers, small)."""

from __future__ import annotations

from pathlib import Path

from core.biometrics.degrade import condition
from trainer.experiments.personalisation import PersonalisationConfig, run_personalisation


def test_the_experiment_reports_every_subject_with_counted_trials(
    data_dir: Path, tmp_path: Path
) -> None:
    config = PersonalisationConfig(degraded=condition("telephone-noisy"), curated=6)
    report = run_personalisation(data_dir, tmp_path / "cache", config)
    assert (report.subjects, report.guard_users) == (2, 2)
    assert report.promoted + report.not_promoted + sum(report.failed.values()) == 2
    judged = report.promoted + report.not_promoted
    assert judged >= 1, report.failed
    # Every guard utterance (3 enrolment + 3 held back twice + 6 curated) against each subject.
    assert report.guard_fmr_before.trials == judged * 2 * (3 + 6 + 6)
    assert report.genuine_accept_degraded_before.trials == judged * 3
    assert report.genuine_accept_clean_before.trials == judged * 3
    # A personal model only adds a score: it can never refuse what the template accepted.
    for name in ("genuine_accept_degraded", "genuine_accept_clean", "guard_fmr"):
        before, after = getattr(report, f"{name}_before"), getattr(report, f"{name}_after")
        assert after.errors >= before.errors, name
        assert before.ci95[0] <= before.rate <= before.ci95[1]
