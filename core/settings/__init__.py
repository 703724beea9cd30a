"""Configuration for every KibaLock process: one tree, :class:`Settings`.

Values come, in order of precedence, from keyword arguments, ``KIBALOCK_*`` environment
variables (nested with ``__``, e.g. ``KIBALOCK_GATEWAY__HTTP_PORT=8081``), a config file named
by ``KIBALOCK_CONFIG`` (JSON, YAML or TOML) and the defaults. Sections: ``gateway``,
``trainer``, ``processors``, ``dashboard``, ``models`` (with ``publisher`` and ``trust``),
``stack``, ``kafka``, ``mongo``, ``s3``; top level ``cache_dir``, ``log_level``, ``log_json``.
docs/configuration.md lists every key and the mapping of the older names
(:mod:`core.settings.legacy`).
"""

from core.settings.backends import KafkaSection, MongoSection, S3Section, StackSection
from core.settings.dashboard import DashboardSection
from core.settings.files import CONFIG_ENV, UnknownKey
from core.settings.gateway import GatewaySection
from core.settings.models import ModelsSection, PublisherSection, SigningKeyMissing, TrustSection
from core.settings.processors import ProcessorsSection
from core.settings.root import ENV_PREFIX, Settings, get_settings
from core.settings.trainer import TrainerSection

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "DashboardSection",
    "GatewaySection",
    "KafkaSection",
    "ModelsSection",
    "MongoSection",
    "ProcessorsSection",
    "PublisherSection",
    "S3Section",
    "Settings",
    "SigningKeyMissing",
    "StackSection",
    "TrainerSection",
    "TrustSection",
    "UnknownKey",
    "get_settings",
]
