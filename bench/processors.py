"""How many decisions per second one stream-processors worker sustains.

Method: publish N labelled attempts (a decision, a quality report and a feedback each, from
``synthetic.traffic``: 500 users, 10 terminals, two models, two accuracy dips so incidents
fire, event time at 20 decisions a second so windows close all along) into a fresh topic
namespace. Then, for each run, start one worker (``python -m stream_processors``) under a fresh
app id, so it reads the whole backlog with empty state, and sample its ``/metrics`` every
0.2 s. Everything is on: join, lockouts, windows (tumbling 1 min, hopping 5 min), incident
watch, changelogged state.

Figures (median over the runs):

- ``decisions_per_s``: N over the time from the first decision the worker consumed to the
  last one through the metrics stage: the whole pipeline, start-up excluded;
- ``ingest_decisions_per_s``: stage 1 alone, between 10 % and 90 % of its decisions (stage 2
  shares the process and catches up behind it: faust feeds both agents from one consumer);
- ``decisions_per_cpu_s``: N over the worker's CPU seconds for the run, a figure less
  dependent on what else the host runs;
- ``handle_p50_ms``: the median time one record spends in an agent's handler, per stage (the
  work per record, not an end-to-end latency).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from bench.cli import BenchOptions
from bench.support.runner import Scrape, WorkerProcess
from bench.support.synthetic import traffic
from core.bus import EventProducer, ensure_topics
from core.kafka_client import client_options
from core.settings import Settings
from devstack.process import free_port
from schemas import Event

_OBSERVED = "kibalock_processor_observations_total"
_RECORDS = "kibalock_processor_records_total"
_CPU = "process_cpu_seconds_total"
_SAMPLE_S = 0.2
_IDLE_S = 3.0
_RUN_TIMEOUT_S = 600.0


def run(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    return asyncio.run(_bench(settings, options))


async def _bench(base: Settings, options: BenchOptions) -> dict[str, Any]:
    n, runs = (4_000, 1) if options.quick else (20_000, 3)
    runs = options.repeat or runs
    settings = base.namespaced(f"bench{uuid.uuid4().hex[:8]}")
    await ensure_topics(settings)
    try:
        publish_s = await _publish(settings, n)
        results = []
        with tempfile.TemporaryDirectory(prefix="kibalock-bench-") as tmp:
            for i in range(runs):
                results.append(await _one_run(settings, n, Path(tmp) / f"worker-{i}.log", i))
    finally:
        await _drop_namespace(settings)

    def median(name: str) -> float:
        return round(float(statistics.median(r[name] for r in results)), 1)

    return {
        "decisions_per_s": median("decisions_per_s"),
        "records_per_s": round(3 * median("decisions_per_s"), 1),
        "ingest_decisions_per_s": median("ingest_decisions_per_s"),
        "decisions_per_cpu_s": median("decisions_per_cpu_s"),
        "decisions": n,
        "runs": runs,
        "publish_s": round(publish_s, 2),
        "per_run": results,
    }


async def _publish(settings: Settings, n: int) -> float:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    events: list[Event] = []
    for attempt in traffic(n, start, per_second=20.0, dips=((0.3, 0.4), (0.7, 0.8))):
        events += attempt.events
    # A gateway publishes as it decides: in event-time order.
    events.sort(key=lambda e: e.occurred_at)
    began = time.perf_counter()
    async with EventProducer(settings, producer_name="bench") as producer:
        for i in range(0, len(events), 500):
            await asyncio.gather(*(producer.publish(e) for e in events[i : i + 500]))
    return time.perf_counter() - began


async def _one_run(settings: Settings, n: int, log: Path, index: int) -> dict[str, Any]:
    processors = settings.processors.model_copy(
        update={
            "app_id": f"bench-{index}-{uuid.uuid4().hex[:6]}",
            "http_port": free_port(),
            # Once the backlog is read, the inputs go idle quickly and the last windows close.
            "source_idle_wall_s": _IDLE_S,
        }
    )
    worker = WorkerProcess(settings.model_copy(update={"processors": processors}), log)
    worker.start()
    ingested: list[tuple[float, float]] = []
    through: list[tuple[float, float]] = []
    try:
        await worker.wait_healthy(timeout_s=120)
        cpu_before = (await worker.scrape()).total(_CPU)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _RUN_TIMEOUT_S
        while True:
            scrape = await worker.scrape()
            now = time.perf_counter()
            ingested.append((now, scrape.total(_RECORDS, topic="auth.decisions")))
            through.append((now, scrape.total(_OBSERVED, kind="decision")))
            if through[-1][1] >= n:
                break
            if loop.time() > deadline:
                raise TimeoutError(f"run {index}: {through[-1][1]}/{n} decisions in time")
            await asyncio.sleep(_SAMPLE_S)
        timed = scrape
        drained = await _drained(worker)
    finally:
        worker.stop()
    first = _crossing(ingested, 1)
    return {
        "decisions_per_s": round(n / (_crossing(through, n) - first), 1),
        "ingest_decisions_per_s": round(
            0.8 * n / (_crossing(ingested, 0.9 * n) - _crossing(ingested, 0.1 * n)), 1
        ),
        "decisions_per_cpu_s": round(n / (timed.total(_CPU) - cpu_before), 1),
        "handle_p50_ms": {
            stage: _histogram_median_ms(timed, stage) for stage in ("ingest", "metrics")
        },
        # After the timed part, once the inputs went idle and every window closed:
        "windows_emitted": drained.total("kibalock_processor_windows_total"),
        "retrain_triggers": drained.total("kibalock_processor_triggers_total"),
        "lockouts": drained.total("kibalock_processor_lockouts_total"),
        "late_observations": drained.total(_OBSERVED, result="late"),
    }


async def _drained(worker: WorkerProcess) -> Scrape:
    """The worker's figures once its last windows have closed (inputs idle, windows stable)."""
    await asyncio.sleep(_IDLE_S + 2)
    previous = await worker.scrape()
    for _ in range(30):
        await asyncio.sleep(1.0)
        current = await worker.scrape()
        windows = "kibalock_processor_windows_total"
        if current.total(windows) == previous.total(windows) > 0:
            return current
        previous = current
    return previous


def _crossing(samples: list[tuple[float, float]], level: float) -> float:
    """When the count reached ``level``, interpolated between two samples."""
    previous = samples[0]
    for current in samples:
        if current[1] >= level:
            (t0, c0), (t1, c1) = previous, current
            return t1 if c1 == c0 else t0 + (t1 - t0) * (level - c0) / (c1 - c0)
        previous = current
    raise ValueError(f"the count never reached {level}")


def _histogram_median_ms(scrape: Scrape, stage: str) -> float | None:
    """The median of a Prometheus histogram, interpolated within its bucket."""
    buckets = sorted(
        (float(labels["le"]), count)
        for labels, count in scrape.samples.get("kibalock_processor_handle_seconds_bucket", [])
        if labels.get("stage") == stage
    )
    if not buckets or buckets[-1][1] == 0:
        return None
    half = buckets[-1][1] / 2
    lower, below = 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= half:
            if upper == float("inf"):
                return round(lower * 1000, 3)
            share = (half - below) / (cumulative - below)
            return round((lower + (upper - lower) * share) * 1000, 3)
        lower, below = upper, cumulative
    return None


async def _drop_namespace(settings: Settings) -> None:
    """Deletes the benchmark's topics (its data is of no use afterwards)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(settings.kafka.topic_prefix)]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
