"""Integration tests run against the real local stack; the fixtures are in ``tests/conftest.py``.

The helpers are re-exported here for the modules that import them from this place.
"""

from __future__ import annotations

from tests.stack_kit import TERMINAL_MASTER, namespaced, terminal_headers, with_gateway_keys

__all__ = ["TERMINAL_MASTER", "namespaced", "terminal_headers", "with_gateway_keys"]
