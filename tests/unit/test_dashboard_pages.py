"""The dashboard's pages driven by Streamlit's AppTest: the login in front of everything, the
live page's figures from the feed and the stores, and the LifeModo page's upload, retrain and
job-following flow (LifeModo's REST API played by an httpx mock transport)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from streamlit.testing.v1 import AppTest

from core.registry.store import ModelStatus
from dashboard import frames
from dashboard.stores import StoreFigures
from dashboard.trainer_api import TrainerApi
from schemas import ActivationStatus, JobState, MediaRef, MetricDimension
from tests.dashboard_kit import API_KEY, FakeBackend, activation, job, window
from tests.dashboard_scripts import app_script, lifemodo_script, overview_script
from tests.unit.test_dashboard_frames import _record
from trainer.importer import (
    DuplicateFile,
    FileKind,
    ImportedFile,
    ImportOutcome,
    ImportRecord,
    ImportRefused,
    RejectedFile,
)

TIMEOUT = 60


Handler = Callable[[httpx.Request], httpx.Response]


def trainer(handler: Handler | None = None) -> TrainerApi:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected call to the trainer: {request.url}")

    return TrainerApi(
        "http://trainer", SecretStr(API_KEY), transport=httpx.MockTransport(handler or refuse)
    )


def started(script: Callable[[Any], None], backend: FakeBackend) -> AppTest:
    at = AppTest.from_function(script, args=(backend,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# --- the door -------------------------------------------------------------------------------


def test_nothing_but_the_login_form_before_the_admin_key() -> None:
    backend = FakeBackend(trainer=trainer())
    backend.state.add(window(1))
    at = started(app_script, backend)
    assert not at.metric and not at.dataframe and not at.sidebar.button
    assert [t.label for t in at.text_input] == ["Admin key"]

    at.text_input[0].input("not-the-key")
    at.button[0].click()
    at.run()
    assert "not the admin key" in at.error[0].value
    assert not at.metric

    at.text_input[0].input(API_KEY)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    assert not at.error and "Accuracy (latest window)" in metrics(at)
    assert at.sidebar.button[0].label == "Log out"

    at.sidebar.button[0].click()
    at.run()
    assert not at.metric and [t.label for t in at.text_input] == ["Admin key"]


def test_without_a_configured_key_the_dashboard_shows_nothing() -> None:
    backend = FakeBackend(trainer=trainer(), admin_key=None)
    at = started(app_script, backend)
    assert "no admin key is configured" in at.error[0].value
    assert not at.text_input and not at.metric


# --- the live page --------------------------------------------------------------------------


def fill_feed(backend: FakeBackend) -> None:
    add = backend.state.add
    mv = MetricDimension.MODEL_VERSION
    add(window(1, false_rejects=2))
    add(window(2, false_rejects=7, false_accepts=1))
    add(window(1, dimension=mv, value="voice-embedder@1.0.0", false_rejects=2))
    add(window(1, dimension=MetricDimension.TERMINAL, value="t-door", attempts=17))
    add(activation(1, "voice-embedder", "1.1.0", previous="1.0.0"))
    add(
        activation(
            3,
            "voice-embedder",
            "1.1.0",
            ActivationStatus.ROLLED_BACK,
            previous="1.0.0",
            reason="score_drift",
        )
    )
    add(job(2, "job-run", progress=0.42))
    add(job(1, "job-done", JobState.SUCCEEDED, progress=1.0, result_version="1.1.0"))
    backend.state.ingest("metrics", None, b"not json")


def test_the_live_page_shows_the_feed_and_the_stores() -> None:
    backend = FakeBackend(trainer=trainer())
    fill_feed(backend)
    backend.figures = StoreFigures(
        users=3,
        models=[
            _record("1.0.0", ModelStatus.RETIRED),
            _record(
                "1.1.0", ModelStatus.ACTIVE, parent_version="1.0.0", training_job_id="job-done"
            ),
        ],
    )
    at = started(overview_script, backend)
    shown = metrics(at)
    assert shown["Accuracy (latest window)"] == frames.percent(42 / 50)
    assert shown["Users"] == "3" and shown["Active models"] == "1"
    assert shown["Models trained"] == "1" and shown["Jobs queued or running"] == "1"
    assert shown["Versions published by training"] == "1"

    (progress,) = at.get("progress")
    assert progress.proto.text == "job-run · voice-embedder · training · 42.0%"
    tables = [d.value for d in at.dataframe]
    assert any("score_drift" in set(t.get("reason", [])) for t in tables)
    assert any(list(t.get("terminal", [])) == ["t-door"] for t in tables)
    lineage = next(t for t in tables if "training_job_id" in t)
    assert list(lineage["training_job_id"].fillna("")) == ["", "job-done"]
    captions = " ".join(c.value for c in at.caption)
    assert "9 records read, 1 skipped (malformed: 1)" in captions


def test_the_live_page_says_when_the_stores_or_the_feed_are_away() -> None:
    backend = FakeBackend(trainer=trainer(), figures=None)
    backend.state.connection(False, "KafkaConnectionError: no broker")
    at = started(overview_script, backend)
    assert "Registry and users unavailable" in at.warning[0].value
    assert "waiting for Kafka: KafkaConnectionError" in at.warning[1].value
    assert metrics(at)["Users"] == "—" and metrics(at)["Accuracy (latest window)"] == "—"
    assert "No metric window yet." in [i.value for i in at.info]


# --- the LifeModo page ----------------------------------------------------------------------


def _media(key: str) -> MediaRef:
    return MediaRef.of("training", key, sha256="a" * 64, content_type="image/jpeg", size_bytes=9)


def outcome(user: str | None) -> ImportOutcome:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    record = ImportRecord(
        import_id="imp-0123456789abcdef0123",
        user_id=user,
        path_name="dashboard-upload",
        started_at=now,
        finished_at=now,
        contents=["a" * 64],
        files=[
            ImportedFile(
                index=0,
                source="face.jpg",
                kind=FileKind.IMAGE,
                media=_media("alice/imported/x/0.jpg"),
                faces_found=1,
            )
        ],
        duplicates=[DuplicateFile(source="again.jpg", sha256="b" * 64, import_id="imp-earlier")],
        rejected=[RejectedFile(source="notes.pdf", reason="corrupt", detail="not a PDF")],
    )
    return ImportOutcome(record=record, already_imported=False)


def test_uploads_go_to_the_import_for_the_named_user_and_are_summarised() -> None:
    backend = FakeBackend(trainer=trainer(), outcome=outcome("alice"))
    at = started(lifemodo_script, backend)
    uploader = at.file_uploader[0]
    assert set(uploader.proto.type) >= {".jpg", ".png", ".wav", ".pdf"}
    uploader.set_value(
        [
            ("face.jpg", b"\xff\xd8 jpeg bytes", "image/jpeg"),
            ("hello.wav", b"RIFF wav bytes", "audio/wav"),
        ]
    )
    at.text_input[0].input(" alice ")
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception

    ((uploads, user, source),) = backend.imports
    assert [(u.name, u.data) for u in uploads] == [
        ("face.jpg", b"\xff\xd8 jpeg bytes"),
        ("hello.wav", b"RIFF wav bytes"),
    ]
    assert user == "alice" and source is None
    assert "imp-0123456789abcdef0123 (alice): 1 stored, 1 already there, 1 refused" in (
        at.success[0].value
    )
    summary = at.dataframe[0].value
    assert list(summary["kind"]) == ["image", "duplicate", "refused"]
    assert at.text_input[2].value == "alice"  # the retrain form offers the import's user


def test_a_refused_import_says_why() -> None:
    backend = FakeBackend(
        trainer=trainer(), outcome=ImportRefused("dashboard-upload holds no file")
    )
    at = started(lifemodo_script, backend)
    at.file_uploader[0].set_value([("x.png", b"png", "image/png")])
    at.button[0].click()
    at.run()
    assert "Import refused: dashboard-upload holds no file" in at.error[0].value


def status_body(job_id: str, state: str, **extra: Any) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "model": "voice-embedder",
        "user_id": "alice",
        "state": state,
        "stage": "queued" if state == "queued" else "done",
        "progress": 0.0 if state == "queued" else 1.0,
        "message": "",
        "metrics": {},
        "trained_version": None,
        "result_version": None,
        "activation": None,
        "trigger_ids": ["api-1"],
        "attempts": 0,
        "created_at": "2026-01-05T09:00:00Z",
        "updated_at": "2026-01-05T09:00:00Z",
        **extra,
    }


def test_a_retrain_request_reaches_the_api_and_its_job_is_followed() -> None:
    seen: list[httpx.Request] = []
    states = iter(["queued", "succeeded"])

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/retrain_request":
            return httpx.Response(202, json={"job_id": "job-1", "created": True, "state": "queued"})
        state = next(states)
        extra: dict[str, Any] = {}
        if state == "succeeded":
            extra = {
                "result_version": "1.1.0",
                "trained_version": "1.1.0",
                "metrics": {"eer_after": 0.04},
                "activation": {"active": True, "instances": ["gw-1"]},
            }
        return httpx.Response(200, json=status_body("job-1", state, **extra))

    backend = FakeBackend(trainer=trainer(api))
    at = started(lifemodo_script, backend)
    at.selectbox[1].select("imported")
    at.text_input[2].input("alice")
    at.button[1].click()
    at.run()
    assert not at.exception, at.exception
    post = seen[0]
    assert post.method == "POST" and post.headers["X-API-Key"] == API_KEY
    assert json.loads(post.content) == {
        "model": "voice-embedder",
        "source": "imported",
        "user_id": "alice",
    }
    assert "Retrain queued: job-1" in at.success[0].value
    assert at.text_input(key="lifemodo_followed_job").value == "job-1"
    assert seen[1].url.path == "/api/model_status/job-1"
    assert metrics(at)["State"] == "queued"

    at.run()
    shown = metrics(at)
    assert shown["State"] == "succeeded" and shown["Version"] == "1.1.0"
    assert shown["In production"] == "active"
    assert at.dataframe[0].value.to_dict("records") == [{"figure": "eer_after", "value": 0.04}]


@pytest.mark.parametrize(
    ("response", "shown"),
    [
        (
            httpx.Response(422, json={"error": "invalid_request", "message": "model: bad"}),
            "LifeModo refused: invalid_request: model: bad",
        ),
        (httpx.ConnectError("connection refused"), "LifeModo refused: unreachable"),
    ],
)
def test_a_refused_or_unreachable_trainer_is_reported(
    response: httpx.Response | Exception, shown: str
) -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    at = started(lifemodo_script, FakeBackend(trainer=trainer(api)))
    at.button[1].click()
    at.run()
    assert shown in at.error[0].value


def test_a_malformed_user_id_never_reaches_the_trainer() -> None:
    at = started(lifemodo_script, FakeBackend(trainer=trainer()))
    at.text_input[2].input("../../etc")
    at.button[1].click()
    at.run()
    assert "Not a valid request" in at.error[0].value
