"""``kibalock trainer run | status`` and ``kibalock train``: LifeModo, the trainer.

``train --model NAME --once`` is the original note's ``lifemodo.py --train --export``: one job in
the foreground with a progress bar, through the same job store and publishing path as the
service. Heavy imports happen inside the commands so that ``kibalock --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from kibalock_cli.trainer_experiment import experiment_app
from kibalock_cli.trainer_import import import_command

if TYPE_CHECKING:
    from core.settings import Settings
    from schemas.training import JobActivation
    from trainer.jobs import Job, JobRequest

REQUESTED_BY = "trainer-cli"
console = Console(stderr=True)

trainer_app = typer.Typer(
    help=(
        "LifeModo, the trainer: turns retrain triggers into training jobs, publishes the "
        "versions that beat the active ones. REST API on KIBALOCK_TRAINER__PORT (default "
        "8090): POST /api/retrain_request, GET /api/model_status/{job_id} (X-API-Key: the "
        "gateway's admin key). Publishing needs KIBALOCK_MODELS__PUBLISHER__SIGNING_KEY[_FILE]."
    ),
    no_args_is_help=True,
)


def _settings() -> Settings:
    from core.settings import get_settings

    return get_settings()


def _checked_settings() -> Settings:
    """The settings, with the keys the trainer reads at start checked before anything runs."""
    from core.settings import SigningKeyMissing
    from core.settings.dev import DevelopmentSecrets, refuse_development_defaults

    settings = _settings()
    try:
        if settings.trainer.auto_publish:
            settings.models.publisher.signer()
        settings.gateway.admin_key()
        refuse_development_defaults(settings, "trainer")
    except (SigningKeyMissing, ValueError, DevelopmentSecrets) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    return settings


@trainer_app.command("run")
def run_command() -> None:
    """Run the trainer (consumer, worker, REST API) until SIGTERM / Ctrl-C."""
    from core.logging import configure_logging
    from trainer.process import serve

    settings = _checked_settings()
    configure_logging()
    asyncio.run(serve(settings))


@trainer_app.command("status")
def status_command(
    job_id: Annotated[str, typer.Argument(help="The job id (from retrain_request or train).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """A training job's state, stage, progress, figures and versions; exit 1 if unknown."""
    found = asyncio.run(_job(job_id))
    if found is None:
        console.print(f"[red]no training job {job_id}[/]")
        raise typer.Exit(1)
    job, activation = found
    if as_json:
        shown = job.model_dump(mode="json") | {
            "activation": None if activation is None else activation.model_dump(mode="json")
        }
        typer.echo(json.dumps(shown, indent=2))
        return
    _print_job(job, activation)


async def _job(job_id: str) -> tuple[Job, JobActivation | None] | None:
    from core import docstore
    from trainer.job_store import JobReader

    settings = _settings()
    client = docstore.client(settings)
    try:
        reader = JobReader(client[settings.mongo.database])
        job = await reader.get(job_id)
        return None if job is None else (job, await reader.activation(job))
    finally:
        await client.close()


def _in_production(activation: JobActivation | None) -> str:
    """One line: where the published version stands on the gateways."""
    if activation is None:
        return ""
    if activation.active:
        return f"active since {activation.activated_at} on {', '.join(activation.instances)}"
    for what, at, detail in (
        ("rolled back", activation.rolled_back_at, activation.rollback_reason),
        ("replaced", activation.replaced_at, activation.replaced_by),
        ("refused", activation.rejected_at, activation.rejection_reason),
    ):
        if at is not None:
            return f"{what} at {at} ({detail})"
    return "not activated yet"


def _print_job(job: Job, activation: JobActivation | None) -> None:
    from rich.table import Table

    table = Table(title=f"training job {job.job_id}", show_header=False)
    rows = {
        "model": job.request.model
        + (f" (user {job.request.user_id})" if job.request.user_id else ""),
        "state": job.state.value,
        "stage": job.stage.value,
        "progress": f"{job.progress:.0%}",
        "message": job.message,
        "trained version": job.trained_version or "",
        "published version": job.result_version or "",
        "in production": _in_production(activation),
        "attempts": str(job.attempts),
        "triggers": ", ".join(job.trigger_ids),
        "metrics": " ".join(f"{k}={v:.4g}" for k, v in sorted(job.metrics.items())),
    }
    for name, value in rows.items():
        table.add_row(name, value)
    Console().print(table)


def train_command(
    model: Annotated[str, typer.Option("--model", help="The model to train, e.g. voice-embedder.")],
    user: Annotated[str | None, typer.Option("--user", help="Train this user's own model.")] = None,
    source: Annotated[
        str,
        typer.Option(
            "--source", help="curated (the gateway's samples), imported (LifeModo imports) or all."
        ),
    ] = "curated",
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run the job here, in the foreground; without it, queue it for the service.",
        ),
    ] = False,
) -> None:
    """Train a model: queue a job for the running trainer, or run it here with --once."""
    from pydantic import ValidationError

    from schemas.enums import RetrainReason
    from trainer.job_store import request_trigger_id
    from trainer.jobs import JobRequest

    try:
        request = JobRequest(
            model=model,
            reason=RetrainReason.MANUAL,
            user_id=user,
            source=source,
            trigger_id=request_trigger_id("cli"),
            requested_by=REQUESTED_BY,
        )
    except ValidationError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    if not once:
        job = asyncio.run(_queue(request))
        typer.echo(
            f"queued {job.job_id} ({job.state.value}); `kibalock trainer status {job.job_id}`"
        )
        return
    settings = _checked_settings()
    job = _run_with_bar(settings, request)
    _print_job(job, None)  # run here: no gateway has reported on it yet
    if job.state.value == "failed":
        raise typer.Exit(1)


async def _queue(request: JobRequest) -> Job:
    from core import docstore
    from core.bus import EventProducer, ensure_topics
    from schemas.catalog import TRAINER
    from trainer.job_store import JobStore

    settings = _settings()
    await ensure_topics(settings)
    client = docstore.client(settings)
    try:
        async with EventProducer(settings, producer_name=TRAINER) as producer:
            store = JobStore(client[settings.mongo.database], producer)
            await store.ensure_indexes()
            job, _ = await store.submit(request)
        return job
    finally:
        await client.close()


def _run_with_bar(settings: Settings, request: JobRequest) -> Job:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from trainer.process import train_once

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
        console=console,
    ) as bar:
        task = bar.add_task(request.model, total=1.0, message="")

        def show(job: Job) -> None:
            bar.update(
                task,
                completed=job.progress,
                description=f"{request.model} {job.state.value}/{job.stage.value}",
                message=job.message[:60],
            )

        return asyncio.run(train_once(settings, request, show))


trainer_app.command("import")(import_command)
trainer_app.add_typer(experiment_app, name="experiment")
