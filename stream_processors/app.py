"""The faust app: topics, changelogged tables and the two stages' agents, for one worker.

Stage 1, ``ingest`` (``ingest_stage``): the user-keyed inputs (3 partitions, tables on the
same partitions): the ground-truth join, lockouts, personalisation counts. It publishes
observations on the internal topic ``{prefix}{app_id}-observations`` (one partition).

Stage 2, ``metrics`` (``metrics_stage``): pane accumulators, the windowing clock and the
incident watches, in one-partition tables; closed windows go to ``metrics``, incidents to
``retrain.triggers``.

Every topic name carries ``kafka.topic_prefix``, and the app id (consumer group, changelog and
internal topics) is ``{prefix}{app_id}``. Tables use faust's memory store: a restarted worker
rebuilds them by replaying their (compacted) changelog topics before it consumes anything.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import faust

from core.bus import DEADLETTER, topic_name
from core.kafka_client import ssl_context
from core.logging import get_logger
from core.settings import Settings
from core.settings.backends import KafkaSection
from schemas import TOPICS
from stream_processors import join, lockouts, triggers
from stream_processors.aggregation import ClockState
from stream_processors.ingest_stage import IngestStage
from stream_processors.metrics_stage import OBSERVED, MetricsStage
from stream_processors.outputs import Outputs
from stream_processors.tables import ModelTable
from stream_processors.telemetry import Liveness, Telemetry
from stream_processors.windows import PaneAccumulator

INPUTS = (
    "auth.decisions",
    "auth.feedback",
    "auth.quality",
    "training.samples",
    "security.lockouts",
)
log = get_logger(__name__)

OUTPUTS = ("metrics", "retrain.triggers", "security.lockouts", DEADLETTER)
_TICK_S = 1.0


class FaustInternalsChanged(RuntimeError):
    """The installed faust lacks an internal the processors read."""


def require_faust_internals(app: faust.App) -> None:
    """Two things the processors need have no public faust API: where the group's commits
    stand before a partition is read (idle detection) and whether the tables are recovered
    (readiness). A faust release that renamed either would leave both silently wrong, so the
    worker refuses to start instead; pyproject.toml pins the faust that has them."""
    tables: Any = app.tables  # the manager's type does not declare ``recovery``
    needed = {
        "Consumer._committed_offset": hasattr(app.consumer, "_committed_offset"),
        "Recovery.completed": hasattr(tables.recovery, "completed"),
    }
    missing = [name for name, present in needed.items() if not present]
    if missing:
        raise FaustInternalsChanged(
            f"faust {faust.__version__} has no {', '.join(missing)}, which the processors "
            "read (stream_processors/app.py): install the faust-streaming pyproject.toml pins"
        )


def broker_credentials(kafka: KafkaSection) -> faust.SASLCredentials | None:
    """faust's form of the SASL login in ``kafka`` (None: a PLAINTEXT broker)."""
    if not kafka.sasl:
        return None
    return faust.SASLCredentials(
        username=kafka.username,
        password=kafka.sasl_password().get_secret_value(),
        mechanism=kafka.sasl_mechanism,
        # faust switches the credentials to SASL_SSL when given a context.
        ssl_context=ssl_context(kafka),
    )


class ProcessorApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = cfg = settings.processors
        self.app_id = f"{settings.kafka.topic_prefix}{cfg.app_id}"
        self.telemetry = Telemetry()
        self.liveness = Liveness()
        self.app = faust.App(
            self.app_id,
            broker=f"kafka://{settings.kafka.bootstrap}",
            broker_credentials=broker_credentials(settings.kafka),
            store="memory://",
            # Tables are in memory (state comes back from changelogs): faust's data folder only
            # holds its bookkeeping, which must not land in whatever folder the process ran in.
            datadir=str(Path(tempfile.gettempdir()) / f"kibalock-faust-{self.app_id}"),
            web_enabled=False,  # /healthz and /metrics are served by health.HealthServer
            autodiscover=False,
            topic_replication_factor=settings.kafka.replication_factor,
            topic_partitions=settings.kafka.default_partitions,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=cfg.commit_interval_s,
            broker_session_timeout=cfg.session_timeout_s,
            broker_heartbeat_interval=min(3.0, cfg.session_timeout_s / 3),
            producer_acks=-1,
            # A few ms of batching: about a fifth less CPU per record than one request per
            # message (changelog writes and observations are many small records).
            producer_linger=0.005,
            table_standby_replicas=0,
        )
        inputs = self.app.topic(
            *(topic_name(settings, t) for t in INPUTS),
            key_serializer="raw",
            value_serializer="raw",
        )
        # Internal: faust creates it, through the admin API, with its changelog topics.
        observations = self.app.topic(
            f"{self.app_id}-observations",
            partitions=1,
            internal=True,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.outputs = outputs = Outputs(
            {
                name: self.app.topic(
                    topic_name(settings, name), key_serializer="raw", value_serializer="raw"
                )
                for name in OUTPUTS
            },
            observations,
            consumer_group=self.app_id,
            producer_id=cfg.producer_id,
            telemetry=self.telemetry,
        )
        by_user = TOPICS["auth.decisions"].partitions
        self.ingest = IngestStage(
            cfg,
            prefix=settings.kafka.topic_prefix,
            joins=ModelTable(self._table("joins", by_user), join.JoinEntry),
            locks=ModelTable(self._table("lockouts", by_user), lockouts.LockState),
            samples=ModelTable(self._table("samples", by_user), triggers.SampleCount),
            outputs=outputs,
            telemetry=self.telemetry,
            liveness=self.liveness,
        )
        self.metrics = MetricsStage(
            cfg,
            logical_topic=f"{cfg.app_id}-observations",
            panes=ModelTable(self._table("panes", 1, keyless=True), PaneAccumulator),
            clock=ModelTable(self._table("clock", 1, keyless=True), ClockState),
            watches=ModelTable(self._table("watches", 1, keyless=True), triggers.ModelWatch),
            outputs=outputs,
            telemetry=self.telemetry,
            liveness=self.liveness,
        )
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.agent(inputs, name="ingest")(self.ingest.run)
        self.app.agent(observations, name="metrics")(self.metrics.run)
        self.app.timer(_TICK_S, name="close_idle_windows")(self._tick)
        self.app.timer(max(_TICK_S, cfg.source_idle_wall_s / 4), name="declare_idle_inputs")(
            self._declare_idle
        )
        require_faust_internals(self.app)

    def _table(self, name: str, partitions: int, *, keyless: bool = False) -> Any:
        # ``keyless`` tables are also written outside of a record's context (the idle timer);
        # on one partition the producer's partitioner is as good as the record's partition.
        return self.app.Table(
            name,
            default=None,
            key_type=str,
            value_type=bytes,
            partitions=partitions,
            use_partitioner=keyless,
        )

    @property
    def started(self) -> bool:
        """The first assignment has been recovered from the changelogs: records flow."""
        tables: Any = self.app.tables  # the manager's type does not declare ``recovery``
        return bool(tables.recovery.completed.is_set())

    async def _on_revoked(self, _sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        # In-memory indexes over table contents; rebuilt once the tables are recovered.
        (revoked,) = args
        self.ingest.expiry.forget({tp.partition for tp in revoked})
        prefix = self.settings.kafka.topic_prefix
        self.ingest.idleness.forget(
            f"{tp.topic.removeprefix(prefix)}:{tp.partition}" for tp in revoked
        )
        self.metrics.forget()

    @property
    def _steady(self) -> bool:
        return self.started and not (self.app.rebalancing or self.app.in_recovery)

    async def _tick(self) -> None:
        if self._steady:
            await self.metrics.tick()

    async def _declare_idle(self) -> None:
        """Tells the metrics stage which of this worker's inputs are read out and quiet."""
        if not self._steady:
            return
        consumer: Any = self.app.consumer
        prefix = self.settings.kafka.topic_prefix
        assigned = {
            tp: f"{tp.topic.removeprefix(prefix)}:{tp.partition}"
            for tp in consumer.assignment()
            if tp.topic.removeprefix(prefix) in OBSERVED
        }
        if not assigned:
            return
        try:
            ends = await consumer.highwaters(*assigned)
        except Exception as exc:  # the broker away: try again next time
            log.warning("could not read end offsets", error=repr(exc))
            return
        # Where the group's commits stand, for partitions this worker has not read from yet
        # (faust keeps them in a private attribute, filled when partitions are assigned;
        # require_faust_internals checked it exists).
        committed = consumer._committed_offset
        markers = self.ingest.idleness.idle(
            {name: ends[tp] for tp, name in assigned.items() if ends.get(tp) is not None},
            {name: committed.get(tp) for tp, name in assigned.items()},
            time.time(),
        )
        await self.outputs.observe(markers)

    def health(self) -> tuple[bool, dict[str, Any]]:
        app = self.app
        if not self.started:
            status = "starting"
        elif app.should_stop:
            status = "stopping"
        elif self.liveness.crashed:
            status = "agent_crashed"
        elif app.rebalancing or app.in_recovery:
            status = "recovering"
        else:
            status = "ok"
        ok = status == "ok"
        self.telemetry.ready.set(1 if ok else 0)
        last = self.liveness.last_record_wall
        assigned = app.consumer.assignment() if self.started else set()
        return ok, {
            "status": status,
            "app_id": self.app_id,
            "assigned": sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
            "seconds_since_last_record": None if last is None else time.time() - last,
        }
