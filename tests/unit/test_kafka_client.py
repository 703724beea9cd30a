"""The Kafka login settings, the client options built from them, and the roles' ACL plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.kafka_client import client_options
from core.settings import Settings
from devstack.kafka_roles import Role, principal, role_acls
from stream_processors.app import broker_credentials


def test_plaintext_clients_send_no_login() -> None:
    options = client_options(Settings(kafka={"bootstrap": "b:1"}))
    assert options == {"bootstrap_servers": "b:1", "security_protocol": "PLAINTEXT"}
    assert broker_credentials(Settings().kafka) is None


def test_sasl_clients_read_the_password_file_each_time(tmp_path: Path) -> None:
    secret = tmp_path / "gateway.password"
    secret.write_text("first\n")
    settings = Settings(
        kafka={
            "security_protocol": "SASL_PLAINTEXT",
            "username": "gateway",
            "password_file": secret,
        }
    )
    options = client_options(settings)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("gateway", "first")
    assert options["ssl_context"] is None
    secret.write_text("rotated\n")
    assert client_options(settings)["sasl_plain_password"] == "rotated"
    credentials = broker_credentials(settings.kafka)
    assert credentials is not None
    assert (credentials.username, credentials.password) == ("gateway", "rotated")
    assert credentials.mechanism.value == "SCRAM-SHA-512"


def test_sasl_ssl_verifies_the_broker() -> None:
    settings = Settings(
        kafka={"security_protocol": "SASL_SSL", "username": "trainer", "password": "p"}
    )
    context = client_options(settings)["ssl_context"]
    assert context is not None and context.check_hostname


@pytest.mark.parametrize(
    "kafka",
    [
        {"security_protocol": "SASL_PLAINTEXT", "password": "p"},
        {"security_protocol": "SASL_PLAINTEXT", "username": "u"},
        {
            "security_protocol": "SASL_PLAINTEXT",
            "username": "u",
            "password": "p",
            "password_file": "f",
        },
    ],
)
def test_sasl_needs_a_user_and_exactly_one_password(kafka: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="kafka"):
        Settings(kafka=kafka)


def _grants(settings: Settings, role: Role, operation: str) -> set[str]:
    return {
        acl.name
        for acl in role_acls(settings)
        if acl.principal == principal(role)
        and acl.operation == operation
        and acl.resource_type == "TOPIC"
    }


def test_the_acl_plan_gives_each_topic_its_writers() -> None:
    settings = Settings(kafka={"topic_prefix": "ns."})
    assert _grants(settings, Role.TERMINAL, "WRITE") == {"ns.auth.attempts"}
    assert _grants(settings, Role.TERMINAL, "READ") == set()
    writers = {role for role in Role if "ns.security.lockouts" in _grants(settings, role, "WRITE")}
    assert writers == {Role.PROCESSORS}
    decisions = {role for role in Role if "ns.auth.decisions" in _grants(settings, role, "WRITE")}
    assert decisions == {Role.GATEWAY}
    # The admin is the super user: the plan gives it nothing, the broker's super.users all.
    assert not [acl for acl in role_acls(settings) if acl.principal == principal(Role.ADMIN)]
    assert all(
        acl.name.startswith("ns.")
        for acl in role_acls(settings)
        if acl.resource_type == "TOPIC" or acl.principal == principal(Role.PROCESSORS)
    )
