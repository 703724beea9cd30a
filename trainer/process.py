"""``kibalock trainer run``: the trigger consumer, the gateway-report consumer, the worker and
the REST API in one process; ``kibalock train --once``: one job in the foreground.

On SIGTERM/SIGINT the consumer finishes the trigger in hand and commits, the job in hand goes
back to the queue (another instance, or this one restarted, runs it again), the HTTP server
drains, then the producer flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import uvicorn

from core.bus import ConsumerLoop
from core.logging import get_logger
from core.settings import Settings
from trainer import retention
from trainer.bootstrap import TrainerRuntime, bootstrap
from trainer.http import create_app
from trainer.jobs import Job, JobRequest
from trainer.registry_of_trainers import TrainerRegistry

log = get_logger(__name__)
TOPICS = ["retrain.triggers"]
ACTIVATION_TOPICS = ["models.activations"]


def activations_group(consumer_group: str) -> str:
    """The group of the gateway-report consumer: one per deployment, like the triggers' (the
    reports are kept in the shared store), and under the trainer's group prefix (its ACLs)."""
    return f"{consumer_group}-activations"


class _HttpServer(uvicorn.Server):
    """Leaves SIGTERM/SIGINT to the service, which stops the worker before the HTTP server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_parts(runtime: TrainerRuntime, stop: asyncio.Event) -> None:
    """The consumers and the worker until ``stop`` is set; the job in hand is requeued."""
    service, options = runtime.service, runtime.settings.trainer
    await runtime.store.recover(options.max_attempts, options.lease_seconds)
    consumer = ConsumerLoop(
        TOPICS,
        options.consumer_group,
        service.on_trigger,
        runtime.producer,
        settings=runtime.settings,
    )
    reports = ConsumerLoop(
        ACTIVATION_TOPICS,
        activations_group(options.consumer_group),
        service.on_activation,
        runtime.producer,
        settings=runtime.settings,
    )
    runtime.tasks["consumer"] = asyncio.create_task(consumer.run())
    runtime.tasks["activations"] = asyncio.create_task(reports.run())
    runtime.tasks["worker"] = asyncio.create_task(service.work(stop))
    runtime.tasks["retention"] = asyncio.create_task(
        retention.sweep_periodically(service.deps.db, runtime.objects, options, stop)
    )
    await stop.wait()
    consumer.stop()
    reports.stop()
    runtime.tasks["worker"].cancel()
    await asyncio.gather(*runtime.tasks.values(), return_exceptions=True)
    log.info(
        "trainer stopped",
        handled=consumer.handled + reports.handled,
        dead_lettered=consumer.dead_lettered + reports.dead_lettered,
    )


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    trainers: TrainerRegistry | None = None,
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runtime = await bootstrap(settings, trainers=trainers)
    options = settings.trainer
    server = _HttpServer(
        uvicorn.Config(create_app(runtime), host=options.host, port=options.port, log_config=None)
    )
    http = asyncio.create_task(server.serve())
    log.info(
        "trainer ready",
        http=f"{options.host}:{options.port}",
        owner=runtime.service.owner,
        trainers=runtime.service.trainers.models,
    )
    try:
        await run_parts(runtime, stop)
    finally:
        server.should_exit = True
        await http
        await runtime.close()


async def train_once(
    settings: Settings,
    request: JobRequest,
    on_update: Callable[[Job], None],
    *,
    trainers: TrainerRegistry | None = None,
    poll_seconds: float = 0.5,
) -> Job:
    """``kibalock train --once``: submits one job and runs it here, through the same store and
    publishing path as the service; a job another trainer runs already is followed instead.
    ``on_update`` sees the job as it progresses; returns it finished."""
    runtime = await bootstrap(settings, trainers=trainers)
    running: asyncio.Task[Job] | None = None
    try:
        job, _ = await runtime.store.submit(request)
        claimed = await runtime.service.next_job(only=job.job_id)
        if claimed is not None:
            running = asyncio.create_task(runtime.service.run(claimed))
        while True:
            current = await runtime.store.get(job.job_id) or job
            on_update(current)
            if current.state.finished:
                return current
            if running is not None and running.done() and running.exception() is not None:
                raise RuntimeError(f"the run of {job.job_id} stopped") from running.exception()
            await asyncio.sleep(poll_seconds)
    finally:
        if running is not None and not running.done():
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        await runtime.close()
