"""The backing services: Kafka, MongoDB (FerretDB), S3, and the dev stack that runs them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from core.settings.base import ExpandedPath, Section, inline_or_file


def home_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kibalock"


class KafkaSection(Section):
    bootstrap: str = "127.0.0.1:19092"
    client_id: str = "kibalock"
    default_partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Namespaces every topic (tests and side-by-side deployments share one broker this way).
    topic_prefix: str = ""
    # SASL_*: the client authenticates as ``username`` and the broker's ACLs decide what it may
    # read and write (one principal per role; `kibalock stack up --secure` creates them).
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    password_file: ExpandedPath | None = None
    # SASL_SSL: CA bundle that signed the broker's certificate; none: the system's.
    ssl_cafile: ExpandedPath | None = None

    @model_validator(mode="after")
    def _sasl_needs_a_login(self) -> Self:
        if self.sasl:
            if not self.username:
                raise ValueError(
                    f"kafka.security_protocol {self.security_protocol} needs a username"
                )
            if (self.password is None) == (self.password_file is None):
                raise ValueError(
                    f"kafka.security_protocol {self.security_protocol} needs one of "
                    "kafka.password and kafka.password_file"
                )
        return self

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def sasl_password(self) -> SecretStr:
        """The SASL password, inline or read now from ``password_file`` (a rotated file is
        picked up by the next client)."""
        secret = inline_or_file(self.password, self.password_file, "kafka.password_file")
        if secret is None:
            raise ValueError("kafka.password or kafka.password_file is not set")
        return secret


class MongoSection(Section):
    uri: str = "mongodb://127.0.0.1:27117/"
    database: str = "kibalock"


class S3Section(Section):
    endpoint: str = "127.0.0.1:9100"
    access_key: str = "kibalock"
    secret_key: SecretStr = SecretStr("kibalock-dev-secret")
    secure: bool = False
    region: str = "us-east-1"
    # Namespaces every bucket, as topic_prefix does for topics.
    bucket_prefix: str = ""


class StackSection(Section):
    """The native dev stack run by ``kibalock stack``; ports must match the sections above."""

    data_dir: ExpandedPath = Field(default_factory=lambda: home_cache() / "stack")
    kafka_version: str = "4.4.0"
    kafka_controller_port: int = 19093
    kafka_heap: str = "768m"
    # Kafka with SASL/SCRAM on its client listener, the broker's authorizer, and one principal
    # (with ACLs) per role; their passwords are written under ``{data_dir}/kafka-secure``.
    secure_kafka: bool = False
    # S3 with one user per role (deploy/minio-policies), enforced by bucket policies; their
    # secrets are written under ``{data_dir}/s3-secure``. The root stays ``s3.access_key``.
    secure_s3: bool = False
    start_timeout_s: float = Field(default=120.0, gt=0)
