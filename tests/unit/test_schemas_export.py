"""The published JSON Schemas and AsyncAPI document: complete, valid-looking and up to date."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from schemas import HEADER_EVENT_ID, HEADER_PRODUCER, HEADER_TYPE, HEADER_VERSION, TOPICS
from schemas.catalog import EVENT_CLASSES
from schemas.cli import schemas_app
from schemas.export import ASYNCAPI_FILE, PUBLISHED_DIR, export, render, schema_file_name

HEADERS = (HEADER_TYPE, HEADER_VERSION, HEADER_EVENT_ID, HEADER_PRODUCER)
FIX = "run `kibalock schemas export` and commit schemas/published/"


def test_checked_in_copy_equals_a_fresh_export(tmp_path: Path) -> None:
    export(tmp_path)
    fresh = {p.name: p.read_text(encoding="utf-8") for p in sorted(tmp_path.iterdir())}
    published = {p.name: p.read_text(encoding="utf-8") for p in sorted(PUBLISHED_DIR.iterdir())}
    assert published.keys() == fresh.keys(), f"published files differ: {FIX}"
    stale = [name for name in fresh if published[name] != fresh[name]]
    assert not stale, f"stale published files {stale}: {FIX}"


def test_export_is_deterministic() -> None:
    assert render() == render()


def test_one_schema_per_registered_event(tmp_path: Path) -> None:
    export(tmp_path)
    expected = {schema_file_name(cls) for cls in EVENT_CLASSES.values()} | {ASYNCAPI_FILE}
    assert {p.name for p in tmp_path.iterdir()} == expected
    for (type_name, version), cls in EVENT_CLASSES.items():
        schema = json.loads((tmp_path / schema_file_name(cls)).read_text(encoding="utf-8"))
        assert schema["$schema"].endswith("2020-12/schema")
        assert schema["properties"]["type"]["const"] == type_name
        assert schema["properties"]["version"]["const"] == version
        assert schema["additionalProperties"] is False
        assert "producer" in schema["required"]


def test_export_removes_stale_schemas_only(tmp_path: Path) -> None:
    (tmp_path / "auth.attempt.v0.schema.json").write_text("{}")
    (tmp_path / "README.md").write_text("keep me")
    result = export(tmp_path)
    assert [p.name for p in result.removed] == ["auth.attempt.v0.schema.json"]
    assert (tmp_path / "README.md").exists()


def _asyncapi() -> dict[str, Any]:
    doc = yaml.safe_load((PUBLISHED_DIR / ASYNCAPI_FILE).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_asyncapi_has_a_channel_per_topic() -> None:
    doc = _asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert set(doc["channels"]) == set(TOPICS)
    for name, spec in TOPICS.items():
        channel = doc["channels"][name]
        assert channel["address"] == name
        kafka = channel["bindings"]["kafka"]
        assert kafka["partitions"] == spec.partitions
        policy = ["compact"] if spec.compacted else ["delete"]
        assert kafka["topicConfiguration"]["cleanup.policy"] == policy
        assert spec.key_field in channel["description"]


def test_asyncapi_operations_and_messages_resolve() -> None:
    doc = _asyncapi()
    actions = {(op["channel"]["$ref"], op["action"]) for op in doc["operations"].values()}
    assert actions == {(f"#/channels/{t}", a) for t in TOPICS for a in ("send", "receive")}
    for op in doc["operations"].values():
        channel = _resolve(doc, op["channel"]["$ref"])
        for ref in op["messages"]:
            assert ref["$ref"].startswith(op["channel"]["$ref"] + "/messages/")
            message = _resolve(doc, _resolve(doc, ref["$ref"])["$ref"])
            assert message in [_resolve(doc, m["$ref"]) for m in channel["messages"].values()]
            assert (PUBLISHED_DIR / message["payload"]["$ref"]).is_file()
            headers = message["headers"]
            assert headers["properties"]["kl-type"]["const"] == message["name"]
            assert set(headers["required"]) == set(HEADERS)
            assert message["bindings"]["kafka"]["key"]["type"] == "string"


def test_cli_export_writes_and_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(schemas_app, ["export", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert ASYNCAPI_FILE in result.output
    assert (tmp_path / "out" / ASYNCAPI_FILE).is_file()
