"""The trainer benchmark's bookkeeping: which kinds it runs, stage times, medians, skips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.trainer import END_STATES, KINDS, MIN_USERS, JobKind, chosen_users, skipped, summary
from bench.trainer import stage_seconds as seconds_per_stage
from core.biometrics.dataset import DEFAULT_DATA_DIR, load_dataset
from schemas.enums import JobStage, JobState
from schemas.model_catalog import VOICE_EMBEDDER
from schemas.training import TrainingJobUpdate
from trainer.registry_of_trainers import TRAINERS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def update(at_s: float, stage: JobStage, state: JobState = JobState.RUNNING) -> TrainingJobUpdate:
    return TrainingJobUpdate(
        producer="trainer",
        job_id="job-1",
        model=VOICE_EMBEDDER,
        state=state,
        stage=stage,
        occurred_at=T0 + timedelta(seconds=at_s),
        result_version="1.1.0" if state is JobState.SUCCEEDED else None,
    )


def test_every_trainer_has_a_shared_kind_and_the_per_user_voice_job_is_there() -> None:
    assert {k.model for k in KINDS if not k.per_user} == set(TRAINERS)
    assert [k.model for k in KINDS if k.per_user] == [VOICE_EMBEDDER]
    assert len({k.name for k in KINDS}) == len(KINDS)


def test_stage_times_run_from_each_update_to_the_next_and_add_up_per_stage() -> None:
    updates = [
        update(0.0, JobStage.QUEUED, JobState.QUEUED),
        update(0.5, JobStage.SNAPSHOT),
        update(2.0, JobStage.FEATURES),
        update(5.0, JobStage.FEATURES),  # a progress update within the stage
        update(9.0, JobStage.TRAINING),
        update(9.25, JobStage.EXPORT),
        update(10.0, JobStage.EVALUATION),
        update(12.0, JobStage.PUBLISH),
        update(12.5, JobStage.DONE, JobState.SUCCEEDED),
    ]
    stages = seconds_per_stage(updates)
    assert stages == {
        "queued": 0.5,
        "snapshot": 1.5,
        "features": 7.0,
        "training": 0.25,
        "export": 0.75,
        "evaluation": 2.0,
        "publish": 0.5,
    }
    assert list(stages) == [s.value for s in JobStage if s.value in stages]


def run(state: str, process_s: float, peak: float, reason: str | None = None) -> dict[str, object]:
    return {
        "state": state,
        "reason": reason,
        "message": f"{reason}: why" if reason else "done",
        "process_s": process_s,
        "job_s": process_s - 5,
        "stages_s": {"features": process_s - 10, "training": 3.0},
        "peak_rss_mb": peak,
        "peak_rss_source": "VmHWM",
        "subprocess_cpu_s": 0.0,
        "data": {"snapshot_items": 50, "samples_used": 40 + process_s},
        "metrics": {"eer_after": 0.05},
    }


def test_a_summary_takes_medians_and_the_most_common_end() -> None:
    kind = JobKind("k", VOICE_EMBEDDER)
    runs = [
        run("succeeded", 30.0, 900.0),
        run("failed", 20.0, 700.0, "too_little_data"),
        run("succeeded", 40.0, 1000.0),
    ]
    got = summary(kind, runs)
    assert (got["state"], got["reason"], got["message"]) == ("succeeded", None, "done")
    assert (got["process_s"], got["job_s"], got["peak_rss_mb"]) == (30.0, 25.0, 900.0)
    assert got["stages_s"] == {"features": 20.0, "training": 3.0}
    assert got["data"] == {"snapshot_items": 50, "samples_used": 70.0}  # the typical run's
    assert got["runs"] == runs


def test_a_kind_whose_extra_is_missing_is_skipped_with_the_reason() -> None:
    absent = JobKind("x", VOICE_EMBEDDER, extra="nothing", module="kibalock_no_such_module")
    assert absent.missing_extra()
    assert not JobKind("y", VOICE_EMBEDDER, module="json").missing_extra()
    assert not JobKind("z", VOICE_EMBEDDER).missing_extra()
    got = skipped(absent)
    assert got["state"] == "skipped" and got["state"] in END_STATES
    assert got["reason"] == "extra not installed"
    assert "kibalock[nothing]" in got["message"]


def test_the_vendored_set_gives_min_users_who_share_speakers() -> None:
    dataset = load_dataset(DEFAULT_DATA_DIR)
    users = chosen_users(dataset)
    assert len(users) == MIN_USERS
    assert len({u.face_identity for u in users}) == MIN_USERS
    assert len({u.speaker for u in users}) < MIN_USERS  # 4 speakers in tests/data


def test_end_states_are_a_jobs_ends_and_skipped() -> None:
    assert {"succeeded", "succeeded-not-promoted", "failed", "skipped"} == END_STATES
