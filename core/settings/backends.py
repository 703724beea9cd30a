"""The backing services: Kafka, MongoDB (FerretDB), S3, and the dev stack that runs them."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr

from core.settings.base import ExpandedPath, Section


def home_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kibalock"


class KafkaSection(Section):
    bootstrap: str = "127.0.0.1:19092"
    client_id: str = "kibalock"
    default_partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Namespaces every topic (tests and side-by-side deployments share one broker this way).
    topic_prefix: str = ""


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
    start_timeout_s: float = Field(default=120.0, gt=0)
