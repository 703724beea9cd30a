"""Passwords the dev stack makes for itself: generated once, kept in a file only its owner reads."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr


def generated_secret(path: Path) -> SecretStr:
    """The secret in ``path``, generated and written (0600, in a 0700 folder) on first use."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        # URL-safe characters: the JAAS, SCRAM and S3 syntaxes need no quoting of them.
        secret = secrets.token_urlsafe(24)
        # O_EXCL: two `stack up` racing must not each write a different secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return SecretStr(path.read_text().strip())
        with os.fdopen(fd, "w") as out:
            out.write(secret + "\n")
    return SecretStr(path.read_text().strip())
