"""``kibalock models export``: a published version, read through the gateways' verified path,
written as ONNX or converted to .tflite; tfjs and unknown versions refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.support.onnx_build import rotation_point
from core.settings import Settings, get_settings
from kibalock_cli.models import models_app
from tests.registry_kit import good

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(
    ns_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    for name, value in ns_settings.to_env().items():
        monkeypatch.setenv(name, value)
    keys = tmp_path / "publisher"
    assert CliRunner().invoke(models_app, ["keygen", "--out", str(keys)]).exit_code == 0
    monkeypatch.setenv(
        "KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY_FILE", str(keys.with_suffix(".key"))
    )
    monkeypatch.setenv("KIBALOCK_MODELS__TRUST__PUBLIC_KEYS_FILE", str(keys.with_suffix(".pub")))
    get_settings.cache_clear()
    yield ns_settings
    get_settings.cache_clear()


def test_a_published_version_exports_to_onnx_and_tflite(cli_env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    model = tmp_path / "model.onnx"
    model.write_bytes(good(128, 1))
    point = tmp_path / "point.json"
    point.write_text(rotation_point("face-embedder", "1.1.0").model_dump_json())
    publish = ["publish", str(model), "--name", "face-embedder", "--version", "1.1.0"]
    published = runner.invoke(models_app, [*publish, "--operating-point", str(point)])
    assert published.exit_code == 0, published.output
    out = tmp_path / "exports"

    onnx = runner.invoke(
        models_app, ["export", "face-embedder", "1.1.0", "--format", "onnx", "--out", str(out)]
    )
    assert onnx.exit_code == 0, onnx.output
    written = out / "face-embedder-1.1.0.onnx"
    assert written.read_bytes() == model.read_bytes()
    assert hashlib.sha256(written.read_bytes()).hexdigest() in onnx.output

    tfl = runner.invoke(models_app, ["export", "face-embedder", "1.1.0", "--out", str(out)])
    assert tfl.exit_code == 0, tfl.output
    assert (out / "face-embedder-1.1.0.tflite").read_bytes()[4:8] == b"TFL3"
    assert "max abs diff" in tfl.output

    missing = runner.invoke(models_app, ["export", "face-embedder", "9.9.9", "--out", str(out)])
    assert missing.exit_code == 1 and "not in the registry" in missing.output
    tfjs = runner.invoke(models_app, ["export", "face-embedder", "1.1.0", "--format", "tfjs"])
    assert tfjs.exit_code == 2 and "LiteRT.js" in tfjs.output
