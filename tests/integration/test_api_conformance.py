"""Every REST service's OpenAPI document tells the truth, and its doors hold (issues 9 and 12).

The gateway (real stack, real face and voice engines) and the trainer (real stack, its job
service) serve HTTP under uvicorn on a free loopback port; schemathesis reads each one's
``/openapi.json`` and sends what the document allows, and what it does not, to every operation:

- with the right keys: no schema-valid request may be refused, no schema-invalid one accepted,
  no response may be undocumented (status, media type, body or headers) and none may be a
  server error;
- with no key, a wrong key, or the other kind of key (a terminal's key as the admin key, the
  admin key as a terminal's): every secured operation is refused, admin operations before the
  body is read, and nothing is stored.

Every error in every run is the JSON error body. The cases tried are printed per run; seeds are
fixed, so a run tries the same cases every time.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case, HookContext, Response
from schemathesis.core.failures import Failure
from schemathesis.openapi.checks import RejectedPositiveData

from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.http import create_app as gateway_app
from core.settings import Settings
from core.signing import generate_keypair
from tests.integration.api_fuzz_kit import TERMINAL_HEADER, Credentials, Run, Served, fuzz, serve
from tests.integration.gateway_kit import running_gateway
from tests.integration.trainer_kit import trainer_settings
from tests.registry_kit import good
from tests.stack_kit import namespaced, terminal_headers, with_gateway_keys
from trainer.bootstrap import TrainerRuntime, bootstrap
from trainer.http import create_app as trainer_app

API_KEY = "conformance-admin-key"
# Per operation and phase, bounded to keep the eight runs near two minutes on 2 busy cores:
# /verify and /enroll run the real engines on every case. Runs without the keys need fewer, as
# what lets a request in is its headers, not its body; the coverage phase's cases run in full.
MAX_EXAMPLES = {True: 20, False: 5}


def _terminal_key(terminal_id: str) -> str:
    return terminal_headers(terminal_id)[TERMINAL_HEADER]


CREDENTIALS = {
    "admin": Credentials("right keys", API_KEY, _terminal_key, valid=True),
    "none": Credentials("no keys", None, lambda _: None),
    # A terminal presenting another terminal's key is as good as one with none.
    "wrong": Credentials("wrong keys", "not-the-admin-key", lambda t: _terminal_key(f"{t}-x")),
    "crossed": Credentials("keys swapped", _terminal_key("term-1"), lambda _: API_KEY),
}
REFUSED = [CREDENTIALS[name] for name in ("none", "wrong", "crossed")]
# The 422 each upload operation answers to media no schema can tell from usable ones.
DOCUMENTED_REFUSALS = {"POST /enroll": "enrolment_rejected", "POST /verify": "invalid_media"}


def _riff(form: bytes) -> st.SearchStrategy[bytes]:
    return st.binary(max_size=256).map(
        lambda tail: b"RIFF" + struct.pack("<I", len(tail) + 4) + form + tail
    )


def _register_media_types() -> None:
    """What each documented media type looks like: its signature, then anything.

    The gateway types uploads by their content, so random bytes sent as ``image/jpeg`` are
    not a JPEG; a signature followed by garbage is, as far as the API can tell, and must get a
    decision (or a documented refusal), never a server error.
    """
    for media_type, strategy in {
        "image/jpeg": st.binary(max_size=256).map(lambda tail: b"\xff\xd8\xff" + tail),
        "image/png": st.binary(max_size=256).map(lambda tail: b"\x89PNG\r\n\x1a\n" + tail),
        "image/webp": _riff(b"WEBP"),
        "audio/wav": _riff(b"WAVE"),
        "audio/flac": st.binary(max_size=256).map(lambda tail: b"fLaC" + tail),
        "audio/ogg": st.binary(max_size=256).map(lambda tail: b"OggS" + tail),
        "application/onnx": st.just(good(4)),
    }.items():
        schemathesis.openapi.media_type(media_type, strategy)


def _add_upload_hooks(schema: BaseSchema) -> None:
    """What the upload operations' schemas cannot say, or schemathesis cannot send."""

    @schema.hooks.hook
    def map_case(_: HookContext, case: Case[Any]) -> Case[Any]:
        # schemathesis 4.32 fills an array of files from a media type strategy with one bare
        # value, sent as a text field; send it as the one-file array it stands for.
        if case.operation.label == "POST /enroll" and isinstance(case.body, dict):
            for name in ("faces", "voices"):
                if isinstance(case.body.get(name), bytes):
                    case.body[name] = [case.body[name]]
        return case

    @schema.hooks.hook
    def filter_failure(
        _: HookContext, failure: Failure, case: Case[Any], response: Response
    ) -> bool:
        # No schema can say "a photo with a face in it" nor "a file that decodes": samples the
        # engines cannot use are refused as documented (422 `enrolment_rejected` with the
        # reasons; 422 `invalid_media` for an upload refused before it is stored), not wrongly.
        documented = DOCUMENTED_REFUSALS.get(case.operation.label)
        return not (
            isinstance(failure, RejectedPositiveData)
            and response.status_code == 422
            and response.json().get("error") == documented
        )


