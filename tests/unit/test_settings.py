"""Settings: defaults, the config file's three sections, environment precedence, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import CONFIG_ENV, Settings


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    settings = Settings()
    assert settings.kafka.bootstrap == "127.0.0.1:19092"
    assert settings.mongo.uri.startswith("mongodb://127.0.0.1:")
    assert settings.kibalock.training_quality_threshold == 0.95
    assert settings.shared.models == settings.shared.cache_dir / "models"


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_config_file_with_the_original_sections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    data = {
        "shared": {"models_dir": str(tmp_path / "m")},
        "lifemodo": {"training_enabled": False, "export_formats": ["onnx"]},
        "kibalock": {"training_quality_threshold": 0.9},
        "kafka": {"bootstrap": "broker:9092"},
    }
    path = tmp_path / f"config{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    elif suffix == ".yaml":
        import yaml

        path.write_text(yaml.safe_dump(data))
    else:
        path.write_text(
            f'[shared]\nmodels_dir = "{tmp_path / "m"}"\n[lifemodo]\ntraining_enabled = false\n'
            'export_formats = ["onnx"]\n[kibalock]\ntraining_quality_threshold = 0.9\n'
            '[kafka]\nbootstrap = "broker:9092"\n'
        )
    monkeypatch.setenv(CONFIG_ENV, str(path))
    settings = Settings()
    assert settings.shared.models == tmp_path / "m"
    assert settings.lifemodo.training_enabled is False
    assert settings.kibalock.training_quality_threshold == 0.9
    assert settings.kafka.bootstrap == "broker:9092"


def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"kafka": {"bootstrap": "from-file:1"}}))
    monkeypatch.setenv(CONFIG_ENV, str(path))
    monkeypatch.setenv("KIBALOCK_KAFKA__BOOTSTRAP", "from-env:2")
    assert Settings().kafka.bootstrap == "from-env:2"


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBALOCK_S3__SECRET_KEY", "hunter2-very-secret")
    settings = Settings()
    assert "hunter2" not in repr(settings)
    assert settings.s3.secret_key.get_secret_value() == "hunter2-very-secret"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "not a file"),
        ("c.ini", "[x]", "use .json"),
        ("c.json", "[1, 2]", "must be a mapping"),
    ],
)
def test_bad_config_files_say_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        Settings()


def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBALOCK_KIBALOCK__TRAINING_QUALITY_THRESHOLD", "1.5")
    with pytest.raises(ValueError, match="training_quality_threshold"):
        Settings()
