"""Development defaults a service must not run with in production.

The defaults make the local stack work with no configuration: an object-store secret everyone
knows, a MongoDB connection without credentials. A service started with any of them refuses to
run unless ``dev`` is set (``KIBALOCK_DEV=true``: the local stack, the demo), so a deployment
that forgot a secret fails loudly at start instead of running wide open.
"""

from __future__ import annotations

from urllib.parse import urlparse

from core.settings.backends import S3Section
from core.settings.root import Settings

DEV_S3_SECRET = S3Section().secret_key.get_secret_value()


class DevelopmentSecrets(RuntimeError):
    """A service outside development mode was given development defaults."""


def development_defaults(settings: Settings) -> list[str]:
    """The settings still at a development default, by their environment names."""
    found = []
    if settings.s3.secret_key.get_secret_value() == DEV_S3_SECRET:
        found.append("KIBALOCK_S3__SECRET_KEY (the development secret)")
    if not urlparse(settings.mongo.uri).username:
        found.append("KIBALOCK_MONGO__URI (no credentials)")
    return found


def refuse_development_defaults(settings: Settings, service: str) -> None:
    """Raises :class:`DevelopmentSecrets` naming what to set, unless ``settings.dev``."""
    if settings.dev:
        return
    found = development_defaults(settings)
    if found:
        raise DevelopmentSecrets(
            f"the {service} refuses to start with development defaults: {'; '.join(found)}. "
            "Set them, or KIBALOCK_DEV=true to run against the local development stack."
        )
