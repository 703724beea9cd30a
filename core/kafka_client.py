"""How every Kafka client of the project reaches the broker: address, protocol and login.

aiokafka producers, consumers and admin clients take :func:`client_options`; faust takes the same
settings through :func:`ssl_context` and ``KafkaSection.sasl_password`` (its own credentials type).
"""

from __future__ import annotations

import ssl
from typing import Any

from core.settings import Settings
from core.settings.backends import KafkaSection


def ssl_context(kafka: KafkaSection) -> ssl.SSLContext | None:
    """The TLS context of a ``SASL_SSL`` connection (verifying the broker), else None."""
    if kafka.security_protocol != "SASL_SSL":
        return None
    return ssl.create_default_context(cafile=kafka.ssl_cafile)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``AIOKafkaProducer``, ``AIOKafkaConsumer`` and
    ``AIOKafkaAdminClient``: bootstrap servers, security protocol and SASL login."""
    kafka = settings.kafka
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap,
        "security_protocol": kafka.security_protocol,
    }
    if kafka.sasl:
        options |= {
            "sasl_mechanism": kafka.sasl_mechanism,
            "sasl_plain_username": kafka.username,
            "sasl_plain_password": kafka.sasl_password().get_secret_value(),
            "ssl_context": ssl_context(kafka),
        }
    return options
