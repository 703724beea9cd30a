"""``/healthz`` and ``/metrics`` over HTTP, served from the worker's own event loop.

Being on the same loop is deliberate: a blocked loop stops answering, which is what a probe
should see. Faust's own web server is disabled (one less port and one less framework).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web
from mode import Service
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core.logging import get_logger

if TYPE_CHECKING:
    from stream_processors.app import ProcessorApp

log = get_logger(__name__)


class HealthServer(Service):
    def __init__(self, processor: ProcessorApp, host: str, port: int) -> None:
        super().__init__()
        self.processor = processor
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("health endpoint", url=f"http://{self.host}:{self.port}/healthz")

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        ok, detail = self.processor.health()
        return web.Response(
            status=200 if ok else 503, text=json.dumps(detail), content_type="application/json"
        )

    async def _metrics(self, _request: web.Request) -> web.Response:
        self.processor.health()  # refreshes the ready gauge
        body = generate_latest(self.processor.telemetry.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
