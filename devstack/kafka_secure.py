"""The dev stack's Kafka with SASL/SCRAM and the broker's authorizer (``stack.secure_kafka``).

- Clients authenticate with SCRAM-SHA-512 on the client listener; the controller listener uses
  SASL/PLAIN with a static login for the admin only, so no port of the node lets an
  unauthenticated client in.
- The admin (super user) is written into the KRaft bootstrap metadata when the storage is
  formatted (``--add-scram``): the broker accepts it from its first start, with no ACL yet.
- The other roles' SCRAM credentials and ACLs (:mod:`devstack.kafka_roles`) are set through the
  admin API by ``kafka/Provision.java`` on the broker's own jars (aiokafka has neither API).
- Each role's password lives in ``{data_dir}/kafka-secure/credentials/{role}.password`` (0600),
  generated once; ``{role}.env`` holds the ``KIBALOCK_KAFKA__*`` variables that point a service
  at it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from pydantic import BaseModel, SecretStr

from core.settings import Settings
from devstack import artifacts
from devstack.kafka_roles import SUPER_USER, Role, role_acls
from devstack.secret_files import generated_secret

PROVISIONER = artifacts.HERE / "kafka" / "Provision.java"
MECHANISM = "SCRAM-SHA-512"


class Provisioned(BaseModel):
    users: int
    acls_created: int
    acls_deleted: int
    acls_total: int
    # The plan was applied before, unchanged, to this broker's metadata: nothing was sent.
    unchanged: bool = False


def kafka_dir(data_dir: Path) -> Path:
    return data_dir / "kafka-secure"


def credentials_dir(settings: Settings) -> Path:
    return kafka_dir(settings.stack.data_dir) / "credentials"


def password_file(settings: Settings, role: Role) -> Path:
    return credentials_dir(settings) / f"{role.value}.password"


def role_password(settings: Settings, role: Role) -> SecretStr:
    """The role's password, generated and written (0600) on first use."""
    return generated_secret(password_file(settings, role))


def as_role(settings: Settings, role: Role) -> Settings:
    """``settings`` with the Kafka login of ``role`` on the secure broker."""
    role_password(settings, role)
    kafka = settings.kafka.model_copy(
        update={
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": MECHANISM,
            "username": role.value,
            "password": None,
            "password_file": password_file(settings, role),
        }
    )
    return settings.model_copy(update={"kafka": kafka})


def admin_settings(settings: Settings) -> Settings:
    return as_role(settings, SUPER_USER)


def broker_properties(settings: Settings, host: str, port: int, controller: int) -> list[str]:
    """The listener, SASL and authorizer lines of the secure node's ``server.properties``."""
    admin = SUPER_USER.value
    password = role_password(settings, SUPER_USER).get_secret_value()
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return [
        f"listeners=SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        f"advertised.listeners=SASL_PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_plaintext.{MECHANISM.lower()}.sasl.jaas.config={scram} required "
        f'username="{admin}" password="{password}";',
        # SCRAM credentials live in the metadata the controller serves, so the controller's own
        # listener cannot use them: PLAIN with one static user, the admin.
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain} required "
        f'username="{admin}" password="{password}" user_{admin}="{password}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{admin}",
    ]


def format_arguments(settings: Settings) -> list[str]:
    """StorageTool ``format`` arguments that put the admin's SCRAM credential in the metadata."""
    password = role_password(settings, SUPER_USER).get_secret_value()
    return ["--add-scram", f"{MECHANISM}=[name={SUPER_USER.value},password={password}]"]


def provision_principals(settings: Settings, java: list[str], classpath: str) -> Provisioned:
    """Creates or updates every role's SCRAM credential and makes their ACLs exactly
    :func:`role_acls` (idempotent); the plan, passwords included, goes on stdin.

    The digest of the last plan applied is kept beside the broker's data (and goes with it):
    an unchanged plan is not sent again, which saves every later ``stack up`` the JVM's ~9 s.
    """
    plan = {
        "bootstrap": settings.kafka.bootstrap,
        "admin": {
            "name": SUPER_USER.value,
            "password": role_password(settings, SUPER_USER).get_secret_value(),
        },
        "users": [
            {"name": role.value, "password": role_password(settings, role).get_secret_value()}
            for role in Role
            if role is not SUPER_USER
        ],
        "acls": [acl.model_dump() for acl in role_acls(settings)],
    }
    text = json.dumps(plan, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    applied = kafka_dir(settings.stack.data_dir) / "data" / "kibalock-acl-plan.sha256"
    if applied.is_file() and applied.read_text().strip() == digest:
        total = len(plan["acls"])
        return Provisioned(
            users=len(plan["users"]),
            acls_created=0,
            acls_deleted=0,
            acls_total=total,
            unchanged=True,
        )
    result = subprocess.run(
        [*java, "-cp", classpath, str(PROVISIONER)],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    if result.returncode != 0:
        raise RuntimeError(f"Kafka principals and ACLs not set: {result.stderr.strip()[-2000:]}")
    done = Provisioned.model_validate_json(result.stdout.strip().splitlines()[-1])
    applied.write_text(digest + "\n")
    return done


def write_env_files(settings: Settings) -> dict[Role, Path]:
    """One ``{role}.env`` per role: the variables that log a service in as that role."""
    files = {}
    for role in Role:
        kafka = as_role(settings, role).kafka
        path = credentials_dir(settings) / f"{role.value}.env"
        path.write_text(
            "\n".join(
                [
                    f"KIBALOCK_KAFKA__BOOTSTRAP={kafka.bootstrap}",
                    f"KIBALOCK_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol}",
                    f"KIBALOCK_KAFKA__SASL_MECHANISM={kafka.sasl_mechanism}",
                    f"KIBALOCK_KAFKA__USERNAME={kafka.username}",
                    f"KIBALOCK_KAFKA__PASSWORD_FILE={kafka.password_file}",
                    "",
                ]
            )
        )
        files[role] = path
    return files
