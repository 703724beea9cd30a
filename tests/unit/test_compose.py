"""The Docker path: the Dockerfile copies what exists, and docker-compose.yml is valid for Docker
Compose v2, runs real ``kibalock`` commands, gives keys as secrets and each service its own
credentials, and runs Kafka as ``kibalock stack up --secure`` does (SASL/SCRAM, the broker's
authorizer, one principal per role with the ACLs of devstack/kafka_roles.py). No engine is
needed: ``docker compose config`` resolves and validates the file."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.core import TyperGroup

from core.settings import Settings
from devstack import compose_kafka
from devstack.artifacts import compose_plugin_dir
from devstack.kafka_roles import SUPER_USER, Acl, Role, principal, role_acls
from devstack.kafka_secure import broker_properties
from kibalock_cli.main import app

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "kibalock:dev"
MAKE_SECRETS = ROOT / "deploy" / "make_secrets.py"
# The containers allowed to see root credentials: the stores themselves and their init jobs.
ROOT_HOLDERS = {"mongo", "minio", "minio-init"}
# Each KibaLock service's Kafka principal: topics are created, and model versions signed and
# announced, by the super user (devstack/kafka_roles.py); the others by their own role.
KAFKA_PRINCIPALS = {
    "provision": SUPER_USER,
    "gateway": Role.GATEWAY,
    "processors": Role.PROCESSORS,
    "publisher": SUPER_USER,
}


def _compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    docker = shutil.which("docker")
    assert docker, "the docker client is needed to validate docker-compose.yml (no engine needed)"
    # Only the env file given may supply the passwords, so the checks below mean something.
    env = {k: v for k, v in os.environ.items() if k not in _env_file(env_file)}
    env["DOCKER_CONFIG"] = str(compose_plugin_dir(Settings()))
    compose_file = str(ROOT / "docker-compose.yml")
    return subprocess.run(
        [docker, "compose", "--env-file", str(env_file), "-f", compose_file, *args],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=120,
    )


def _env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.startswith("#")}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``deploy/make_secrets.py`` writes: ``secrets/`` and ``.env``."""
    root = tmp_path_factory.mktemp("deploy")
    subprocess.run([sys.executable, str(MAKE_SECRETS), "--root", str(root)], check=True)
    return root


