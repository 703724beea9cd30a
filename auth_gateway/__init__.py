"""KibaLock's gateway: verifies voice + face login attempts against enrolled templates and decides.

It runs as ``kibalock gateway`` (:mod:`auth_gateway.cli`). Outside the gateway, import only the
names below (the benchmark drives hot-swap and re-embedding with them); the other modules are
an implementation detail. They load on first use, not with the package: they pull in
onnxruntime and the stores, which ``kibalock --help`` should not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auth_gateway.crypto import TemplateCipher
    from auth_gateway.hotswap import HotSwapper
    from auth_gateway.reembed import ReEmbedder, features_version
    from auth_gateway.templates import TemplateStore

__all__ = [
    "HotSwapper",
    "ReEmbedder",
    "TemplateCipher",
    "TemplateStore",
    "features_version",
]

_HOME = {
    "HotSwapper": "auth_gateway.hotswap",
    "ReEmbedder": "auth_gateway.reembed",
    "TemplateCipher": "auth_gateway.crypto",
    "TemplateStore": "auth_gateway.templates",
    "features_version": "auth_gateway.reembed",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
