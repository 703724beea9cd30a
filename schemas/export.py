"""JSON Schema and AsyncAPI 3.0 documents generated from the event classes and the catalog.

The output is deterministic (sorted keys, catalog order, no timestamps) so the published copy
in ``schemas/published/`` can be checked in and compared with a fresh export in the tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from schemas.catalog import TOPICS, TopicSpec
from schemas.codec import HEADER_EVENT_ID, HEADER_PRODUCER, HEADER_TYPE, HEADER_VERSION
from schemas.envelope import Event

PUBLISHED_DIR = Path(__file__).resolve().parent / "published"
ASYNCAPI_FILE = "asyncapi.yaml"
SCHEMA_SUFFIX = ".schema.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The version of the contract set as a whole (AsyncAPI's info.version): bump it on any change
# to the published documents.
CONTRACTS_VERSION = "1.1.0"
KAFKA_BINDING_VERSION = "0.5.0"


@dataclass(frozen=True, slots=True)
class ExportResult:
    written: list[Path]
    removed: list[Path]


def schema_file_name(cls: type[Event]) -> str:
    return f"{cls.EVENT_TYPE}.v{cls.EVENT_VERSION}{SCHEMA_SUFFIX}"


def _message_id(cls: type[Event]) -> str:
    return f"{cls.EVENT_TYPE}.v{cls.EVENT_VERSION}"


def event_schema(cls: type[Event]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event class, as consumers validate it."""
    schema = cls.model_json_schema(mode="validation")
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": schema_file_name(cls), **schema}


def _headers_schema(cls: type[Event]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "Kafka headers repeating the envelope (values are UTF-8 text).",
        "required": [HEADER_TYPE, HEADER_VERSION, HEADER_EVENT_ID, HEADER_PRODUCER],
        "properties": {
            HEADER_TYPE: {"type": "string", "const": cls.EVENT_TYPE},
            HEADER_VERSION: {"type": "string", "const": str(cls.EVENT_VERSION)},
            HEADER_EVENT_ID: {"type": "string", "format": "uuid"},
            HEADER_PRODUCER: {"type": "string"},
        },
    }


def _message(cls: type[Event], spec: TopicSpec) -> dict[str, Any]:
    summary = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
    return {
        "name": cls.EVENT_TYPE,
        "title": f"{cls.__name__} (v{cls.EVENT_VERSION})",
        "summary": summary,
        "contentType": "application/json",
        "headers": _headers_schema(cls),
        "payload": {"$ref": f"./{schema_file_name(cls)}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"the event's {spec.key_field}"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel(spec: TopicSpec) -> dict[str, Any]:
    return {
        "address": spec.name,
        "title": spec.name,
        "description": f"{spec.description} Key: {spec.key_field}.",
        "messages": {
            _message_id(cls): {"$ref": f"#/components/messages/{_message_id(cls)}"}
            for cls in spec.event_types
        },
        "bindings": {
            "kafka": {
                "partitions": spec.partitions,
                "topicConfiguration": {
                    "cleanup.policy": ["compact"] if spec.compacted else ["delete"]
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _operations(spec: TopicSpec) -> dict[str, dict[str, Any]]:
    messages = [
        {"$ref": f"#/channels/{spec.name}/messages/{_message_id(cls)}"} for cls in spec.event_types
    ]
    channel = {"$ref": f"#/channels/{spec.name}"}
    return {
        f"{spec.name}.send": {
            "action": "send",
            "channel": channel,
            "summary": f"Produced by {', '.join(spec.producers)}.",
            "messages": messages,
        },
        f"{spec.name}.receive": {
            "action": "receive",
            "channel": channel,
            "summary": f"Consumed by {', '.join(spec.consumers)}.",
            "messages": messages,
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document: a channel per topic, send/receive operations, messages."""
    operations: dict[str, Any] = {}
    for spec in TOPICS.values():
        operations.update(_operations(spec))
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "KibaLock events",
            "version": CONTRACTS_VERSION,
            "description": (
                "Events between login terminals, the KibaLock gateway, the stream processors "
                "and the LifeModo trainer. Every payload is the whole event as compact UTF-8 "
                "JSON: the envelope (event_id, type, version, occurred_at, producer) and the "
                "payload fields side by side. Media travel as s3:// references with a sha256."
            ),
        },
        "defaultContentType": "application/json",
        "channels": {spec.name: _channel(spec) for spec in TOPICS.values()},
        "operations": operations,
        "components": {
            "messages": {
                _message_id(cls): _message(cls, spec)
                for spec in TOPICS.values()
                for cls in spec.event_types
            }
        },
    }


def render() -> dict[str, str]:
    """Every published file: name → text."""
    files = {
        schema_file_name(cls): json.dumps(event_schema(cls), indent=2, sort_keys=True) + "\n"
        for spec in TOPICS.values()
        for cls in spec.event_types
    }
    files[ASYNCAPI_FILE] = yaml.safe_dump(
        asyncapi_document(), sort_keys=True, allow_unicode=True, width=100
    )
    return files


def export(out: Path) -> ExportResult:
    """Write every published file to ``out``; delete schema files no event produces any more.

    Only ``*.schema.json`` files are ever deleted: ``out`` is meant to hold the export alone,
    but nothing else in it is touched.
    """
    out.mkdir(parents=True, exist_ok=True)
    files = render()
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    removed = sorted(p for p in out.glob(f"*{SCHEMA_SUFFIX}") if p.name not in files)
    for path in removed:
        path.unlink()
    return ExportResult(written=written, removed=removed)
