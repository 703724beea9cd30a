"""Audit finding 1, on a real broker: the bus authenticates every client and its ACLs decide
who may read and write each topic.

The module starts its own secure Kafka (SASL/SCRAM, the broker's authorizer, the role principals
and ACLs) through the dev stack's code, in a temporary data directory on free ports, and stops
it at the end: the shared PLAINTEXT broker the other tests use is left alone.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)

from core.bus import EventProducer, topic_name
from core.kafka_client import client_options
from core.settings import Settings
from devstack import process, stack
from devstack.kafka_roles import Role
from devstack.kafka_secure import as_role, password_file
from schemas import AuthAttempt, AuthDecision, Event, LockoutEvent, encode
from schemas.enums import LockAction
from schemas.examples import example_events
from tests.integration.test_processors_support import (
    eventually,
    handled,
    running_worker,
    wait_caught_up,
    worker_settings,
)

E = TypeVar("E", bound=Event)


@pytest.fixture(scope="module")
def secure() -> Iterator[Settings]:
    """Settings of a secure broker of this module's own (the admin's view: no login set)."""
    data_dir = Path(tempfile.mkdtemp(prefix="kafka-auth-"))
    settings = Settings(
        kafka={"bootstrap": f"127.0.0.1:{process.free_port()}", "topic_prefix": "acl."},
        stack={
            "data_dir": data_dir,
            "kafka_controller_port": process.free_port(),
            "kafka_heap": "384m",
            "secure_kafka": True,
        },
    )
    try:
        report = asyncio.run(stack.up(settings, names=["kafka"]))
        assert report.provisioned.kafka_principals is not None
        assert report.provisioned.kafka_principals.users == len(Role) - 1
        yield settings
    finally:
        stack.down(settings, ["kafka"])
        shutil.rmtree(data_dir, ignore_errors=True)


def example(kind: type[E]) -> E:
    return next(e for e in example_events() if isinstance(e, kind))


def forged_unlock() -> LockoutEvent:
    return LockoutEvent(
        producer="terminal",
        user_id="victim",
        action=LockAction.UNLOCK,
        reason="admin",
        requested_by="admin-1",
    )


def secure_admin(secure: Settings) -> Settings:
    return as_role(secure, Role.ADMIN)


async def publish_as(secure: Settings, role: Role, event: Event) -> None:
    async with EventProducer(as_role(secure, role), producer_name=role.value) as producer:
        await producer.publish(event, timeout_s=20)


async def first_record(settings: Settings, logical: str, *, group: str | None) -> bytes | None:
    consumer = AIOKafkaConsumer(
        topic_name(settings, logical),
        **client_options(settings),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        await consumer.start()
        for _ in range(40):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                value: bytes | None = records[0].value
                return value
        return None
    finally:
        await consumer.stop()


async def test_a_terminal_produces_attempts_and_nothing_else(secure: Settings) -> None:
    attempt = example(AuthAttempt)
    await publish_as(secure, Role.TERMINAL, attempt)
    gateway = as_role(secure, Role.GATEWAY)
    read = await first_record(gateway, "auth.attempts", group=gateway.gateway.consumer_group)
    assert read == encode(attempt).value, "the gateway reads, in its group, what terminals send"

    with pytest.raises(TopicAuthorizationFailedError):
        await publish_as(secure, Role.TERMINAL, forged_unlock())
    with pytest.raises(TopicAuthorizationFailedError):
        await publish_as(secure, Role.TERMINAL, example(AuthDecision))


async def test_a_terminal_reads_nothing(secure: Settings) -> None:
    await publish_as(secure, Role.GATEWAY, example(AuthDecision))
    # The topic holds a decision: the admin reads it, a terminal is refused.
    assert await first_record(secure_admin(secure), "auth.decisions", group=None) is not None
    terminal = as_role(secure, Role.TERMINAL)
    with pytest.raises(TopicAuthorizationFailedError):
        await first_record(terminal, "auth.decisions", group=None)
    with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
        await first_record(terminal, "auth.attempts", group="auth-gateway")


async def test_only_processors_write_lockouts(secure: Settings) -> None:
    await publish_as(secure, Role.GATEWAY, example(AuthDecision))
    with pytest.raises(TopicAuthorizationFailedError):
        await publish_as(secure, Role.GATEWAY, forged_unlock())
    await publish_as(secure, Role.PROCESSORS, forged_unlock())
    assert await first_record(secure_admin(secure), "security.lockouts", group=None) is not None


async def test_the_processors_principal_runs_the_faust_worker(
    secure: Settings, tmp_path: Path
) -> None:
    # faust creates its changelog and internal topics, joins its group and commits, all under
    # the processors' ACLs.
    processors = worker_settings(as_role(secure, Role.PROCESSORS))
    async with running_worker(processors, tmp_path) as worker:
        before = await handled(worker)
        await publish_as(secure, Role.GATEWAY, example(AuthDecision))

        async def one_more() -> bool:
            return await handled(worker) > before

        await eventually(one_more, "the worker to handle the decision")
        await wait_caught_up(worker_settings(secure_admin(secure)))


async def test_a_wrong_password_is_refused_at_connect(
    secure: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text(password_file(secure, Role.GATEWAY).read_text().strip() + "x")
    gateway = as_role(secure, Role.GATEWAY)
    impostor = gateway.model_copy(
        update={"kafka": gateway.kafka.model_copy(update={"password_file": wrong})}
    )
    producer = EventProducer(impostor, producer_name="impostor")
    # aiokafka reports a failed bootstrap; the reason, the broker's refusal, is in its log.
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    assert "SaslAuthenticationFailed" in caplog.text


async def test_an_unauthenticated_client_gets_no_answer(secure: Settings) -> None:
    assert secure.kafka.security_protocol == "PLAINTEXT"
    admin = AIOKafkaAdminClient(**client_options(secure), request_timeout_ms=3000)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()


def test_a_running_broker_is_never_taken_for_the_other_kind(secure: Settings) -> None:
    # `stack up --secure` next to the shared PLAINTEXT broker (or the reverse) must refuse,
    # not report the broker that runs as the one asked for.
    plain = secure.model_copy(
        update={"stack": secure.stack.model_copy(update={"secure_kafka": False})}
    )
    with pytest.raises(stack.StackError, match="another configuration"):
        asyncio.run(stack.up(plain, names=["kafka"]))
