"""``kibalock gateway``: the Kafka consumer and the REST API in one process, stopped gracefully.

The HTTP server answers ``/healthz`` at once; ``/readyz`` turns ready once the models are
loaded. Attempts are consumed in the shared consumer group; model events outside any group,
because every instance must hear of every version (hot-swap). On
SIGTERM/SIGINT the consumers finish the event in hand and commit, the HTTP server drains, then
the producer flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from auth_gateway import samples_retention
from auth_gateway.analysis import Analyser
from auth_gateway.bootstrap import bootstrap
from auth_gateway.gateway import GATEWAY_INDEXES, Gateway
from auth_gateway.handlers import consumer_of, tombstones_of
from auth_gateway.http import create_app
from core import docstore
from core.bus import ConsumerLoop, EventProducer, Handler, ensure_topics
from core.logging import configure_logging, get_logger
from core.settings import Settings
from core.supervise import Supervisor
from schemas.catalog import AUTH_GATEWAY

log = get_logger(__name__)
PURGE_INTERVAL_S = 60.0
TOPICS = ["auth.attempts", "auth.feedback", "security.lockouts"]
MODEL_TOPICS = ["models.published", "models.activations"]


class _HttpServer(uvicorn.Server):
    """Leaves SIGTERM/SIGINT to the service, which stops the consumer before the HTTP server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def model_event_loops(
    settings: Settings, instance_id: str, handler: Handler, producer: EventProducer
) -> list[ConsumerLoop]:
    """The readers of the model topics, outside any consumer group: every instance must hear
    every model event, and a group of its own would leave one more group on the broker at
    each restart (the default instance id is hostname-pid).

    ``models.published`` is read from the beginning at each start: it is compacted to the last
    version announced per model, and one announced while this instance was down must still be
    judged. ``models.activations`` is read from its end: what older activations said is in the
    registry, which the gateway reads at start and every ``models.sync_interval_s``.
    """
    name = f"{settings.gateway.consumer_group}-models-{instance_id}"
    return [
        ConsumerLoop(
            ["models.published"], name, handler, producer, settings=settings, grouped=False
        ),
        ConsumerLoop(
            ["models.activations"],
            name,
            handler,
            producer,
            settings=settings,
            grouped=False,
            start="latest",
        ),
    ]


async def load_gateway(settings: Settings) -> tuple[Gateway, EventProducer]:
    """Topics, producer, engines (loaded in a thread: seconds of work) and the gateway state."""
    options = settings.gateway
    await ensure_topics(settings)
    producer = EventProducer(settings, producer_name=AUTH_GATEWAY)
    await producer.start()
    analyser = await asyncio.to_thread(
        Analyser.load, workers=options.workers, max_in_flight=options.max_in_flight
    )
    gateway = bootstrap(settings, analyser=analyser, producer=producer)
    await gateway.prepare()
    return gateway, producer


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    configure_logging()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    holder: dict[str, Gateway] = {}
    app = create_app(lambda: holder.get("gateway"))
    options = settings.gateway
    server = _HttpServer(
        # access_log off: the app logs requests by route template (core/http/access_log.py).
        uvicorn.Config(
            app,
            host=options.http_host,
            port=options.http_port,
            log_config=None,
            access_log=False,
        )
    )
    http = asyncio.create_task(server.serve())

    gateway, producer = await load_gateway(settings)
    holder["gateway"] = gateway
    consumer = ConsumerLoop(
        TOPICS,
        options.consumer_group,
        consumer_of(gateway),
        producer,
        settings=settings,
        on_tombstone=tombstones_of(gateway),
    )
    model_events = model_event_loops(
        settings, gateway.swapper.instance_id, consumer_of(gateway), producer
    )
    tasks = Supervisor()
    tasks.start("attempts-consumer", consumer.run)
    for reader in model_events:
        tasks.start(f"{reader.topics[0]}-reader", reader.run)
    tasks.start("registry-sync", lambda: gateway.swapper.sync_forever(stop))
    tasks.start("expiry-purge", lambda: _purge_expired_forever(gateway, stop))
    tasks.start(
        "samples-retention",
        lambda: samples_retention.sweep_periodically(gateway.db, gateway.objects, options, stop),
    )
    app.state.tasks = tasks
    log.info(
        "gateway ready",
        http=f"{options.http_host}:{options.http_port}",
        topics=TOPICS + MODEL_TOPICS,
        models=gateway.swapper.current().versions(),
    )

    gave_up = asyncio.create_task(tasks.failed.wait())
    await asyncio.wait([asyncio.create_task(stop.wait()), gave_up], return_when="FIRST_COMPLETED")
    log.info("gateway stopping", tasks=tasks.states())
    stop.set()
    consumer.stop()
    for reader in model_events:
        reader.stop()
    await tasks.wait()
    server.should_exit = True
    await http
    await producer.stop()
    gateway.analyser.close()
    await gateway.close()
    log.info("gateway stopped", handled=consumer.handled, dead_lettered=consumer.dead_lettered)
    if tasks.failed.is_set():
        # A task that keeps crashing must not leave a half-working gateway behind: exit non-zero
        # so the orchestrator restarts the process (and says so in its logs).
        raise SystemExit(f"gateway stopped: a background task kept crashing {tasks.states()}")


async def _purge_expired_forever(gateway: Gateway, stop: asyncio.Event) -> None:
    """Deletes expired sessions where the server has no TTL indexes (FerretDB 1.x)."""
    report = await docstore.ensure_indexes(gateway.db, GATEWAY_INDEXES)
    if not report.ttl_emulated:
        return
    while not stop.is_set():
        removed = await docstore.purge_expired(gateway.db, specs=GATEWAY_INDEXES)
        if removed:
            log.info("expired documents purged", removed=removed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PURGE_INTERVAL_S)
