"""The ``kibalock`` command: one entry point, each room contributes its own sub-commands.

Heavy imports (models, torch, faust) happen inside the commands, so ``kibalock --help`` and
``kibalock stack up`` start in well under a second.
"""

from __future__ import annotations

import typer

from auth_gateway.cli import enroll_command, gateway_app
from bench.cli import bench_command
from devstack.cli import stack_app
from kibalock_cli.dashboard import dashboard_command
from kibalock_cli.deadletter import deadletter_app
from kibalock_cli.demo import demo_command
from kibalock_cli.eval import eval_command
from kibalock_cli.models import models_app
from kibalock_cli.trainer import train_command, trainer_app
from schemas.cli import schemas_app
from stream_processors.cli import processors_command

app = typer.Typer(
    name="kibalock",
    help=(
        "KibaLock: voice + face login, retrained by LifeModo, wired through Kafka, MongoDB and "
        "object storage.\n\n"
        "Start with `kibalock stack up` (local Kafka, FerretDB and S3 server), then "
        "`kibalock models fetch` (offline model weights)."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(schemas_app, name="schemas")
app.add_typer(models_app, name="models")
app.command("eval")(eval_command)
app.command("processors")(processors_command)
app.command("bench")(bench_command)
app.add_typer(gateway_app, name="gateway")
app.command("enroll")(enroll_command)
app.command("demo")(demo_command)
app.add_typer(trainer_app, name="trainer")
app.command("train")(train_command)
app.add_typer(deadletter_app, name="deadletter")
app.command("dashboard")(dashboard_command)


if __name__ == "__main__":
    app()