@pytest.fixture(scope="module")
def config(generated: Path) -> dict[str, Any]:
    result = _compose(generated / ".env", "--profile", "publisher", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _kibalock_services(config: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in config["services"].items() if s.get("image") == IMAGE}


def test_config_needs_the_generated_passwords(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose(empty, "config", "--quiet")
    assert result.returncode != 0
    assert "run deploy/make_secrets.py" in result.stderr


def test_backing_services_mirror_the_native_stack(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["mongo"]["image"].startswith("mongo:7")
    assert services["minio"]["image"].startswith("minio/minio:")
    # Same settings as the native stack: catalog-only topics, 3 partitions by default.
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka_env["KAFKA_NUM_PARTITIONS"] == str(Settings().kafka.default_partitions)
    for name, service in _kibalock_services(config).items():
        assert service["environment"]["KIBALOCK_KAFKA__BOOTSTRAP"] == "kafka:9092", name


def _is_runnable(group: TyperGroup, args: list[str]) -> bool:
    """``args`` name a command (or a group that runs without one) of ``group``."""
    command: object = group
    for arg in args:
        if arg.startswith("-") or not isinstance(command, TyperGroup):
            break
        if arg not in command.commands:
            return False
        command = command.commands[arg]
    return not isinstance(command, TyperGroup) or command.invoke_without_command


def test_every_service_runs_a_real_kibalock_command(config: dict[str, Any]) -> None:
    cli = typer.main.get_command(app)
    assert isinstance(cli, TyperGroup)
    services = _kibalock_services(config)
    assert {"provision", "gateway", "processors", "publisher"} <= set(services)
    for name, service in services.items():
        assert not service.get("entrypoint"), f"{name} must run the image's kibalock entry point"
        assert _is_runnable(cli, service["command"]), (name, service["command"])
    # The checker itself must be able to fail.
    assert not _is_runnable(cli, ["trainer"]) and not _is_runnable(cli, ["models"])


def test_secrets_are_generated_documented_and_go_where_they_belong(
    config: dict[str, Any], generated: Path
) -> None:
    readme = (ROOT / "README.md").read_text()
    for relative in (Path(s["file"]).relative_to(ROOT) for s in config["secrets"].values()):
        assert (generated / relative).is_file(), f"make_secrets.py does not write {relative}"
        assert f"`{relative}`" in readme, f"the README does not document {relative}"
    holders = {
        name: {s["source"] for s in service.get("secrets", [])}
        for name, service in config["services"].items()
    }
    assert holders["gateway"] == {"template_key", "api_key", "models_pub", "kafka_gateway"}
    assert [n for n, held in holders.items() if "models_key" in held] == ["publisher"]
    for name, service in config["services"].items():
        for variable, value in service.get("environment", {}).items():
            if variable.endswith("_FILE") and value.startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in holders[name], (name, variable)


def test_services_listen_inside_and_publish_on_loopback(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["gateway"]["environment"]["KIBALOCK_GATEWAY__HTTP_HOST"] == "0.0.0.0"
    assert services["processors"]["environment"]["KIBALOCK_PROCESSORS__HTTP_HOST"] == "0.0.0.0"
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)


def _mongo_users() -> set[str]:
    script = (ROOT / "deploy" / "mongo-init.js").read_text()
    return set(re.findall(r'\["(\w+)", "\w+_MONGO_PASSWORD"\]', script))


def _minio_users() -> set[str]:
    script = (ROOT / "deploy" / "minio-init.sh").read_text()
    return set(re.findall(r"^add_user (\w+) ", script, flags=re.MULTILINE))


def test_each_service_has_its_own_credentials(config: dict[str, Any], generated: Path) -> None:
    policies = {p.stem for p in (ROOT / "deploy" / "minio-policies").glob("*.json")}
    assert _minio_users() == policies
    assert _mongo_users() == {"gateway", "provision", "publisher", "trainer"}
    for name, service in _kibalock_services(config).items():
        env = service["environment"]
        if "KIBALOCK_S3__ACCESS_KEY" in env:
            assert env["KIBALOCK_S3__ACCESS_KEY"] == name and name in policies
        if "KIBALOCK_MONGO__URI" in env:
            assert env["KIBALOCK_MONGO__URI"].startswith(f"mongodb://{name}:"), name
            assert name in _mongo_users()
    assert not {k for k in config["services"]["processors"]["environment"] if "MONGO" in k}
    assert not {k for k in config["services"]["processors"]["environment"] if "S3" in k}
    passwords = _env_file(generated / ".env")
    roots = {passwords["MONGO_ROOT_PASSWORD"], passwords["MINIO_ROOT_PASSWORD"]}
    for name, service in config["services"].items():
        values = " ".join(map(str, service.get("environment", {}).values()))
        if name not in ROOT_HOLDERS:
            assert not any(secret in values for secret in roots), name
    for document in (ROOT / "deploy" / "minio-policies").glob("*.json"):
        json.loads(document.read_text())


def test_bind_mounts_exist(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), (name, volume["source"])


def _copy_sources() -> list[str]:
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not line.startswith("COPY "):
            continue
        words = shlex.split(line)[1:]
        if any(w.startswith("--from=") for w in words):
            continue  # from another build stage, not from the repository
        sources += [w for w in words if not w.startswith("--")][:-1]
    return sources


def test_dockerfile_copies_every_package_and_only_what_exists() -> None:
    sources = _copy_sources()
    missing = [s for s in sources if not (ROOT / s).exists()]
    assert not missing, f"COPY of paths that do not exist: {missing}"
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert packages <= set(sources), f"packages the image lacks: {packages - set(sources)}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"secrets/", ".env"} <= set(ignored), "keys must never reach the build context"


def _broker_settings(config: dict[str, Any]) -> dict[str, str]:
    """The broker's settings from its KAFKA_* variables, named as the image (and
    deploy/kafka/broker.sh) name them: `.` is `_`, `_` is `__`, `-` is `___`."""
    settings = {}
    for variable, value in config["services"]["kafka"]["environment"].items():
        if variable.startswith("KAFKA_"):
            key = variable.removeprefix("KAFKA_").lower().replace("_", ".")
            settings[key.replace("...", "-").replace("..", "_")] = str(value)
    return settings


def test_the_broker_is_secured_as_the_native_secure_one(
    config: dict[str, Any], tmp_path: Path
) -> None:
    native = Settings(stack={"data_dir": tmp_path})
    lines = broker_properties(native, "kafka", 9092, 9093)
    expected = dict(line.split("=", 1) for line in lines)
    composed = _broker_settings(config)
    for key, value in expected.items():
        # Addresses differ by nature; the logins carry the password, added by broker.sh.
        if key in {"listeners", "advertised.listeners"} or key.endswith("jaas.config"):
            continue
        assert composed.get(key) == value, key
    assert composed["listeners"] == "SASL_PLAINTEXT://:9092,CONTROLLER://:9093"
    assert composed["super.users"] == principal(SUPER_USER)
    script = (ROOT / "deploy" / "kafka" / "broker.sh").read_text()
    assert all(f"listener.name.{name}" in script for name in ("sasl_plaintext.scram", "controller"))
    assert "--add-scram" in script


def _expand(lines: list[str]) -> set[Acl]:
    """The ACLs ``kafka-acls.sh --add`` grants for the ``acl`` lines of roles.txt."""
    acls = set()
    for line in lines:
        words = line.split()[1:]
        options: dict[str, list[str]] = {}
        for flag, value in zip(words[::2], words[1::2], strict=True):
            options.setdefault(flag, []).append(value)
        (who,) = options["--allow-principal"]
        (pattern,) = options["--resource-pattern-type"]
        resources = [("TOPIC", n) for n in options.get("--topic", [])]
        resources += [("GROUP", n) for n in options.get("--group", [])]
        for kind, name in resources:
            for operation in options["--operation"]:
                acls.add(
                    Acl.model_validate(
                        {
                            "principal": who,
                            "resource_type": kind,
                            "name": name,
                            "pattern_type": pattern.upper(),
                            "operation": re.sub(r"(?<!^)(?=[A-Z])", "_", operation).upper(),
                        }
                    )
                )
    return acls


def test_kafka_init_creates_every_role_with_the_acls_of_kafka_roles(
    config: dict[str, Any],
) -> None:
    text = compose_kafka.ROLES_FILE.read_text()
    settings = compose_kafka.compose_settings()
    assert text == compose_kafka.render(settings), (
        "deploy/kafka/roles.txt is stale: run `python -m devstack.compose_kafka`"
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert [line.split()[1] for line in lines if line.startswith("super ")] == [SUPER_USER.value]
    created = {line.split()[1] for line in lines if line.startswith("user ")}
    assert created == {role.value for role in Role} - {SUPER_USER.value}
    assert _expand([line for line in lines if line.startswith("acl ")]) == set(role_acls(settings))
    init = config["services"]["kafka-init"]
    assert {s["source"] for s in init["secrets"]} == {f"kafka_{role.value}" for role in Role}
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, service in _kibalock_services(config).items():
        if "kafka" not in service.get("depends_on", {}):
            continue
        assert service["depends_on"]["kafka-init"]["condition"] == (
            "service_completed_successfully"
        ), name


def test_each_service_logs_in_to_kafka_as_its_own_role(
    config: dict[str, Any], generated: Path
) -> None:
    services = _kibalock_services(config)
    assert set(services) == set(KAFKA_PRINCIPALS)
    for name, service in services.items():
        env, role = service["environment"], KAFKA_PRINCIPALS[name]
        assert env["KIBALOCK_KAFKA__SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", name
        assert env["KIBALOCK_KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert env["KIBALOCK_KAFKA__USERNAME"] == role.value, name
        assert env["KIBALOCK_KAFKA__PASSWORD_FILE"] == f"/run/secrets/kafka_{role.value}", name
        assert "KIBALOCK_KAFKA__PASSWORD" not in env, name
        # The settings the service builds from this environment are valid (a login and one
        # password source for SASL).
        kafka = {
            k.removeprefix("KIBALOCK_KAFKA__").lower(): v for k, v in env.items() if "KAFKA" in k
        }
        assert Settings(kafka=kafka).kafka.sasl, name
    holders: dict[str, set[str]] = {}
    for name, service in config["services"].items():
        for secret in service.get("secrets", []):
            holders.setdefault(secret["source"], set()).add(name)
    assert holders[f"kafka_{SUPER_USER.value}"] == {"kafka", "kafka-init", "provision", "publisher"}
    for role in (Role.GATEWAY, Role.PROCESSORS):
        assert holders[f"kafka_{role.value}"] == {"kafka-init", role.value}
    # Terminals and trainers run elsewhere: their passwords are generated, not handed out here.
    for role in (Role.TERMINAL, Role.TRAINER):
        assert holders[f"kafka_{role.value}"] == {"kafka-init"}
    passwords = {p.read_text().strip() for p in (generated / "secrets" / "kafka").glob("*")}
    assert len(passwords) == len(Role), "every principal has its own password"
    rendered = json.dumps(config)
    assert not [p for p in passwords if p in rendered], "Kafka passwords stay in secrets"
