"""Fuzzing a service's REST API from its own OpenAPI document, with and without credentials.

:func:`serve` runs the real application under uvicorn on a loopback port, behind
:class:`BodyReads`, which notes how many body bytes the application read for each request.
:func:`fuzz` runs schemathesis (fixed seed, derandomised: the same cases on every run) with one
set of :class:`Credentials`, and returns what schemathesis found plus what it cannot say:

- every error response is the JSON error body (``{"error": code, "message": text}``);
- without valid credentials, every operation the document secures is refused (401 or 403) and,
  for the admin key, before the body is read: a caller without the key costs no parsing.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
import uvicorn
from schemathesis import BaseSchema, Case, HookContext
from schemathesis.core import SCHEMATHESIS_TEST_CASE_HEADER
from schemathesis.core.failures import AcceptedNegativeData, Failure, ServerError
from schemathesis.core.mutations import OperatorKind
from schemathesis.core.transport import Response
from schemathesis.engine import events, from_schema
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_HEADER = "X-API-Key"
TERMINAL_HEADER = "X-Terminal-Key"
# Checks every run makes; a run with the right keys adds that what the document allows is
# accepted and what it does not is refused.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
REFUSED = {401, 403}
# Answers 503 with its checks, not an error body, while a part is not running: a documented state.
READINESS = "GET /readyz"
SEED = 20240917


class BodyReads:
    """ASGI wrapper: the body bytes the application read, by schemathesis test case id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.read: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        case_id = Headers(scope=scope).get(SCHEMATHESIS_TEST_CASE_HEADER) if scope else None

        async def counted() -> Message:
            message = await receive()
            if case_id is not None and message["type"] == "http.request":
                self.read[case_id] = self.read.get(case_id, 0) + len(message.get("body", b""))
            return message

        await self.app(scope, counted if scope["type"] == "http" else receive, send)


