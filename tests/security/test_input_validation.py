"""Audit finding 16: ids are the schema's ``Identifier`` everywhere (REST, command line), checked
before anything is stored, deleted or loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from auth_gateway import service
from auth_gateway.analysis import Analyser
from auth_gateway.gateway import Gateway
from auth_gateway.http import create_app
from core.settings import Settings
from kibalock_cli.main import app as cli
from tests.integration.gateway_kit import running_gateway
from tests.stack_kit import namespaced, terminal_headers, with_gateway_keys

API_KEY = "iv-admin-key"
# Each accepted by the gateway's first id pattern, refused by the schema's Identifier.
BAD_IDS = ["..", ".hidden", "-x", "a/b"]


@pytest.fixture(scope="module")
async def gateway(base_settings: Settings, analyser: Analyser) -> AsyncIterator[Gateway]:
    settings = with_gateway_keys(namespaced(base_settings, "iv"), API_KEY)
    async with running_gateway(settings, analyser) as gw:
        yield gw


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_bad_ids_are_refused_before_anything_is_stored(gateway: Gateway, bad: str) -> None:
    transport = httpx.ASGITransport(app=create_app(lambda: gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        verify = await http.post(
            "/verify",
            data={"user_id": bad, "terminal_id": "term-iv", "challenge_id": "c1"},
            files={"face": ("f.jpg", b"\xff\xd8\xff" + b"0" * 64, "image/jpeg")},
            headers=terminal_headers("term-iv"),
        )
        assert verify.status_code == 422, verify.text
        challenge = await http.post(
            "/verify",
            data={"user_id": "someone", "terminal_id": "term-iv", "challenge_id": bad},
            files={"face": ("f.jpg", b"\xff\xd8\xff" + b"0" * 64, "image/jpeg")},
            headers=terminal_headers("term-iv"),
        )
        assert challenge.status_code == 422, challenge.text
        erase = await http.delete(f"/users/{bad}", headers={"X-API-Key": API_KEY})
        assert erase.status_code in {404, 422}, erase.text
    samples = gateway.objects.bucket("samples")
    assert await gateway.objects.list_keys(samples, "") == []


@pytest.mark.parametrize("bad", BAD_IDS)
def test_enrol_refuses_a_bad_user_id_before_loading_anything(
    bad: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_gateway(*_: object) -> None:
        raise AssertionError("the gateway was loaded for a bad user id")

    monkeypatch.setattr(service, "load_gateway", no_gateway)
    photo = next((data_dir / "faces").rglob("*.jpg"))
    clip = next((data_dir / "voices").rglob("*.wav"))
    result = CliRunner().invoke(
        cli, ["enroll", "--user", bad, "--face", str(photo), "--voice", str(clip)]
    )
    assert result.exit_code == 2, result.output
    assert "user" in result.output
