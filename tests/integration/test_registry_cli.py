"""``kibalock models keygen | publish | sign | list | rollback`` against the real stack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bench.support.onnx_build import rotation_point
from core import docstore
from core.objectstore import ObjectStore
from core.registry import ModelRegistry, store_candidate
from core.settings import Settings, get_settings
from kibalock_cli.models import (
    keygen_command,
    list_command,
    publish_command,
    rollback_command,
    sign_command,
)
from schemas import ActivationStatus, ModelActivation, decode
from tests.integration.kafka_reader import read_topic
from tests.registry_kit import collapsing, good

app = typer.Typer()
for name, command in (
    ("keygen", keygen_command),
    ("publish", publish_command),
    ("list", list_command),
    ("rollback", rollback_command),
    ("sign", sign_command),
):
    app.command(name)(command)


@pytest.fixture
def cli_env(ns_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for name, value in ns_settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "200")  # the table is read back, unwrapped
    get_settings.cache_clear()
    yield ns_settings
    get_settings.cache_clear()


def _point_file(folder: Path, version: str) -> Path:
    path = folder / f"point-{version}.json"
    path.write_text(rotation_point("face-embedder", version).model_dump_json())
    return path


def _activate(settings: Settings, version: str) -> None:
    async def run() -> None:
        client = docstore.client(settings)
        registry = ModelRegistry(client[settings.mongo.database], ObjectStore(settings))
        assert await registry.activate("face-embedder", version, by="tests")
        await client.close()

    asyncio.run(run())


def test_publish_list_and_rollback(
    cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    keygen = runner.invoke(app, ["keygen", "--out", str(tmp_path / "publisher")])
    assert keygen.exit_code == 0, keygen.output
    monkeypatch.setenv(
        "KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY_FILE", str(tmp_path / "publisher.key")
    )
    get_settings.cache_clear()

    for version, data in (("1.1.0", good(128, 1)), ("1.2.0", good(128, 2))):
        path = tmp_path / f"{version}.onnx"
        path.write_bytes(data)
        args = ["publish", str(path), "--name", "face-embedder", "--version", version]
        args += ["--operating-point", str(_point_file(tmp_path, version))]
        result = runner.invoke(app, [*args, "--metric", "eer=0.012", "--job", "job-7"])
        assert result.exit_code == 0, result.output
        _activate(cli_env, version)

    # A model that does not fit its slot is refused before anything is uploaded.
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(collapsing(64))
    point = str(_point_file(tmp_path, "9.0.0"))
    publish = ["publish", "--name", "face-embedder", "--operating-point", point]
    refused = runner.invoke(app, [*publish, str(bad), "--version", "9.0.0"])
    assert refused.exit_code == 1 and "io_spec_mismatch" in refused.output
    # So is a model whose operating point was fitted for another version.
    fine = tmp_path / "1.1.0.onnx"
    foreign = runner.invoke(app, [*publish, str(fine), "--version", "9.0.1"])
    assert foreign.exit_code == 1 and "calibration_mismatch" in foreign.output

    listed = json.loads(runner.invoke(app, ["list", "--json"]).output)
    assert [(r["version"], r["status"]) for r in listed] == [
        ("1.1.0", "retired"),
        ("1.2.0", "active"),
    ]
    assert listed[0]["manifest"]["validation_metrics"] == {"eer": 0.012}
    table = runner.invoke(app, ["list"]).output
    assert "1.2.0" in table and "voice-embedder" in table  # the offline default is listed

    rolled = runner.invoke(app, ["rollback", "face-embedder"])
    assert rolled.exit_code == 0 and "active: 1.1.0" in rolled.output, rolled.output
    listed = json.loads(runner.invoke(app, ["list", "face-embedder", "--json"]).output)
    assert [(r["version"], r["status"], r["reason"]) for r in listed] == [
        ("1.1.0", "active", None),
        ("1.2.0", "rejected", "manual"),
    ]
    records = asyncio.run(read_topic(cli_env, "models.activations", at_least=1))
    events = [decode("models.activations", r.value, r.headers) for r in records]
    assert isinstance(events[0], ModelActivation)
    assert (events[0].status, events[0].model_version, events[0].previous_version) == (
        ActivationStatus.ROLLED_BACK,
        "1.2.0",
        "1.1.0",
    )


def test_an_imported_candidate_is_signed_where_the_key_lives(
    cli_env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["keygen", "--out", str(tmp_path / "publisher")]).exit_code == 0
    monkeypatch.setenv(
        "KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY_FILE", str(tmp_path / "publisher.key")
    )
    objects = ObjectStore(cli_env)
    asyncio.run(objects.ensure_buckets())
    asyncio.run(store_candidate(objects, "face-embedder", "1.5.0", good(128, 5)))

    point = str(_point_file(tmp_path, "1.5.0"))
    signed = runner.invoke(app, ["sign", "face-embedder", "1.5.0", "--operating-point", point])
    assert signed.exit_code == 0, signed.output
    listed = json.loads(runner.invoke(app, ["list", "face-embedder", "--json"]).output)
    assert [(r["version"], r["status"]) for r in listed] == [("1.5.0", "candidate")]
    assert listed[0]["manifest"]["operating_point"]["model"] == {
        "name": "face-embedder",
        "version": "1.5.0",
    }
    # The waiting room is cleared: signing again finds nothing to sign.
    again = runner.invoke(app, ["sign", "face-embedder", "1.5.0", "--operating-point", point])
    assert again.exit_code == 1 and "candidate_missing" in again.output
