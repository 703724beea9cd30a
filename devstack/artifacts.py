"""Fetches and builds the dev stack's servers from package registries, cached across runs.

- Apache Kafka: jars resolved by Maven from ``devstack/kafka/pom.xml``.
- FerretDB: a small launcher over FerretDB's embeddable Go package (``devstack/ferretdb``).
- S3: versitygw, a Go module tool (``devstack/versitygw``). MinIO's own Go module is refused by
  the Go module proxy, so the stack uses this real S3-compatible server instead.
- Docker Compose v2, as a docker CLI plugin (``devstack/compose``), only to validate
  ``docker-compose.yml`` on hosts whose docker client lacks the plugin.

Everything lands under ``~/.cache/kibalock`` (``cache_dir``) with its version in the
path, so a second ``stack up`` finds it and builds nothing.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.settings import Settings

HERE = Path(__file__).resolve().parent
FERRETDB_VERSION = "1.24.2"
VERSITYGW_VERSION = "1.8.0"
COMPOSE_VERSION = "2.40.3"


class BuildError(RuntimeError):
    """A registry fetch or a build failed; the message names the log to read."""


@contextmanager
def _build_lock(cache: Path, name: str) -> Iterator[None]:
    # `make test` and a developer's `stack up` may race to fill an empty cache.
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f".{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None) -> None:
    tool = argv[0]
    if shutil.which(tool) is None:
        raise BuildError(f"`{tool}` is not on PATH; the dev stack needs it to build its servers")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        result = subprocess.run(
            argv,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            check=False,
        )
    if result.returncode != 0:
        raise BuildError(f"`{' '.join(argv)}` failed (exit {result.returncode}); see {log}")


def kafka_libs(settings: Settings) -> Path:
    """Directory of the Kafka broker's jars (classpath ``libs/*``)."""
    cache = settings.cache_dir
    version = settings.stack.kafka_version
    libs = cache / "kafka" / version / "libs"
    if (libs / f"kafka_2.13-{version}.jar").is_file():
        return libs
    with _build_lock(cache, "kafka"):
        if (libs / f"kafka_2.13-{version}.jar").is_file():
            return libs
        staging = libs.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        _run(
            [
                "mvn",
                "-q",
                "-B",
                f"-Dmaven.repo.local={cache / 'm2'}",
                f"-Dkafka.version={version}",
                "-f",
                str(HERE / "kafka" / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
            ],
            cwd=HERE / "kafka",
            log=cache / "logs" / "build-kafka.log",
        )
        staging.replace(libs)
    return libs


def _go_env(cache: Path) -> dict[str, str]:
    return {"GOFLAGS": "-mod=mod", "GOBIN": str(cache / "bin")}


def ferretdb_binary(settings: Settings) -> Path:
    cache = settings.cache_dir
    binary = cache / "bin" / f"ferretdb-{FERRETDB_VERSION}"
    if binary.is_file():
        return binary
    with _build_lock(cache, "ferretdb"):
        if not binary.is_file():
            _run(
                ["go", "build", "-o", str(binary), "."],
                cwd=HERE / "ferretdb",
                log=cache / "logs" / "build-ferretdb.log",
                env=_go_env(cache),
            )
    return binary


def versitygw_binary(settings: Settings) -> Path:
    cache = settings.cache_dir
    binary = cache / "bin" / f"versitygw-{VERSITYGW_VERSION}"
    if binary.is_file():
        return binary
    with _build_lock(cache, "versitygw"):
        if not binary.is_file():
            staging = cache / "bin" / "versitygw.partial"
            staging.mkdir(parents=True, exist_ok=True)
            _run(
                [
                    "go",
                    "build",
                    "-o",
                    str(staging / "versitygw"),
                    "github.com/versity/versitygw/cmd/versitygw",
                ],
                cwd=HERE / "versitygw",
                log=cache / "logs" / "build-versitygw.log",
                env=_go_env(cache),
            )
            (staging / "versitygw").replace(binary)
            staging.rmdir()
    return binary


def compose_plugin_dir(settings: Settings) -> Path:
    """A ``DOCKER_CONFIG`` directory whose ``cli-plugins`` holds ``docker-compose``."""
    cache = settings.cache_dir
    config_dir = cache / "docker" / COMPOSE_VERSION
    binary = config_dir / "cli-plugins" / "docker-compose"
    if binary.is_file():
        return config_dir
    with _build_lock(cache, "compose"):
        if not binary.is_file():
            staging = binary.with_suffix(".partial")
            staging.parent.mkdir(parents=True, exist_ok=True)
            version_flag = f"-X github.com/docker/compose/v2/internal.Version=v{COMPOSE_VERSION}"
            _run(
                [
                    "go",
                    "build",
                    "-ldflags",
                    version_flag,
                    "-o",
                    str(staging),
                    "github.com/docker/compose/v2/cmd",
                ],
                cwd=HERE / "compose",
                log=cache / "logs" / "build-compose.log",
                env=_go_env(cache),
            )
            staging.replace(binary)
    return config_dir
