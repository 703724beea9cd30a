"""The job service's pure rules: coalescing keys, transitions, versions, events, throttling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import RetrainTrigger
from schemas.enums import JobStage, JobState, RetrainReason
from trainer.job_store import job_update, stopped_message
from trainer.jobs import TRANSITIONS, IllegalTransition, Job, JobRequest, check_transition, job_key
from trainer.publishing import next_versions, release_of
from trainer.service import JobProgress, requests_of


def _request(**extra: Any) -> JobRequest:
    return JobRequest.model_validate(
        {"model": "voice-embedder", "reason": "manual", "requested_by": "tests", **extra}
    )


def _job(**extra: Any) -> Job:
    now = datetime.now(UTC)
    request = _request()
    fields = {"job_id": "job-1", "key": job_key(request), "request": request}
    return Job.model_validate({**fields, "created_at": now, "updated_at": now, **extra})


def test_requests_for_one_model_share_a_key_and_per_user_requests_have_their_own() -> None:
    assert job_key(_request(trigger_id="a")) == job_key(_request(trigger_id="b", reason="drift"))
    assert job_key(_request(user_id="alice")) == "voice-embedder/alice"
    assert job_key(_request(user_id="alice")) != job_key(_request(user_id="bob"))
    assert job_key(_request()) != job_key(_request(model="face-embedder"))


def test_a_trigger_naming_two_models_makes_one_request_per_model() -> None:
    trigger = RetrainTrigger(
        producer="tests",
        trigger_id="t-1",
        models=["face-embedder", "voice-embedder"],
        reason=RetrainReason.USER_SAMPLE_COUNT,
        user_id="alice",
        figures={"samples": 50.0},
        requested_by="stream_processors",
    )
    requests = requests_of(trigger)
    assert [r.model for r in requests] == ["face-embedder", "voice-embedder"]
    assert {(r.trigger_id, r.user_id, r.reason, r.source) for r in requests} == {
        ("t-1", "alice", RetrainReason.USER_SAMPLE_COUNT, "curated")
    }
    assert requests[0].figures == {"samples": 50.0}


def test_finished_jobs_never_move_and_queued_jobs_do_not_finish_without_running() -> None:
    for state in JobState:
        if state.finished:
            assert TRANSITIONS[state] == frozenset()
            with pytest.raises(IllegalTransition):
                check_transition(state, JobState.QUEUED)
    for final in (JobState.SUCCEEDED, JobState.SUCCEEDED_NOT_PROMOTED):
        with pytest.raises(IllegalTransition):
            check_transition(JobState.QUEUED, final)
    check_transition(JobState.RUNNING, JobState.QUEUED)  # a lease that ran out
    check_transition(JobState.QUEUED, JobState.FAILED)


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        ([], "1.1.0"),
        (["1.0.0"], "1.1.0"),
        (["1.1.0", "1.3.0", "1.2.0"], "1.4.0"),
        (["1.9.0"], "1.10.0"),
        (["2.0.0-rc.1", "1.4.2"], "2.1.0"),
        (["1.2.7+build.5"], "1.3.0"),
    ],
)
def test_the_next_version_is_a_minor_bump_over_every_known_version(
    existing: list[str], expected: str
) -> None:
    candidates = next_versions(existing)
    assert next(candidates) == expected
    major, minor, patch = release_of(expected)
    assert next(candidates) == f"{major}.{minor + 1}.{patch}"


def test_a_version_that_is_not_semantic_is_refused() -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        release_of("v1")


def test_a_job_update_carries_the_jobs_state_and_refuses_incoherent_ones() -> None:
    done = _job(
        state=JobState.SUCCEEDED,
        stage=JobStage.DONE,
        progress=1.0,
        trigger_ids=["t-1", "t-2"],
        trained_version="1.1.0",
        result_version="1.1.0",
        metrics={"eer": 0.02},
    )
    event = job_update(done)
    assert (event.job_id, event.model, event.state, event.result_version) == (
        "job-1",
        "voice-embedder",
        JobState.SUCCEEDED,
        "1.1.0",
    )
    assert event.trigger_ids == ["t-1", "t-2"] and event.metrics == {"eer": 0.02}
    with pytest.raises(ValidationError, match="says why"):
        job_update(_job(state=JobState.FAILED))
    with pytest.raises(ValidationError, match="result_version"):
        job_update(_job(state=JobState.SUCCEEDED))


def test_a_trainer_lost_twice_is_said_so() -> None:
    assert "stopped twice during this job" in stopped_message(2, 2)
    assert "stopped 3 times" in stopped_message(3, 3)
    assert stopped_message(2, 2).startswith("trainer_lost: ")


class _Recorder:
    def __init__(self) -> None:
        self.updates: list[tuple[JobStage, float, str]] = []

    async def update(
        self, job_id: str, owner: str, *, stage: JobStage, progress: float, message: str = ""
    ) -> None:
        self.updates.append((stage, progress, message))


async def test_progress_is_throttled_within_a_stage_but_every_new_stage_is_recorded() -> None:
    store, now = _Recorder(), [0.0]
    progress = JobProgress(store, "job-1", "me", interval=2.0, clock=lambda: now[0])
    await progress(JobStage.TRAINING, 0.1)
    now[0] = 1.0
    await progress(JobStage.TRAINING, 0.2)  # too soon: dropped
    await progress(JobStage.EXPORT, 0.8, "parity")  # a new stage: recorded at once
    now[0] = 3.5
    await progress(JobStage.EXPORT, 0.9)
    assert store.updates == [
        (JobStage.TRAINING, 0.1, ""),
        (JobStage.EXPORT, 0.8, "parity"),
        (JobStage.EXPORT, 0.9, ""),
    ]