@dataclass(frozen=True)
class Served:
    url: str
    reads: BodyReads


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[Served]:
    """``app`` served by uvicorn on a free loopback port, behind :class:`BodyReads`."""
    reads = BodyReads(app)
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = listener.getsockname()
    # Listening already: a request sent before uvicorn accepts waits in the backlog.
    server = uvicorn.Server(uvicorn.Config(reads, log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        yield Served(f"http://{host}:{port}", reads)
    finally:
        server.should_exit = True
        await serving
        listener.close()


@dataclass(frozen=True)
class Credentials:
    """What a run presents: an admin key (``None``: no header) and, for a terminal operation,
    the key it sends for the body's ``terminal_id`` (``None``: no header)."""

    name: str
    admin_key: str | None
    terminal_key: Callable[[str], str | None]
    # Whether these are the right credentials: the run expects to be let in.
    valid: bool = False


@dataclass
class Run:
    credentials: str
    cases: int = 0
    failures: list[str] = field(default_factory=list)


def _problem(label: str, what: str, response: Response) -> str:
    return f"{label}: {what}\n-> {response.status_code} {response.text[:300]}"


def _error_body_problem(response: Response) -> str | None:
    if response.status_code < 400:
        return None
    if not response.headers.get("content-type", [""])[0].startswith("application/json"):
        return "an error that is not JSON"
    try:
        body = response.json()
    except ValueError:
        return "an error body that does not parse as JSON"
    if not (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("message"), str)
        and body["message"]
    ):
        return "an error body without its error code and message"
    return None


def _secured_by(document: dict[str, Any], header: str) -> set[str]:
    """The operations (``METHOD /path``) whose security needs the API key in ``header``."""
    schemes = {
        name
        for name, scheme in document.get("components", {}).get("securitySchemes", {}).items()
        if scheme.get("in") == "header" and scheme.get("name") == header
    }
    return {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any(schemes & set(requirement) for requirement in operation.get("security", []))
    }


def _judge(
    run: Run,
    case: Case[Any],
    response: Response,
    body_read: int,
    credentials: Credentials,
    secured: dict[str, set[str]],
) -> None:
    label = case.operation.label
    problem = None if label == READINESS else _error_body_problem(response)
    if problem:
        run.failures.append(_problem(label, problem, response))
    # The coverage phase also sends other methods to each path: those answer 405 whoever asks.
    if credentials.valid or case.method.upper() != case.operation.method.upper():
        return
    if label in secured[ADMIN_HEADER]:
        if response.status_code not in REFUSED:
            run.failures.append(_problem(label, "let in without the admin key", response))
        if body_read:
            run.failures.append(
                _problem(label, f"read {body_read} body bytes without the admin key", response)
            )
    # A terminal's key is checked against the terminal_id in the body, which must be read for
    # that; a body that does not parse is refused as such (400 or 422).
    if label in secured[TERMINAL_HEADER] and not 400 <= response.status_code < 500:
        run.failures.append(_problem(label, "let in without the terminal's key", response))


def _form_field(case: Case[Any], name: str) -> dict[str, Any]:
    """The schema of the form field ``name`` of ``case``'s multipart body ({} if unknown)."""
    document = case.operation.schema.raw_schema
    content = case.operation.definition.raw.get("requestBody", {}).get("content", {})
    body = content.get("multipart/form-data", {}).get("schema", {})
    if "$ref" in body:
        body = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    field: dict[str, Any] = body.get("properties", {}).get(name, {})
    return field


PLAIN_STRING = {"type", "minLength", "maxLength", "pattern", "title", "description"}


def _text_fits(field: dict[str, Any], text: str) -> bool:
    """``text`` is valid for a plain string field (type, lengths, pattern); other fields: no."""
    if field.get("type") != "string" or set(field) - PLAIN_STRING:
        return False
    pattern = field.get("pattern")
    return field.get("minLength", 0) <= len(text) <= field.get("maxLength", len(text)) and (
        pattern is None or re.search(pattern, text) is not None
    )


def _retyped_form_text_is_valid(case: Case[Any]) -> bool:
    """Every mutation of this negative case turned a form field's string into a number whose
    text is a valid value of the field: on the wire every form field is text, so the request
    was valid. schemathesis 4.32 allows for this in paths and queries only."""
    if case.meta is None or not str(case.media_type).startswith("multipart/form-data"):
        return False
    mutations = getattr(case.meta.phase.data, "mutations", None)
    if not mutations or not isinstance(case.body, dict):
        return False
    for mutation in mutations:
        name = mutation.path[0] if mutation.path else None
        value = case.body.get(name) if isinstance(name, str) else None
        if (
            mutation.operator != OperatorKind.CHANGE_TYPE
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not _text_fits(_form_field(case, str(name)), str(value))
        ):
            return False
    return True


def _add_hooks(schema: BaseSchema, credentials: Credentials, terminal_ops: set[str]) -> None:
    """The run's credentials on terminal operations, and the failures that are none."""

    @schema.hooks.hook
    def filter_failure(
        _: HookContext, failure: Failure, case: Case[Any], response: Response
    ) -> bool:
        not_ready = case.operation.label == READINESS and response.status_code == 503
        if not_ready and isinstance(failure, ServerError):
            return False
        return not (isinstance(failure, AcceptedNegativeData) and _retyped_form_text_is_valid(case))

    @schema.hooks.hook
    def map_case(_: HookContext, case: Case[Any]) -> Case[Any]:
        # A terminal presents its own key; a schema cannot say "the key of that terminal_id".
        if case.operation.label in terminal_ops and isinstance(case.body, dict):
            terminal = case.body.get("terminal_id")
            key = credentials.terminal_key(terminal) if isinstance(terminal, str) else None
            if key is not None:
                case.headers[TERMINAL_HEADER] = key
        return case


def fuzz(
    served: Served,
    credentials: Credentials,
    *,
    max_examples: int,
    hooks: Callable[[BaseSchema], None] | None = None,
    operations: Collection[dict[str, Any]] = (),
) -> Run:
    """schemathesis against ``served`` with ``credentials``; ``hooks`` adds the service's own
    schema hooks, ``operations`` its per-operation configuration."""
    checks = (
        [*CHECKS, "positive_data_acceptance", "negative_data_rejection"]
        if credentials.valid
        else list(CHECKS)
    )
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {}
            if credentials.admin_key is None
            else {ADMIN_HEADER: credentials.admin_key},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
            "generation": {
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
                # The credentials are the run's own, never generated ones.
                "with-security-parameters": False,
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": list(operations),
        }
    )
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=config)
    secured = {h: _secured_by(schema.raw_schema, h) for h in (ADMIN_HEADER, TERMINAL_HEADER)}
    _add_hooks(schema, credentials, secured[TERMINAL_HEADER])
    if hooks is not None:
        hooks(schema)
    run = Run(credentials.name)
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            run.cases += len(recorder.cases)
            for case_id, checks_done in recorder.checks.items():
                interaction = recorder.interactions.get(case_id)
                answer = interaction.response if interaction else None
                said = f"-> {answer.status_code} {answer.text[:300]}" if answer else ""
                for check in checks_done:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        run.failures.append(
                            f"{event.label} [{check.name}] {failure.title}: {failure.message}\n"
                            f"{check.failure_info.code_sample}\n{said}"
                        )
            for case_id, interaction in recorder.interactions.items():
                if interaction.response is not None:
                    case = recorder.cases[case_id].value
                    read = served.reads.read.get(case_id, 0)
                    _judge(run, case, interaction.response, read, credentials, secured)
        elif isinstance(event, events.NonFatalError):
            run.failures.append(f"{event.label}: schemathesis error\n{event.info.format()}")
        elif isinstance(event, events.FatalError):
            run.failures.append(f"schemathesis failed: {event.exception!r}")
    return run
