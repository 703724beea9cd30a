"""Stage 2, ``metrics``: observations into windows, windows into ``metrics`` and triggers.

One partition, so one consumer sees every observation in order; its tables are changelogged
on that one partition, and written from the idle timer as well as from the agent (an
``asyncio.Lock`` keeps the two apart).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from core.logging import get_logger
from core.settings import ProcessorsSection
from schemas import TOPICS, MetricDimension, MetricWindow, RetrainTrigger
from schemas.model_catalog import MODEL_CATALOG, ModelRef
from stream_processors import triggers
from stream_processors.aggregation import Aggregator, ClockState, CloseBatch
from stream_processors.join import Source
from stream_processors.observations import OBSERVATION, SourceIdle, parse_series
from stream_processors.outputs import Outputs
from stream_processors.tables import ModelTable, WriteBack
from stream_processors.telemetry import Liveness, Telemetry
from stream_processors.windows import PaneAccumulator, metric_window

log = get_logger(__name__)

# The inputs that yield observations: every partition of them is a source of event time.
OBSERVED = ("auth.decisions", "auth.feedback", "auth.quality")
_CLOCK_KEY = "clock"
BATCH = 500
BATCH_WAIT_S = 0.05


class MetricsStage:
    def __init__(
        self,
        cfg: ProcessorsSection,
        *,
        logical_topic: str,
        panes: ModelTable[PaneAccumulator],
        clock: ModelTable[ClockState],
        watches: ModelTable[triggers.ModelWatch],
        outputs: Outputs,
        telemetry: Telemetry,
        liveness: Liveness,
    ) -> None:
        self.cfg = cfg
        self.logical_topic = logical_topic
        self.panes = panes
        self.clock = clock
        self.watches = watches
        self.outputs = outputs
        self.telemetry = telemetry
        self.liveness = liveness
        self._lock = asyncio.Lock()
        self._cache = WriteBack(panes)
        self._aggregator: Aggregator | None = None

    def forget(self) -> None:
        """Drops what is cached from the tables (after a rebalance, they are recovered anew)."""
        self._aggregator = None

    def _engine(self) -> Aggregator:
        if self._aggregator is None:
            self._cache = WriteBack(self.panes)
            self._aggregator = Aggregator(
                self.cfg,
                self._cache,
                self.clock.get(_CLOCK_KEY) or ClockState(),
                expected_sources=[
                    Source(topic=t, partition=p, offset=0).name
                    for t in OBSERVED
                    for p in range(TOPICS[t].partitions)
                ],
            )
        return self._aggregator

    async def run(self, stream: Any) -> None:
        """The agent, in batches: each pane a batch touches is written to its changelog once;
        faust acknowledges the batch's records only after the batch has been handled."""
        with self.liveness.watch("metrics"):
            async for events in stream.take_events(BATCH, within=BATCH_WAIT_S):
                started = time.perf_counter()
                await self.handle([event.message for event in events])
                per_record = (time.perf_counter() - started) / len(events)
                for _ in events:
                    self.telemetry.handle_seconds.labels("metrics").observe(per_record)

    async def handle(self, messages: Sequence[Any]) -> None:
        async with self._lock:
            self.liveness.handled()
            engine = self._engine()
            for message in messages:
                try:
                    obs = OBSERVATION.validate_json(message.value)
                    if isinstance(obs, SourceIdle):
                        engine.idle(obs)
                        continue
                    result = engine.apply(obs)
                except Exception as exc:  # not an observation, or a bug: never stop the stream
                    log.exception("metrics failed", offset=message.offset)
                    await self.outputs.dead_letter(self.logical_topic, message, exc)
                    continue
                self.telemetry.observations.labels(obs.kind, result.value).inc()
            self._cache.flush()
            await self._close_due()

    async def tick(self) -> None:
        """The idle timer: windows close even when no observation comes."""
        async with self._lock:
            await self._close_due()

    async def _close_due(self) -> None:
        try:
            engine = self._engine()
            batch = engine.due(time.time())
            if engine.watermark is not None:
                self.telemetry.watermark.set(engine.watermark)
            if batch is not None:
                await self._close(engine, batch)
        except Exception:  # nothing was committed: the same windows are due next time
            log.exception("closing windows failed; retrying on the next tick")

    async def _close(self, engine: Aggregator, batch: CloseBatch) -> None:
        windows: list[MetricWindow] = [
            metric_window(w.series, w.kind, w.end, w.size_s, w.acc, producer=self.cfg.producer_id)
            for w in batch.windows
        ]
        watches, fired = self._read_incidents(batch)
        await self.outputs.publish_acked([*windows, *fired])
        for w in batch.windows:
            self.telemetry.windows.labels(w.kind.value).inc()
        for trigger in fired:
            self.telemetry.triggers.labels(trigger.reason.value).inc()
            log.info("retrain triggered", models=trigger.models, figures=trigger.figures)
        # Published and acknowledged: now the state may say so.
        self.clock.put(_CLOCK_KEY, engine.commit(batch))
        self._cache.flush()
        for model, watch in watches.items():
            self.watches.put(model, watch)

    def _read_incidents(
        self, batch: CloseBatch
    ) -> tuple[dict[str, triggers.ModelWatch], list[RetrainTrigger]]:
        """Feeds the closed model-version windows to the watches, in window order."""
        watches: dict[str, triggers.ModelWatch] = {}
        by_end: dict[tuple[int, int], list[triggers.Firing]] = {}
        for w in batch.windows:
            dimension, value = parse_series(w.series)
            if (
                w.kind is not self.cfg.trigger_window
                or dimension is not MetricDimension.MODEL_VERSION
                or value is None
            ):
                continue
            trained = _trainable(value)
            if trained is None:
                continue
            model, version = trained.name, trained.version
            watch = watches.get(model) or self.watches.get(model) or triggers.ModelWatch()
            watches[model] = watch
            if triggers.read_window(watch, version, w.acc, w.end, self.cfg):
                by_end.setdefault((w.end, w.size_s), []).append(
                    triggers.Firing(model=model, version=version, acc=w.acc)
                )
        fired = [
            triggers.accuracy_trigger(firings, end, size_s, self.cfg)
            for (end, size_s), firings in sorted(by_end.items())
        ]
        return watches, fired


def _trainable(series_value: str) -> ModelRef | None:
    """The model version a window is about, if a retrain could help it (the speech recogniser
    is not retrained, and a value shortened to fit an identifier names no version)."""
    try:
        ref = ModelRef.parse(series_value)
    except ValueError:
        return None
    spec = MODEL_CATALOG.get(ref.name)
    return ref if spec is not None and spec.trainable else None
