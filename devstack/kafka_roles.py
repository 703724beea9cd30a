"""Who may do what on the bus: one Kafka principal per role, and that role's ACLs.

The broker's authorizer denies whatever no ACL allows (``allow.everyone.if.no.acl.found=false``),
so these lists are the whole policy. Catalog topics are named exactly (LITERAL patterns under the
namespace's topic prefix); consumer groups, and the processors' internal topics, by PREFIXED
patterns (a gateway instance's model-events group, faust's changelogs).

- terminal: produces login attempts, reads nothing.
- gateway: decides attempts; the only writer of decisions, quality reports, training samples and
  activations.
- processors: read what the gateway decides; the only service writing lockouts, metrics and
  retrain triggers.
- trainer: turns triggers and samples into training jobs and published models, and follows
  what the gateways did with them.
- admin: the super user (topics, ACLs, credentials, feedback, manual lockouts, model signing).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel

from core.bus import DEADLETTER, topic_name
from core.settings import Settings


class Role(StrEnum):
    TERMINAL = "terminal"
    GATEWAY = "gateway"
    PROCESSORS = "processors"
    TRAINER = "trainer"
    ADMIN = "admin"


SUPER_USER = Role.ADMIN

Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"]


class Acl(BaseModel, frozen=True):
    """One ALLOW entry, as the broker's admin API takes it."""

    principal: str
    resource_type: Literal["TOPIC", "GROUP"]
    name: str
    pattern_type: Literal["LITERAL", "PREFIXED"]
    operation: Operation


# What each service role reads and writes, by catalog topic.
_READS: dict[Role, tuple[str, ...]] = {
    Role.TERMINAL: (),
    Role.GATEWAY: (
        "auth.attempts",
        "auth.feedback",
        "security.lockouts",
        "models.published",
        "models.activations",
    ),
    Role.PROCESSORS: (
        "auth.decisions",
        "auth.feedback",
        "auth.quality",
        "training.samples",
        "security.lockouts",
    ),
    Role.TRAINER: ("retrain.triggers", "training.samples", "models.activations"),
}
_WRITES: dict[Role, tuple[str, ...]] = {
    Role.TERMINAL: ("auth.attempts",),
    Role.GATEWAY: (
        "auth.decisions",
        "auth.quality",
        "training.samples",
        "models.activations",
        DEADLETTER,
    ),
    Role.PROCESSORS: ("metrics", "retrain.triggers", "security.lockouts", DEADLETTER),
    Role.TRAINER: ("training.jobs", "models.published", DEADLETTER),
}


def principal(role: Role) -> str:
    return f"User:{role.value}"


def _topic(role: Role, name: str, operation: Operation, *, prefixed: bool = False) -> Acl:
    return Acl(
        principal=principal(role),
        resource_type="TOPIC",
        name=name,
        pattern_type="PREFIXED" if prefixed else "LITERAL",
        operation=operation,
    )


def _group(role: Role, prefix: str) -> Acl:
    return Acl(
        principal=principal(role),
        resource_type="GROUP",
        name=prefix,
        pattern_type="PREFIXED",
        operation="READ",
    )


def role_acls(settings: Settings) -> list[Acl]:
    """Every ACL of the service roles for the topics under ``settings.kafka.topic_prefix``."""
    acls: list[Acl] = []
    for role, topics in _READS.items():
        for logical in topics:
            name = topic_name(settings, logical)
            acls += [_topic(role, name, "READ"), _topic(role, name, "DESCRIBE")]
    for role, topics in _WRITES.items():
        for logical in topics:
            name = topic_name(settings, logical)
            acls += [_topic(role, name, "WRITE"), _topic(role, name, "DESCRIBE")]
    acls += [
        _group(Role.GATEWAY, settings.gateway.consumer_group),
        _group(Role.TRAINER, settings.trainer.consumer_group),
    ]
    # faust: its consumer group, and the changelog, repartition and observation topics it
    # creates and reads, all carry the app id.
    app_id = f"{settings.kafka.topic_prefix}{settings.processors.app_id}"
    acls.append(_group(Role.PROCESSORS, app_id))
    for operation in ("CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"):
        acls.append(_topic(Role.PROCESSORS, app_id, operation, prefixed=True))
    return list(dict.fromkeys(acls))
