"""Helpers for tests on the real stack: namespaces, gateway keys, terminal credentials."""

from __future__ import annotations

import base64
import os
import uuid

from pydantic import SecretStr

from core.settings import Settings


def namespaced(base: Settings, letter: str) -> Settings:
    """``base`` in a namespace of its own, tagged ``letter`` and a random suffix."""
    return base.namespaced(letter + uuid.uuid4().hex[:10])


# The terminals' master key of every test gateway; a terminal's own key derives from it.
TERMINAL_MASTER = SecretStr("integration-tests-terminal-master-key")


def terminal_headers(terminal_id: str) -> dict[str, str]:
    """What terminal ``terminal_id`` sends to authenticate itself."""
    from auth_gateway.terminal_auth import terminal_key

    return {"X-Terminal-Key": terminal_key(TERMINAL_MASTER, terminal_id)}


def with_gateway_keys(settings: Settings, api_key: str, **options: object) -> Settings:
    """A fresh template key, the given admin key and the terminals' master key (plus other
    gateway options)."""
    update = {
        "template_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
        "api_key": SecretStr(api_key),
        "terminal_master_key": TERMINAL_MASTER,
        **options,
    }
    return settings.model_copy(update={"gateway": settings.gateway.model_copy(update=update)})
