"""Audit finding 15: services refuse the development defaults outside development mode."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from core.settings import Settings
from core.settings.dev import DevelopmentSecrets, development_defaults, refuse_development_defaults


def test_the_local_defaults_are_refused_unless_in_development() -> None:
    defaults = Settings()
    assert len(development_defaults(defaults)) == 2
    with pytest.raises(DevelopmentSecrets, match="KIBALOCK_S3__SECRET_KEY"):
        refuse_development_defaults(defaults, "gateway")
    refuse_development_defaults(Settings(dev=True), "gateway")


def test_real_credentials_pass() -> None:
    configured = Settings(
        s3={"secret_key": SecretStr("a-real-secret")},
        mongo={"uri": "mongodb://gateway:pw@mongo:27017/?authSource=kibalock"},
    )
    assert development_defaults(configured) == []
    refuse_development_defaults(configured, "gateway")
