"""A gateway verifies model signatures and never holds the key that makes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from auth_gateway.bootstrap import SigningKeyOnGateway, bootstrap
from core.settings import Settings, get_settings
from kibalock_cli.main import app


def test_bootstrap_refuses_a_publisher_key(tmp_path: Path) -> None:
    key = tmp_path / "publisher.key"
    key.write_text("unused\n")
    settings = Settings(models={"publisher": {"signing_key_file": key}})
    with pytest.raises(SigningKeyOnGateway, match="never holds the publisher's signing key"):
        bootstrap(settings, analyser=cast(Any, None), producer=cast(Any, None))


def test_kibalock_gateway_stops_at_start_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "publisher.key"
    key.write_text("unused\n")
    monkeypatch.setenv("KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY_FILE", str(key))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["gateway"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY" in result.output
