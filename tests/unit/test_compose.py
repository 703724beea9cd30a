"""docker-compose.yml is valid for Docker Compose v2 and mirrors the native stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from core.settings import Settings
from devstack.artifacts import compose_plugin_dir

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_config_validates() -> None:
    docker = shutil.which("docker")
    assert docker, "the docker client is needed to validate docker-compose.yml (no engine needed)"
    env = {**os.environ, "DOCKER_CONFIG": str(compose_plugin_dir(Settings()))}
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]
    assert {"kafka", "mongo", "minio", "gateway", "processors", "trainer", "dashboard"} <= set(
        services
    )
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["mongo"]["image"].startswith("mongo:7")
    assert services["minio"]["image"].startswith("minio/minio:")
    gateway_env = services["gateway"]["environment"]
    assert gateway_env["KIBALOCK_KAFKA__BOOTSTRAP"] == "kafka:9092"
    assert gateway_env["KIBALOCK_MONGO__URI"] == "mongodb://mongo:27017/"
    assert gateway_env["KIBALOCK_S3__ENDPOINT"] == "minio:9000"
    # Same settings as the native stack: catalog-only topics, 3 partitions by default.
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka_env["KAFKA_NUM_PARTITIONS"] == str(Settings().kafka.default_partitions)
