"""``kibalock stack``: run Kafka, FerretDB and an S3 server on this host, without Docker."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.settings import Settings, get_settings
from devstack.kafka_roles import Role
from devstack.stack import Provisioned, ServiceStatus

stack_app = typer.Typer(
    help=(
        "Run the backing services natively on 127.0.0.1: Apache Kafka (KRaft), FerretDB "
        "(MongoDB wire protocol, SQLite) and versitygw (S3). Ports, data directory and "
        "credentials come from settings (KIBALOCK_KAFKA__BOOTSTRAP, KIBALOCK_MONGO__URI, "
        "KIBALOCK_S3__ENDPOINT, KIBALOCK_STACK__DATA_DIR, ...). First run builds the servers "
        "into ~/.cache/kibalock; later runs reuse them."
    ),
    no_args_is_help=True,
)
console = Console(stderr=True)


def _table(statuses: list[ServiceStatus]) -> Table:
    table = Table(title="KibaLock dev stack")
    for column in ("service", "version", "address", "pid", "health", "detail"):
        table.add_column(column)
    for s in statuses:
        table.add_row(
            s.name,
            s.version,
            s.address,
            str(s.pid or "-"),
            "[green]healthy[/]" if s.healthy else "[red]down[/]",
            s.detail,
        )
    return table


@stack_app.command()
def up(
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Kafka with SASL/SCRAM and ACLs, one principal per role, and S3 with one user"
            " per role (as stack.secure_kafka and stack.secure_s3)",
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="start only this service (kafka, ferretdb, s3); repeatable"),
    ] = None,
) -> None:
    """Start (or reuse) the three services, wait for health, create topics, buckets, indexes."""
    from devstack.artifacts import BuildError
    from devstack.stack import StackError
    from devstack.stack import up as stack_up

    settings = get_settings()
    if secure:
        stack = settings.stack.model_copy(update={"secure_kafka": True, "secure_s3": True})
        settings = settings.model_copy(update={"stack": stack})
    with console.status("starting the stack") as spinner:
        try:
            report = asyncio.run(stack_up(settings, on_step=spinner.update, names=only))
        except (StackError, BuildError) as exc:
            console.print(f"[red]stack up failed:[/] {exc}")
            raise typer.Exit(1) from exc
    console.print(_table(report.services))
    started = ", ".join(report.started) or "none (all running)"
    console.print(f"up in {report.seconds:.1f} s; started: {started}")
    _print_provisioned(report.provisioned)
    if settings.stack.secure_kafka and report.provisioned.kafka_principals is not None:
        _print_kafka_logins(settings)
    if report.provisioned.s3_users is not None:
        _print_s3_logins(settings)


def _print_kafka_logins(settings: Settings) -> None:
    from devstack.kafka_secure import write_env_files

    files = write_env_files(settings)
    console.print(
        "Kafka requires a login. Each service takes its role's variables, e.g.\n"
        f"  set -a; . {files[Role.GATEWAY]}; set +a; kibalock gateway ...\n"
        "role logins (passwords in the *.password files beside them, mode 0600):"
    )
    for role, path in files.items():
        console.print(f"  {role.value:<10} {path}")


def _print_s3_logins(settings: Settings) -> None:
    from devstack.s3_secure import write_env_files

    files = write_env_files(settings)
    console.print("S3 users (each allowed what deploy/minio-policies/USER.json allows; mode 0600):")
    for user, path in files.items():
        console.print(f"  {user:<10} {path}")


def _print_provisioned(done: Provisioned) -> None:
    console.print(
        f"topics created: {len(done.topics_created)}; buckets created: {len(done.buckets_created)}"
    )
    if done.kafka_principals is not None:
        acls = done.kafka_principals
        console.print(
            f"Kafka principals: {acls.users} role(s) + admin; ACLs: {acls.acls_total} "
            f"({acls.acls_created} created, {acls.acls_deleted} removed)"
        )
    if done.s3_users is not None:
        console.print(
            f"S3 users: {', '.join(done.s3_users)}; bucket policies: {done.s3_bucket_policies}"
        )
    if done.ttl_emulated:
        console.print(f"TTL indexes emulated by purge jobs: {', '.join(done.ttl_emulated)}")


@stack_app.command()
def provision() -> None:
    """Create topics, buckets and indexes on already-running services (e.g. docker compose)."""
    from devstack.stack import provision as stack_provision

    _print_provisioned(asyncio.run(stack_provision(get_settings())))


@stack_app.command()
def down() -> None:
    """Stop the services this stack started (and nothing else)."""
    from devstack.stack import down as stack_down

    stopped = stack_down(get_settings())
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command()
def status() -> None:
    """Show each service's version, address, pid and live health; exit 1 if any is down."""
    from devstack.stack import status as stack_status

    statuses = asyncio.run(stack_status(get_settings()))
    console.print(_table(statuses))
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)
