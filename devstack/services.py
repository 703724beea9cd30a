"""The three servers of the dev stack: how each is prepared, launched and health-checked.

Health means a real request: a Kafka metadata request, a Mongo ``ping``, an S3 bucket listing.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from core.settings import Settings
from devstack import artifacts, kafka_secure, s3_secure

KAFKA_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = warn
logger.org.name = org.apache.kafka
logger.org.level = warn
"""


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    version: str
    host: str
    port: int
    prepare: Callable[[Settings, Path], Launch]
    health: Callable[[Settings], Awaitable[str]]
    # A running process of ours is this service only if its argv holds this (e.g. its config
    # file): a plain Kafka must not pass for the secure one, nor the other way round.
    argv_marker: str = ""


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _mongo_host_port(uri: str) -> tuple[str, int]:
    parsed = urlparse(uri)
    return parsed.hostname or "127.0.0.1", parsed.port or 27017


# --- Kafka -------------------------------------------------------------------------------------


def _kafka_dir(settings: Settings, data_dir: Path) -> Path:
    secure = settings.stack.secure_kafka
    return kafka_secure.kafka_dir(data_dir) if secure else data_dir / "kafka"


def kafka_java(settings: Settings, log4j: Path, log_dir: Path) -> list[str]:
    heap = settings.stack.kafka_heap
    return [
        "java",
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={log_dir}",
    ]


def _kafka_listeners(settings: Settings, host: str, port: int, controller: int) -> list[str]:
    if settings.stack.secure_kafka:
        return kafka_secure.broker_properties(settings, host, port, controller)
    return [
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
    ]


def _prepare_kafka(settings: Settings, data_dir: Path) -> Launch:
    libs = artifacts.kafka_libs(settings)
    host, port = _host_port(settings.kafka.bootstrap)
    controller = settings.stack.kafka_controller_port
    kafka_dir = _kafka_dir(settings, data_dir)
    log_dir = data_dir / "logs" / "kafka"
    log_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_dir / "server.properties"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    props.touch(mode=0o600)  # the secure node's file holds the admin's password
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers={host}:{controller}",
                *_kafka_listeners(settings, host, port, controller),
                "controller.listener.names=CONTROLLER",
                f"log.dirs={kafka_dir / 'data'}",
                f"num.partitions={settings.kafka.default_partitions}",
                # The catalog decides which topics exist; a typo must not create one.
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                # One node needs far fewer than 50 offset partitions, and each costs start time.
                "offsets.topic.num.partitions=6",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "",
            ]
        )
    )
    log4j = kafka_dir / "log4j2.properties"
    log4j.write_text(KAFKA_LOG4J.format(log_dir=log_dir))
    classpath = f"{libs}/*"
    java = kafka_java(settings, log4j, log_dir)
    if not (kafka_dir / "data" / "meta.properties").is_file():
        # KRaft storage is formatted once, on the first start of this data directory.
        secure = settings.stack.secure_kafka
        subprocess.run(
            [
                *java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                str(uuid.uuid4().hex[:22]),
                "-c",
                str(props),
                *(kafka_secure.format_arguments(settings) if secure else []),
            ],
            check=True,
            capture_output=True,
        )
    return Launch(argv=[*java, "-cp", classpath, "kafka.Kafka", str(props)], env={})


def provision_kafka_principals(settings: Settings) -> kafka_secure.Provisioned:
    """The secure broker's role principals and ACLs (see :mod:`devstack.kafka_secure`)."""
    kafka_dir = _kafka_dir(settings, settings.stack.data_dir)
    log_dir = settings.stack.data_dir / "logs" / "kafka"
    java = kafka_java(settings, kafka_dir / "log4j2.properties", log_dir)
    classpath = f"{artifacts.kafka_libs(settings)}/*"
    return kafka_secure.provision_principals(settings, java, classpath)


def kafka_admin_settings(settings: Settings) -> Settings:
    """Settings that reach the stack's Kafka as its administrator."""
    if settings.stack.secure_kafka:
        return kafka_secure.admin_settings(settings)
    return settings


