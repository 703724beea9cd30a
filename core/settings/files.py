"""The config file named by ``KIBALOCK_CONFIG``: JSON, YAML or TOML, every key known."""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

CONFIG_ENV = "KIBALOCK_CONFIG"


class UnknownKey(ValueError):
    """A key the settings tree does not have; ``key`` is its dotted path."""

    def __init__(self, source: str, key: str, known: list[str]) -> None:
        close = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        super().__init__(f"{source}: unknown key {key}{hint}")
        self.key = key


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


def check_known_keys(model: type[BaseModel], data: Mapping[str, Any], source: str) -> None:
    """Raises :class:`UnknownKey` for the first key, at any depth, that ``model`` lacks."""
    _check(model, data, source, "")


def _check(model: type[BaseModel], data: Mapping[str, Any], source: str, prefix: str) -> None:
    fields = model.model_fields
    for key, value in data.items():
        path = f"{prefix}{key}"
        field = fields.get(key)
        if field is None:
            raise UnknownKey(source, path, list(fields))
        section = field.annotation
        if (
            isinstance(value, Mapping)
            and isinstance(section, type)
            and issubclass(section, BaseModel)
        ):
            _check(section, value, source, f"{path}.")


def keys_under(model: type[BaseModel], section: str) -> list[str]:
    """The keys of a section of ``model`` (dotted path; "" is the top); [] if it is none."""
    for key in filter(None, section.split(".")):
        field = model.model_fields.get(key)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
