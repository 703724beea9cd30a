"""Helpers for tests on the real stack: namespaces, gateway keys, terminal credentials."""

from __future__ import annotations

import base64
import os
import uuid

from pydantic import SecretStr

from core.settings import Settings

# Every namespace this test session made, so that the session can sweep them away at its end:
# thousands of leftover topics would slow the one local broker down for every later run.
SESSION_NAMESPACES: set[str] = set()


def namespaced(base: Settings, letter: str) -> Settings:
    """``base`` in a namespace of its own, tagged ``letter`` and a random suffix."""
    tag = letter + uuid.uuid4().hex[:10]
    SESSION_NAMESPACES.add(tag)
    return base.namespaced(tag)


# The terminals' master key of every test gateway; a terminal's own key derives from it.
TERMINAL_MASTER = SecretStr("integration-tests-terminal-master-key")


def terminal_headers(terminal_id: str) -> dict[str, str]:
    """What terminal ``terminal_id`` sends to authenticate itself."""
    from auth_gateway.terminal_auth import terminal_key

    return {"X-Terminal-Key": terminal_key(TERMINAL_MASTER, terminal_id)}


# For tests whose subject is not the door: many attempts from one terminal, impostors trying the
# same users again and again, three probe photos a person sent again re-encoded. The door's
# limits and the replay check are tested on their own (tests/security/test_door.py and
# test_replay.py) and would only get in the way elsewhere.
DOOR_OPEN: dict[str, object] = {
    "challenges_per_terminal_minute": 10_000,
    "throttle_free_failures": 1_000,
    "throttle_terminal_free_failures": 1_000,
    "recent_probes_kept": 0,
}


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
