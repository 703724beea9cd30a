"""Settings: defaults, the config file, precedence, strict keys, older names, child processes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, SecretStr

from core.settings import CONFIG_ENV, Settings, UnknownKey, legacy
from schemas import WindowKind

# The configuration file of the original integration note, as it was written.
NOTE = {
    "shared": {
        "models_dir": "~/kibalock/models",
        "embeddings_dir": "~/kibalock/embeddings",
        "temp_dir": "~/kibalock/temp",
    },
    "lifemodo": {
        "training_enabled": True,
        "export_formats": ["onnx", "tflite"],
        "auto_export_to_kibalock": True,
    },
    "kibalock": {
        "use_custom_models": True,
        "fallback_to_pretrained": True,
        "model_update_check": True,
    },
}


@pytest.fixture(autouse=True)
def _no_outside_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: object) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv(CONFIG_ENV, str(path))


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings()
    assert settings.kafka.bootstrap == "127.0.0.1:19092"
    assert settings.mongo.uri.startswith("mongodb://127.0.0.1:")
    assert settings.gateway.training_quality_threshold == 0.95
    assert settings.gateway.follow_registry is True
    assert settings.model_files_dir == settings.cache_dir / "models"
    assert settings.models.asr_dir is None
    assert settings.processors.personal_model == "voice-embedder"


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_every_section_reads_from_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    data = {
        "cache_dir": str(tmp_path / "cache"),
        "gateway": {"training_quality_threshold": 0.9},
        "trainer": {"enabled": False},
        "processors": {"trigger_window": "tumbling", "tumbling_window_s": 30},
        "models": {"files_dir": "~/weights", "trust": {"public_keys": "k1 k2"}},
        "kafka": {"bootstrap": "broker:9092"},
    }
    path = tmp_path / f"config{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(data))
    elif suffix == ".yaml":
        path.write_text(yaml.safe_dump(data))
    else:
        path.write_text(
            f'cache_dir = "{tmp_path / "cache"}"\n'
            "[gateway]\ntraining_quality_threshold = 0.9\n"
            "[trainer]\nenabled = false\n"
            '[processors]\ntrigger_window = "tumbling"\ntumbling_window_s = 30\n'
            '[models]\nfiles_dir = "~/weights"\n[models.trust]\npublic_keys = "k1 k2"\n'
            '[kafka]\nbootstrap = "broker:9092"\n'
        )
    monkeypatch.setenv(CONFIG_ENV, str(path))
    settings = Settings()
    assert settings.cache_dir == tmp_path / "cache"
    assert settings.gateway.training_quality_threshold == 0.9
    assert settings.trainer.enabled is False
    assert settings.processors.trigger_window is WindowKind.TUMBLING
    assert settings.processors.pane_s == 30
    assert settings.model_files_dir == Path.home() / "weights"
    assert settings.models.trust.public_keys == "k1 k2"
    assert settings.kafka.bootstrap == "broker:9092"


def test_precedence_is_arguments_then_environment_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(
        tmp_path,
        monkeypatch,
        {"kafka": {"bootstrap": "from-file:1", "client_id": "file"}, "log_level": "DEBUG"},
    )
    monkeypatch.setenv("KIBALOCK_KAFKA__BOOTSTRAP", "from-env:2")
    monkeypatch.setenv("KIBALOCK_LOG_LEVEL", "WARNING")
    settings = Settings()
    assert settings.kafka.bootstrap == "from-env:2"
    assert settings.kafka.client_id == "file"
    assert settings.log_level == "WARNING"
    assert Settings(log_level="ERROR").log_level == "ERROR"


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBALOCK_S3__SECRET_KEY", "hunter2-very-secret")
    monkeypatch.setenv("KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY", "hunter3-very-secret")
    settings = Settings()
    assert "hunter" not in repr(settings)
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


@pytest.mark.parametrize(
    ("data", "key", "hint"),
    [
        ({"gatway": {}}, "gatway", "gateway"),
        ({"gateway": {"http_prot": 8081}}, "gateway.http_prot", "http_port"),
        ({"models": {"trust": {"public_key": "k"}}}, "models.trust.public_key", "public_keys"),
        ({"kibalock": {"http_prot": 8081}}, "kibalock.http_prot", "http_port"),
        ({"shared": {"model_dir": "/m"}}, "shared.model_dir", "models_dir"),
    ],
)
def test_an_unknown_file_key_is_an_error_that_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: object, key: str, hint: str
) -> None:
    _config(tmp_path, monkeypatch, data)
    with pytest.raises(UnknownKey, match=rf"unknown key {key} \(did you mean '{hint}'\?\)") as err:
        Settings()
    assert err.value.key == key


def test_an_unknown_name_in_a_known_section_of_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KIBALOCK_GATEWAY__HTTP_PROT", "8081")
    monkeypatch.setenv("KIBALOCK_TEST_DATA", "/elsewhere")  # other tools' names are left alone
    with pytest.raises(ValueError, match=r"gateway\.http_prot"):
        Settings()


def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIBALOCK_GATEWAY__TRAINING_QUALITY_THRESHOLD", "1.5")
    with pytest.raises(ValueError, match="training_quality_threshold"):
        Settings()


def test_the_original_notes_file_still_configures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _config(tmp_path, monkeypatch, NOTE)
    caplog.set_level(logging.INFO, logger="core.settings.legacy")
    settings = Settings()

    assert settings.models.files_dir == Path.home() / "kibalock" / "models"
    assert settings.model_files_dir == Path.home() / "kibalock" / "models"
    assert settings.trainer.enabled is True
    assert settings.trainer.auto_publish is True
    assert settings.gateway.follow_registry is True
    no_effect = {
        r.getMessage().split(": ")[1].removesuffix(" has no effect")
        for r in caplog.records
        if r.levelno == logging.WARNING
    }
    assert no_effect == {
        "shared.embeddings_dir",
        "shared.temp_dir",
        "lifemodo.export_formats",
        "kibalock.fallback_to_pretrained",
        "kibalock.model_update_check",
    }
    warned = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert any("MongoDB" in m for m in warned), "embeddings_dir says where templates are"
    assert any("ONNX only" in m for m in warned), "export_formats says why tflite is ignored"


def test_the_notes_switches_turned_off_reach_their_new_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(
        tmp_path,
        monkeypatch,
        {
            "kibalock": {"use_custom_models": False},
            "lifemodo": {"training_enabled": False, "auto_export_to_kibalock": False},
        },
    )
    settings = Settings()
    assert settings.gateway.follow_registry is False
    assert settings.trainer.enabled is False
    assert settings.trainer.auto_publish is False


def test_a_new_key_wins_over_its_legacy_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _config(
        tmp_path,
        monkeypatch,
        {"shared": {"cache_dir": "/old"}, "cache_dir": "/new", "kibalock": {"http_port": 1}},
    )
    settings = Settings()
    assert settings.cache_dir == Path("/new")
    assert settings.gateway.http_port == 1
    assert "shared.cache_dir is ignored: cache_dir is set" in caplog.text


def test_older_environment_names_are_read_under_their_new_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="core.settings.legacy")
    monkeypatch.setenv("KIBALOCK_KIBALOCK__API_KEY", "admin")
    monkeypatch.setenv("KIBALOCK_LIFEMODO__TRAINING_ENABLED", "false")
    monkeypatch.setenv("KIBALOCK_SHARED__CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KIBALOCK_SHARED__TEMP_DIR", "/tmp/unused")
    monkeypatch.setenv("KIBALOCK_MODELS__SIGNING_KEY", "private")
    monkeypatch.setenv("KIBALOCK_MODELS__TRUSTED_KEYS", "public")
    monkeypatch.setenv("KIBALOCK_ASR_MODEL_DIR", str(tmp_path / "asr"))
    monkeypatch.setenv("KIBALOCK_GATEWAY__HTTP_PORT", "8090")
    monkeypatch.setenv("KIBALOCK_KIBALOCK__HTTP_PORT", "8091")
    settings = Settings()
    assert settings.gateway.api_key == SecretStr("admin")
    assert settings.trainer.enabled is False
    assert settings.cache_dir == tmp_path
    assert settings.models.publisher.signing_key == SecretStr("private")
    assert settings.models.trust.public_keys == "public"
    assert settings.models.asr_dir == tmp_path / "asr"
    assert settings.gateway.http_port == 8090
    assert "KIBALOCK_ASR_MODEL_DIR is read as KIBALOCK_MODELS__ASR_DIR" in caplog.text
    assert "KIBALOCK_KIBALOCK__HTTP_PORT is ignored: KIBALOCK_GATEWAY__HTTP_PORT" in caplog.text
    assert "KIBALOCK_SHARED__TEMP_DIR has no effect" in caplog.text


def test_to_env_gives_a_child_process_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Settings(
        gateway={"api_key": "admin-secret", "template_key_file": tmp_path / "t.key"},
        processors={"trigger_window": "tumbling", "tumbling_window_s": 30},
        models={"publisher": {"signing_key": "signing-secret"}, "asr_dir": tmp_path / "asr"},
        s3={"secret_key": "s3-secret"},
        log_json=True,
    ).namespaced("child")
    env = original.to_env()
    assert env["KIBALOCK_GATEWAY__API_KEY"] == "admin-secret"
    assert env["KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY"] == "signing-secret"
    assert env["KIBALOCK_S3__SECRET_KEY"] == "s3-secret"
    assert env["KIBALOCK_PROCESSORS__TRIGGER_WINDOW"] == "tumbling"
    assert env["KIBALOCK_LOG_JSON"] == "true"
    assert "KIBALOCK_MODELS__INSTANCE_ID" not in env, "unset values are left out"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_namespaced_gives_topics_buckets_and_a_database_of_its_own() -> None:
    base = Settings()
    ns = base.namespaced("t1a2b")
    assert ns.kafka.topic_prefix == "t1a2b."
    assert ns.s3.bucket_prefix == "t1a2b-"
    assert ns.mongo.database == "kibalock_t1a2b"
    assert ns.kafka.bootstrap == base.kafka.bootstrap
    assert base.kafka.topic_prefix == "", "the original is unchanged"
    with pytest.raises(ValueError, match="namespace tag"):
        base.namespaced("Bad.Tag")


def test_the_admin_key_can_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "admin.key").write_text("from-a-file\n")
    settings = Settings(gateway={"api_key_file": tmp_path / "admin.key"})
    assert settings.gateway.admin_key() == SecretStr("from-a-file")
    assert Settings(gateway={"api_key": "inline"}).gateway.admin_key() == SecretStr("inline")
    assert Settings().gateway.admin_key() is None
    missing = Settings(gateway={"api_key_file": tmp_path / "none.key"})
    with pytest.raises(ValueError, match="api_key_file"):
        missing.gateway.admin_key()


def test_the_configuration_guide_lists_every_key_and_every_older_name() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in _env_names(Settings, "KIBALOCK_") if f"`{name}`" not in guide]
    missing += [f"`{k}`" for k in (*legacy.MOVED, *legacy.NO_EFFECT) if f"`{k}`" not in guide]
    assert not missing, f"docs/configuration.md lacks {missing}"


def _env_names(model: type[BaseModel], prefix: str) -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names += _env_names(section, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def test_the_terminal_master_key_is_read_inline_or_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "terminals.key").write_text("master-from-file\n")
    from_file = Settings(gateway={"terminal_master_key_file": tmp_path / "terminals.key"})
    assert from_file.gateway.terminal_key() == SecretStr("master-from-file")
    assert Settings().gateway.terminal_key() is None
    (tmp_path / "empty.key").write_text("")
    with pytest.raises(ValueError, match="empty"):
        Settings(
            gateway={"terminal_master_key_file": tmp_path / "empty.key"}
        ).gateway.terminal_key()
