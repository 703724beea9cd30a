"""Configuration for every KibaLock process.

Values come, in order of precedence, from keyword arguments, ``KIBALOCK_*`` environment
variables (nested with ``__``, e.g. ``KIBALOCK_KAFKA__BOOTSTRAP=host:9092``), a config file
named by ``KIBALOCK_CONFIG`` (JSON, YAML or TOML) and the defaults below.

The file keeps the three sections of the original integration note — ``shared`` (paths),
``lifemodo`` (trainer options) and ``kibalock`` (gateway options) — next to the sections for the
backing services.
"""

from __future__ import annotations

import json
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

CONFIG_ENV = "KIBALOCK_CONFIG"


def _home_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kibalock"


class SharedPaths(BaseModel):
    """Where heavy, reusable files live (the original note's ``shared`` section)."""

    cache_dir: Path = Field(default_factory=_home_cache)
    models_dir: Path | None = None
    temp_dir: Path | None = None

    @property
    def models(self) -> Path:
        return self.models_dir or self.cache_dir / "models"

    @property
    def temp(self) -> Path:
        return self.temp_dir or self.cache_dir / "tmp"


class TrainerOptions(BaseModel):
    """LifeModo options (the original note's ``lifemodo`` section)."""

    training_enabled: bool = True
    export_formats: list[str] = Field(default_factory=lambda: ["onnx"])
    auto_publish: bool = True


class GatewayOptions(BaseModel):
    """KibaLock options (the original note's ``kibalock`` section)."""

    use_custom_models: bool = True
    fallback_to_pretrained: bool = True
    model_update_check: bool = True
    training_quality_threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    target_fmr: float = Field(default=1e-3, gt=0.0, lt=1.0)
    # Admin endpoints (enrolment, erasure, model import, exports) need this key.
    api_key: SecretStr | None = None
    # AES-256-GCM key for templates at rest: base64 of 32 bytes, or a file holding it.
    template_key: SecretStr | None = None
    template_key_file: Path | None = None
    challenge_digits: int = Field(default=3, ge=3, le=12)
    challenge_ttl_s: float = Field(default=120.0, gt=0)
    session_ttl_s: float = Field(default=900.0, gt=0)
    min_enrol_samples: int = Field(default=3, ge=1)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # CPU-bound model work: worker threads, and attempts in flight before the consumer waits.
    workers: int = Field(default=2, ge=1)
    max_in_flight: int = Field(default=4, ge=1)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    consumer_group: str = "auth-gateway"


class KafkaSettings(BaseModel):
    bootstrap: str = "127.0.0.1:19092"
    client_id: str = "kibalock"
    default_partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Namespaces every topic (tests and side-by-side deployments share one broker this way).
    topic_prefix: str = ""


class MongoSettings(BaseModel):
    uri: str = "mongodb://127.0.0.1:27117/"
    database: str = "kibalock"


class S3Settings(BaseModel):
    endpoint: str = "127.0.0.1:9100"
    access_key: str = "kibalock"
    secret_key: SecretStr = SecretStr("kibalock-dev-secret")
    secure: bool = False
    region: str = "us-east-1"
    # Namespaces every bucket, as topic_prefix does for topics.
    bucket_prefix: str = ""


class StackSettings(BaseModel):
    """The native dev stack run by ``kibalock stack``; ports must match the sections above."""

    data_dir: Path = Field(default_factory=lambda: _home_cache() / "stack")
    kafka_version: str = "4.4.0"
    kafka_controller_port: int = 19093
    kafka_heap: str = "768m"
    start_timeout_s: float = Field(default=120.0, gt=0)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KIBALOCK_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    shared: SharedPaths = Field(default_factory=SharedPaths)
    lifemodo: TrainerOptions = Field(default_factory=TrainerOptions)
    kibalock: GatewayOptions = Field(default_factory=GatewayOptions)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    stack: StackSettings = Field(default_factory=StackSettings)
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
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the file named by ``KIBALOCK_CONFIG``; a missing or unparsable file is an error."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        name = os.environ.get(CONFIG_ENV)
        return load_config_file(Path(name)) if name else {}


def load_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{CONFIG_ENV} names {path}, which is not a file")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.loads(text)
    elif suffix in {".yaml", ".yml"}:
        data = yaml.safe_load(text)
    elif suffix == ".toml":
        data = tomllib.loads(text)
    else:
        raise ValueError(f"config file {path}: use .json, .yaml, .yml or .toml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: the top level must be a mapping")
    return data


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