# schemathesis 4.32's coverage phase builds its one "valid" multipart body with "" in every
# required text field and a single part for an array of files: not schema-valid. Its boundary
# cases (negative) still run here.
MULTIPART_COVERAGE = {
    "include-path-regex": "^/(verify|enroll|api/import_model)$",
    "phases": {"coverage": {"generation": {"mode": "negative"}}},
}


def _report(service: str, run: Run, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nschemathesis {service}, {run.credentials}: {run.cases} cases")
    assert run.cases > 0
    assert not run.failures, f"{len(run.failures)} failures in {run.cases} cases:\n\n" + (
        "\n\n".join(run.failures)
    )


@pytest.fixture(scope="module")
def gateway_settings(base_settings: Settings) -> Settings:
    return with_gateway_keys(namespaced(base_settings, "c"), API_KEY)


@pytest.fixture(scope="module")
async def gateway(
    gateway_settings: Settings, analyser: Analyser
) -> AsyncIterator[tuple[Gateway, Served]]:
    _register_media_types()
    async with (
        running_gateway(gateway_settings, analyser) as gw,
        serve(gateway_app(lambda: gw)) as served,
    ):
        yield gw, served


async def _stored(gw: Gateway) -> tuple[int, int]:
    """What a terminal's requests leave behind: uploaded media, and challenges issued."""
    samples = await gw.objects.list_keys(gw.objects.bucket("samples"))
    return len(samples), await gw.db["challenges"].count_documents({})


def _fuzz_gateway(served: Served, credentials: Credentials) -> Run:
    return fuzz(
        served,
        credentials,
        max_examples=MAX_EXAMPLES[credentials.valid],
        hooks=_add_upload_hooks,
        operations=[MULTIPART_COVERAGE],
    )


@pytest.mark.parametrize("credentials", REFUSED, ids=lambda c: c.name)
async def test_the_gateway_refuses_whoever_lacks_the_keys(
    gateway: tuple[Gateway, Served], credentials: Credentials, capsys: pytest.CaptureFixture[str]
) -> None:
    gw, served = gateway
    before = await _stored(gw)
    run = await asyncio.to_thread(_fuzz_gateway, served, credentials)
    _report("gateway", run, capsys)
    assert await _stored(gw) == before


async def test_the_gateway_document_tells_the_truth(
    gateway: tuple[Gateway, Served], capsys: pytest.CaptureFixture[str]
) -> None:
    _, served = gateway
    run = await asyncio.to_thread(_fuzz_gateway, served, CREDENTIALS["admin"])
    _report("gateway", run, capsys)


@pytest.fixture(scope="module")
async def trainer(base_settings: Settings) -> AsyncIterator[tuple[TrainerRuntime, Served]]:
    """The trainer's runtime on the real stack, its consumers and worker not started: jobs the
    fuzzer queues stay queued, and ``/readyz`` says it is not ready (a documented answer)."""
    settings = with_gateway_keys(namespaced(base_settings, "c"), API_KEY)
    runtime = await bootstrap(trainer_settings(settings, generate_keypair()[0]), owner="fuzz")
    try:
        async with serve(trainer_app(runtime)) as served:
            yield runtime, served
    finally:
        await runtime.client.drop_database(settings.mongo.database)
        await runtime.close()


def _fuzz_trainer(served: Served, credentials: Credentials) -> Run:
    max_examples = MAX_EXAMPLES[credentials.valid]
    return fuzz(served, credentials, max_examples=max_examples)


@pytest.mark.parametrize("credentials", REFUSED, ids=lambda c: c.name)
async def test_the_trainer_refuses_whoever_lacks_the_admin_key(
    trainer: tuple[TrainerRuntime, Served],
    credentials: Credentials,
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime, served = trainer
    before = await runtime.store.count_by_state()
    run = await asyncio.to_thread(_fuzz_trainer, served, credentials)
    _report("trainer", run, capsys)
    assert await runtime.store.count_by_state() == before


async def test_the_trainer_document_tells_the_truth(
    trainer: tuple[TrainerRuntime, Served], capsys: pytest.CaptureFixture[str]
) -> None:
    _, served = trainer
    run = await asyncio.to_thread(_fuzz_trainer, served, CREDENTIALS["admin"])
    _report("trainer", run, capsys)
