"""``kibalock stack up | down | status``: the three servers, natively, under one data directory.

``up`` is idempotent: a service already running from this data directory is left alone, one
that is not is started, then every service must answer a real health request before the topics,
buckets and indexes are provisioned. ``down`` stops only processes whose pid files this data
directory holds (and whose kernel start time still matches).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from core import docstore
from core.bus import ensure_topics
from core.objectstore import ObjectStore
from core.settings import Settings
from devstack import process, s3_secure
from devstack.kafka_secure import Provisioned as KafkaPrincipals
from devstack.services import (
    ServiceSpec,
    kafka_admin_settings,
    provision_kafka_principals,
    specs,
    wait_healthy,
)


class StackError(RuntimeError):
    """A service could not be started or did not become healthy; names the service and its log."""


class ServiceStatus(BaseModel):
    name: str
    version: str
    address: str
    pid: int | None
    healthy: bool
    detail: str
    log: Path


class Provisioned(BaseModel):
    topics_created: list[str]
    buckets_created: list[str]
    ttl_emulated: list[str]
    # The secure broker's role principals and ACLs; None on a PLAINTEXT broker.
    kafka_principals: KafkaPrincipals | None = None
    # The secure object store's users, and how many buckets have a policy; None on a plain one.
    s3_users: list[str] | None = None
    s3_bucket_policies: int | None = None


class UpReport(BaseModel):
    services: list[ServiceStatus]
    started: list[str]
    provisioned: Provisioned
    seconds: float


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.stack.data_dir / "run" / f"{name}.pid"


def _log_file(settings: Settings, name: str) -> Path:
    return settings.stack.data_dir / "logs" / f"{name}.log"


def _start(spec: ServiceSpec, settings: Settings) -> bool:
    """Starts ``spec`` unless ours is already running; True when a process was started."""
    pid_file = _pid_file(settings, spec.name)
    record = process.read_record(pid_file)
    if record is not None:
        if spec.argv_marker and spec.argv_marker not in record.argv:
            raise StackError(
                f"{spec.name} (pid {record.pid}) runs from this data directory with another "
                f"configuration than {spec.argv_marker}; stop it first (`kibalock stack down`)"
            )
        return False
    if process.port_open(spec.host, spec.port):
        raise StackError(
            f"{spec.name}: port {spec.host}:{spec.port} is taken by a process this stack did not "
            f"start; stop it or change the port (see `kibalock stack --help`)"
        )
    launch = spec.prepare(settings, settings.stack.data_dir)
    process.spawn(
        launch.argv,
        pid_file=pid_file,
        log=_log_file(settings, spec.name),
        cwd=settings.stack.data_dir,
        env=launch.env,
    )
    return True


async def _health(spec: ServiceSpec, settings: Settings, timeout_s: float) -> ServiceStatus:
    record = process.read_record(_pid_file(settings, spec.name))
    try:
        detail = await wait_healthy(spec, settings, timeout_s)
        healthy = True
    except TimeoutError as exc:
        detail, healthy = f"no answer: {exc}", False
    return ServiceStatus(
        name=spec.name,
        version=spec.version,
        address=f"{spec.host}:{spec.port}",
        pid=record.pid if record else None,
        healthy=healthy,
        detail=detail,
        log=_log_file(settings, spec.name),
    )


def _chosen(settings: Settings, names: list[str] | None) -> list[ServiceSpec]:
    every = specs(settings)
    unknown = set(names or []) - {s.name for s in every}
    if unknown:
        raise StackError(f"no such service: {', '.join(sorted(unknown))}")
    return [s for s in every if not names or s.name in names]


async def up(
    settings: Settings,
    *,
    on_step: Callable[[str], None] = lambda _: None,
    names: list[str] | None = None,
) -> UpReport:
    """Starts the services (all, or ``names``), waits for health and provisions them."""
    t0 = time.monotonic()
    settings.stack.data_dir.mkdir(parents=True, exist_ok=True)
    chosen = _chosen(settings, names)
    started = []
    for spec in chosen:
        on_step(f"preparing {spec.name} ({spec.version})")
        # Builds (first run only) and launches happen one by one: two Go builds at once would
        # fight over the 2 cores and take longer than in sequence.
        if await asyncio.to_thread(_start, spec, settings):
            started.append(spec.name)
    on_step("waiting for health")
    timeout = settings.stack.start_timeout_s
    statuses = await asyncio.gather(*(_health(s, settings, timeout) for s in chosen))
    sick = [s for s in statuses if not s.healthy]
    if sick:
        raise StackError(
            "; ".join(
                f"{s.name} is not healthy after {timeout:.0f} s ({s.detail}); log: {s.log}"
                for s in sick
            )
        )
    on_step("provisioning topics, buckets and indexes")
    provisioned = await provision(settings, [s.name for s in chosen])
    return UpReport(
        services=list(statuses),
        started=started,
        provisioned=provisioned,
        seconds=round(time.monotonic() - t0, 2),
    )


async def provision(settings: Settings, names: list[str] | None = None) -> Provisioned:
    """Creates the catalog's topics, the buckets and the Mongo indexes, for the services named
    (default all), and on a secure Kafka the role principals and their ACLs (idempotent)."""
    names = names or [s.name for s in specs(settings)]
    done = Provisioned(topics_created=[], buckets_created=[], ttl_emulated=[])
    if "kafka" in names:
        if settings.stack.secure_kafka:
            done.kafka_principals = await asyncio.to_thread(provision_kafka_principals, settings)
        done.topics_created = await ensure_topics(kafka_admin_settings(settings))
    if "s3" in names:
        done.buckets_created = await ObjectStore(settings).ensure_buckets()
        if settings.stack.secure_s3:
            # A running store was given its users when it started; rewritten all the same, so
            # that a user added since is known after versitygw's IAM cache expires.
            s3_secure.write_iam(settings)
            done.s3_users = list(s3_secure.policies())
            done.s3_bucket_policies = await s3_secure.apply_bucket_policies(settings)
    if "ferretdb" in names:
        client = docstore.client(settings)
        try:
            indexes = await docstore.ensure_indexes(client[settings.mongo.database])
        finally:
            await client.close()
        done.ttl_emulated = indexes.ttl_emulated
    return done


def down(settings: Settings, names: list[str] | None = None) -> list[str]:
    """Stops our running services (all, or ``names``), Kafka last so clients flush first."""
    stopped = []
    for spec in sorted(specs(settings), key=lambda s: s.name == "kafka"):
        if names and spec.name not in names:
            continue
        if process.stop(_pid_file(settings, spec.name)):
            stopped.append(spec.name)
    return stopped


async def status(settings: Settings) -> list[ServiceStatus]:
    return list(
        await asyncio.gather(*(_health(spec, settings, timeout_s=3) for spec in specs(settings)))
    )


async def restart(settings: Settings, name: str) -> None:
    """Stops and starts one service, and waits until it is healthy again (fault tests)."""
    (spec,) = [s for s in specs(settings) if s.name == name]
    process.stop(_pid_file(settings, name))
    await asyncio.to_thread(_start, spec, settings)
    result = await _health(spec, settings, settings.stack.start_timeout_s)
    if not result.healthy:
        raise StackError(f"{name} did not come back: {result.detail}; log: {result.log}")
