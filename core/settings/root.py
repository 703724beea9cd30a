"""The settings tree and the sources it is read from."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from enum import Enum
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from core.settings import legacy
from core.settings.backends import KafkaSection, MongoSection, S3Section, StackSection, home_cache
from core.settings.base import ExpandedPath
from core.settings.dashboard import DashboardSection
from core.settings.files import CONFIG_ENV, check_known_keys, keys_under, load_config_file
from core.settings.gateway import GatewaySection
from core.settings.models import ModelsSection
from core.settings.processors import ProcessorsSection
from core.settings.trainer import TrainerSection

ENV_PREFIX = "KIBALOCK_"
# A namespace tag becomes part of topic, bucket and database names: the characters all accept.
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class Settings(BaseSettings):
    """Every process's configuration; see docs/configuration.md for each key."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
    )

    gateway: GatewaySection = Field(default_factory=GatewaySection)
    trainer: TrainerSection = Field(default_factory=TrainerSection)
    processors: ProcessorsSection = Field(default_factory=ProcessorsSection)
    dashboard: DashboardSection = Field(default_factory=DashboardSection)
    models: ModelsSection = Field(default_factory=ModelsSection)
    stack: StackSection = Field(default_factory=StackSection)
    kafka: KafkaSection = Field(default_factory=KafkaSection)
    mongo: MongoSection = Field(default_factory=MongoSection)
    s3: S3Section = Field(default_factory=S3Section)
    # Heavy, reusable downloads and builds: model weights (by default) and the dev stack.
    cache_dir: ExpandedPath = Field(default_factory=home_cache)
    # Development mode: services accept the local stack's defaults (see core/settings/dev.py).
    dev: bool = False
    log_level: str = "INFO"
    log_json: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if isinstance(env_settings, EnvSettingsSource):
            env_settings.env_vars = legacy.translate_env(env_settings.env_vars)
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    @property
    def model_files_dir(self) -> Path:
        """Where the offline model weights live: ``models.files_dir`` or ``{cache_dir}/models``."""
        return self.models.files_dir or self.cache_dir / "models"

    def namespaced(self, tag: str) -> Settings:
        """A copy with topics, buckets and a database of its own, named after ``tag``
        (lower-case letters, digits and hyphens): tests, benchmarks and the demo share one
        stack this way."""
        if not _TAG.match(tag):
            raise ValueError(f"namespace tag {tag!r}: use 1-40 of a-z, 0-9 and -")
        return self.model_copy(
            update={
                "kafka": self.kafka.model_copy(update={"topic_prefix": f"{tag}."}),
                "s3": self.s3.model_copy(update={"bucket_prefix": f"{tag}-"}),
                "mongo": self.mongo.model_copy(update={"database": f"kibalock_{tag}"}),
            }
        )

    def to_env(self) -> dict[str, str]:
        """The ``KIBALOCK_*`` variables that give a child process these settings, secrets
        included. Unset optional values (None) are left out."""
        return dict(_env_items(self, ENV_PREFIX))


def _env_items(model: BaseModel, prefix: str) -> Iterator[tuple[str, str]]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name.upper()}"
        if isinstance(value, BaseModel):
            yield from _env_items(value, f"{key}__")
        elif value is not None:
            yield key, _env_text(value)


def _env_text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str | int | float | Path):
        return str(value)
    # Lists and mappings: the environment source parses complex values as JSON.
    return json.dumps(value)


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the file named by ``KIBALOCK_CONFIG``; a missing or unparsable file, or a key the
    tree does not have, is an error."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        name = os.environ.get(CONFIG_ENV)
        if not name:
            return {}
        source = f"config file {name}"
        data = legacy.translate_file(
            load_config_file(Path(name)), source, partial(keys_under, self.settings_cls)
        )
        check_known_keys(self.settings_cls, data, source)
        return data


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