async def _kafka_health(settings: Settings) -> str:
    from aiokafka.admin import AIOKafkaAdminClient

    from core.kafka_client import client_options

    options = client_options(kafka_admin_settings(settings))
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=3000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return f"cluster {cluster['cluster_id']}, {len(cluster['brokers'])} broker(s)"


# --- FerretDB ----------------------------------------------------------------------------------


def _prepare_ferretdb(settings: Settings, data_dir: Path) -> Launch:
    binary = artifacts.ferretdb_binary(settings)
    host, port = _mongo_host_port(settings.mongo.uri)
    sqlite_dir = data_dir / "ferretdb"
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    return Launch(
        argv=[
            str(binary),
            "--listen-addr",
            f"{host}:{port}",
            "--sqlite-url",
            f"file:{sqlite_dir}/",
        ],
        env={},
    )


async def _mongo_health(settings: Settings) -> str:
    from core import docstore

    client = docstore.client(settings)
    try:
        await client.admin.command("ping")
        info = await client.admin.command("buildInfo")
    finally:
        await client.close()
    return f"MongoDB wire {info['version']}"


# --- S3 ----------------------------------------------------------------------------------------


def _s3_root(settings: Settings, data_dir: Path) -> Path:
    # The secure store keeps its objects apart: its buckets carry policies the plain one lacks.
    return s3_secure.s3_dir(data_dir) / "data" if settings.stack.secure_s3 else data_dir / "s3"


def _prepare_s3(settings: Settings, data_dir: Path) -> Launch:
    binary = artifacts.versitygw_binary(settings)
    host, port = _host_port(settings.s3.endpoint)
    root = _s3_root(settings, data_dir)
    root.mkdir(parents=True, exist_ok=True)
    iam: list[str] = []
    if settings.stack.secure_s3:
        s3_secure.write_iam(settings)
        iam = ["--iam-dir", str(s3_secure.iam_dir(data_dir))]
    return Launch(
        argv=[str(binary), "--port", f"{host}:{port}", *iam, "posix", str(root)],
        # Credentials through the environment keep them out of `ps` output.
        env={
            "ROOT_ACCESS_KEY": settings.s3.access_key,
            "ROOT_SECRET_KEY": settings.s3.secret_key.get_secret_value(),
        },
    )


async def _s3_health(settings: Settings) -> str:
    from core.objectstore import ObjectStore

    store = ObjectStore(settings)
    buckets = await store.list_buckets()
    return f"{len(buckets)} bucket(s)"


def specs(settings: Settings) -> list[ServiceSpec]:
    kafka_host, kafka_port = _host_port(settings.kafka.bootstrap)
    mongo_host, mongo_port = _mongo_host_port(settings.mongo.uri)
    s3_host, s3_port = _host_port(settings.s3.endpoint)
    return [
        ServiceSpec(
            "kafka",
            f"Apache Kafka {settings.stack.kafka_version} (KRaft)",
            kafka_host,
            kafka_port,
            _prepare_kafka,
            _kafka_health,
            argv_marker=str(_kafka_dir(settings, settings.stack.data_dir) / "server.properties"),
        ),
        ServiceSpec(
            "ferretdb",
            f"FerretDB {artifacts.FERRETDB_VERSION} (SQLite)",
            mongo_host,
            mongo_port,
            _prepare_ferretdb,
            _mongo_health,
        ),
        ServiceSpec(
            "s3",
            f"versitygw {artifacts.VERSITYGW_VERSION} (posix)",
            s3_host,
            s3_port,
            _prepare_s3,
            _s3_health,
            argv_marker=str(_s3_root(settings, settings.stack.data_dir)),
        ),
    ]


async def wait_healthy(spec: ServiceSpec, settings: Settings, timeout_s: float) -> str:
    """Polls the real health request until it answers; raises TimeoutError with the last error."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Exception | None = None
    while loop.time() < deadline:
        try:
            return await asyncio.wait_for(spec.health(settings), timeout=5)
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.5)
    raise TimeoutError(str(last))
