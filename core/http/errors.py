"""Errors as JSON ``{"error": code, "message": text, ...}``, and their OpenAPI entries."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import Send

from schemas.fields import Code


class ErrorBody(BaseModel):
    """The body of every error response; some errors add fields (e.g. ``rejected``)."""

    model_config = ConfigDict(extra="allow")

    error: Code = Field(description="machine-readable code, e.g. `invalid_request`")
    message: str = Field(description="what went wrong, for a person")


class ApiError(Exception):
    """An error response: HTTP ``status``, ``code`` and ``message``, plus ``extra`` fields."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries: each status with its description and :class:`ErrorBody`."""
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}


INVALID_REQUEST = "`invalid_request`: a parameter or field does not match this document"
MALFORMED_BODY = "`http_error`: the body cannot be parsed as its media type"


def _body(code: str, message: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return _body(exc.code, exc.message, exc.status, **exc.extra)


async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
    return _body("http_error", str(exc.detail), exc.status_code)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [
        f"{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in exc.errors()
    ]
    return _body("invalid_request", "; ".join(problems), 422)


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """The JSON error body sent on a raw ASGI channel, for middleware that answers before the
    application (and its exception handlers) is reached."""
    body = json.dumps({"error": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def install_error_handlers(app: FastAPI, service: str) -> None:
    """Every error ``app`` answers becomes JSON; ``service`` names it in an internal error."""

    async def unexpected(_: Request, __: Exception) -> JSONResponse:
        # Starlette re-raises the exception after this answer, so the server logs its traceback.
        return _body("internal_error", f"the {service} failed to handle this request", 500)

    app.exception_handler(ApiError)(_api_error)
    app.exception_handler(HTTPException)(_http_error)
    app.exception_handler(RequestValidationError)(_validation_error)
    app.exception_handler(Exception)(unexpected)
