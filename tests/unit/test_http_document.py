"""The gateway's REST API without a stack: its OpenAPI document, and answers while it starts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from auth_gateway.http import create_app
from auth_gateway.http.uploads import AUDIO_MAGIC, IMAGE_MAGIC, sniff
from core.supervise import Supervisor

APP = create_app(lambda: None)
DOC: dict[str, Any] = APP.openapi()
ADMIN = {
    "POST /enroll",
    "DELETE /users/{user_id}",
    "POST /api/export_training_data",
    "POST /api/import_model",
    "GET /api/model_performance",
    "GET /api/models",
    "POST /api/models/{name}/rollback",
}
TERMINAL = {"POST /challenges", "POST /verify"}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def _operations() -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in DOC["paths"].items()
        for method, operation in methods.items()
    }


def test_admin_and_terminal_operations_and_only_they_declare_their_keys() -> None:
    def schemes(op: dict[str, Any]) -> set[str]:
        return {name for requirement in op.get("security", []) for name in requirement}

    operations = _operations()
    schemes_doc = DOC["components"]["securitySchemes"]
    by_header = {s["name"]: name for name, s in schemes_doc.items()}
    admin, terminal = by_header["X-API-Key"], by_header["X-Terminal-Key"]
    assert {label for label, op in operations.items() if admin in schemes(op)} == ADMIN
    assert {label for label, op in operations.items() if terminal in schemes(op)} == TERMINAL
    assert all(schemes_doc[s]["type"] == "apiKey" for s in (admin, terminal))
    for label in ADMIN | TERMINAL:
        assert {"401", "503"} <= set(operations[label]["responses"]), label


def test_every_error_response_is_the_json_error_body() -> None:
    for label, op in _operations().items():
        for status, response in op["responses"].items():
            if int(status) >= 400 and label != "GET /readyz":
                assert response["content"]["application/json"]["schema"] == ERROR_BODY, (
                    label,
                    status,
                )


def test_ids_carry_the_schema_pattern() -> None:
    delete = _operations()["DELETE /users/{user_id}"]
    (user_id,) = delete["parameters"]
    assert user_id["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._:@+-]*$"
    assert user_id["schema"]["maxLength"] == 128


def test_upload_parts_name_the_media_types_that_sniffing_accepts() -> None:
    for label, parts in {
        "POST /verify": {"face": IMAGE_MAGIC, "voice": AUDIO_MAGIC},
        "POST /enroll": {"faces": IMAGE_MAGIC, "voices": AUDIO_MAGIC},
    }.items():
        body = _operations()[label]["requestBody"]["content"]["multipart/form-data"]
        for name, table in parts.items():
            declared = body["encoding"][name]["contentType"].split(", ")
            assert declared == list(table.values()), (label, name)
    riff_wave = b"RIFF\x00\x00\x00\x00WAVE"
    assert sniff(riff_wave, AUDIO_MAGIC) == "audio/wav"
    assert sniff(riff_wave, IMAGE_MAGIC) is None


def test_metrics_are_documented_as_prometheus_text() -> None:
    assert set(_operations()["GET /metrics"]["responses"]["200"]["content"]) == {"text/plain"}


async def test_while_loading_readyz_says_so_and_routes_answer_starting() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=APP), base_url="http://gw"
    ) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "checks": {"engines": "loading"}}
        body, key = {"user_id": "u", "terminal_id": "t"}, {"X-Terminal-Key": "k"}
        response = await http.post("/challenges", json=body, headers=key)
        assert response.status_code == 503 and response.json()["error"] == "starting"
        assert (await http.get("/healthz")).json() == {"status": "ok"}


async def test_readyz_reports_a_consumer_that_keeps_crashing() -> None:
    async def doomed() -> None:
        raise RuntimeError("consumer bug")

    app = create_app(lambda: None)
    tasks = Supervisor(max_restarts=0)
    tasks.start("attempts-consumer", doomed)
    app.state.tasks = tasks
    await asyncio.wait_for(tasks.failed.wait(), 5)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["attempts-consumer"] == "failed"
