"""Per-terminal credentials: each terminal's key is an HMAC of its id under a master key.

The gateway keeps one secret (the master key) and can check any terminal's key without a table
of them; a terminal's key opens only that terminal's id, so a stolen terminal cannot speak for
another, and revoking it is one line of settings (``gateway.revoked_terminals``). The cost: a
stolen *master* key would let its holder make every terminal's key, so it lives with the
gateway's other secrets (a file readable by its owner only, or a secret store).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from pydantic import SecretStr


def new_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def terminal_key(master: SecretStr, terminal_id: str) -> str:
    """The key a terminal presents in ``X-Terminal-Key``."""
    digest = hmac.new(
        master.get_secret_value().encode(), b"terminal\0" + terminal_id.encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class TerminalAuth:
    def __init__(self, master: SecretStr | None, revoked: list[str]) -> None:
        self.master = master
        self.revoked = frozenset(revoked)

    @property
    def enabled(self) -> bool:
        return self.master is not None

    def check(self, terminal_id: str, presented: str | None) -> bool:
        """Whether ``presented`` is ``terminal_id``'s key and the terminal is not revoked."""
        if self.master is None or presented is None or terminal_id in self.revoked:
            return False
        expected = terminal_key(self.master, terminal_id)
        return hmac.compare_digest(presented.encode(), expected.encode())
