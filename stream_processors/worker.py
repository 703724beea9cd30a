"""Runs one processors worker until SIGTERM / SIGINT (faust's worker handles both: it stops
the agents, commits what was processed and flushes the producer before exiting)."""

from __future__ import annotations

import asyncio

import faust

from core.bus import ensure_topics
from core.logging import configure_logging, get_logger
from core.settings import Settings
from stream_processors.app import ProcessorApp
from stream_processors.health import HealthServer

log = get_logger(__name__)


def run_worker(settings: Settings) -> None:
    configure_logging()
    # The catalog topics must exist before faust subscribes (auto-creation is off); faust
    # itself creates its internal and changelog topics.
    created = asyncio.run(ensure_topics(settings))
    if created:
        log.info("created topics", topics=created)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    processor = ProcessorApp(settings)
    cfg = settings.processors
    worker = faust.Worker(
        processor.app,
        HealthServer(processor, cfg.http_host, cfg.http_port),
        loop=loop,
        loglevel=settings.log_level,
        quiet=True,
        override_logging=False,  # keep core.logging's structured output
        redirect_stdouts=False,
    )
    log.info(
        "starting processors",
        app_id=processor.app_id,
        bootstrap=settings.kafka.bootstrap,
        http=f"{cfg.http_host}:{cfg.http_port}",
    )
    worker.execute_from_commandline()
