"""The trainer's REST API without a stack: what its OpenAPI document promises."""

from __future__ import annotations

from typing import Any, cast

from trainer.bootstrap import TrainerRuntime
from trainer.http import create_app

DOC: dict[str, Any] = create_app(cast(TrainerRuntime, None)).openapi()


def _operations() -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in DOC["paths"].items()
        for method, operation in methods.items()
    }


def test_job_routes_and_only_they_need_the_admin_key() -> None:
    secured = {label for label, op in _operations().items() if op.get("security")}
    assert secured == {"POST /api/retrain_request", "GET /api/model_status/{job_id}"}
    for label in secured:
        assert {"401", "503", "422"} <= set(_operations()[label]["responses"]), label
    assert "404" in _operations()["GET /api/model_status/{job_id}"]["responses"]


def test_a_retrain_request_is_accepted_for_trainable_models_only() -> None:
    operation = _operations()["POST /api/retrain_request"]
    assert "202" in operation["responses"]
    body = DOC["components"]["schemas"]["RetrainRequest"]
    assert body["required"] == ["model"]
    assert "speech-recogniser" not in body["properties"]["model"]["enum"]
    assert {"face-embedder", "voice-embedder"} <= set(body["properties"]["model"]["enum"])
    assert body["properties"]["source"]["enum"] == ["curated", "imported", "all"]
