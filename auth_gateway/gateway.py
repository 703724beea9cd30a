"""The gateway's state and its event handlers (attempts, feedback, lockouts, model events).

Both entry points — the Kafka consumer and the REST ``/verify`` — go through
:meth:`Gateway.handle_attempt`, so they share one engine, one decision log and one idempotence
rule: an attempt_id already decided yields the stored decision again, never a second one.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from prometheus_client import Counter, Histogram

from auth_gateway import challenges, erasure, lockouts, replay
from auth_gateway.analysis import Analyser
from auth_gateway.capture import SampleCapture
from auth_gateway.challenges import ChallengeStore
from auth_gateway.crypto import TemplateCipher, load_key
from auth_gateway.decision_log import DecisionLog
from auth_gateway.enrolment import Enroller
from auth_gateway.hotswap import HotSwapper
from auth_gateway.lockouts import LockoutBook
from auth_gateway.policy import DecisionPolicy, load_policy
from auth_gateway.reembed import ReEmbedder
from auth_gateway.replay import ReplayGuard
from auth_gateway.sessions import Session, SessionStore
from auth_gateway.templates import TemplateStore
from auth_gateway.verifier import Verifier
from core import docstore
from core.bus import EventProducer
from core.logging import get_logger
from core.objectstore import ObjectStore
from core.registry import ActiveModels, ModelRegistry
from core.settings import Settings
from schemas import (
    AuthAttempt,
    AuthDecision,
    AuthFeedback,
    Event,
    LockoutEvent,
    ModelActivation,
    ModelPublished,
    QualityReport,
)
from schemas.catalog import AUTH_GATEWAY
from schemas.enums import FeedbackLabel, Outcome, SampleOrigin

log = get_logger(__name__)

# The collections only the gateway uses: created at start, not by ``kibalock stack up``.
PRIVATE_INDEXES = [challenges.INDEX, replay.INDEX, lockouts.INDEX]

DECISIONS = Counter("kibalock_decisions_total", "Decisions made", ["outcome"])
DECISION_LATENCY = Histogram(
    "kibalock_decision_seconds",
    "From attempt received to decision",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16),
)
REDELIVERED = Counter("kibalock_redelivered_attempts_total", "Attempts decided before")
CAPTURED = Counter("kibalock_training_samples_total", "Training samples captured", ["origin"])


@dataclass
class Handled:
    decision: AuthDecision
    session: Session | None


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        analyser: Analyser,
        producer: EventProducer,
        policy: DecisionPolicy | None = None,
        choose_digit: Callable[[str], str] = secrets.choice,
    ) -> None:
        self.settings = settings
        self.client = docstore.client(settings)
        self.db = self.client[settings.mongo.database]
        self.objects = ObjectStore(settings)
        self.producer = producer
        self.analyser = analyser
        options = settings.gateway
        # Read once: a missing or unreadable key file stops the gateway at start, not at a request.
        self.admin_key = options.admin_key()
        self.templates = TemplateStore(self.db, TemplateCipher(load_key(options)))
        self.challenges = ChallengeStore(
            self.db,
            digits=options.challenge_digits,
            ttl_s=options.challenge_ttl_s,
            choose=choose_digit,
        )
        self.replay = ReplayGuard(self.db)
        self.lockouts = LockoutBook(self.db)
        self.sessions = SessionStore(self.db, ttl_s=options.session_ttl_s)
        self.log = DecisionLog(self.db)
        self.capture = SampleCapture(
            self.db, self.objects, producer, threshold=options.training_quality_threshold
        )
        policy = policy or load_policy()
        models = settings.models
        trust = models.trust.keys(required=False)
        if options.follow_registry and not trust.ids:
            log.warning("no trusted model keys: serving offline defaults, refusing new models")
        self.swapper = HotSwapper(
            registry=ModelRegistry(self.db, self.objects),
            objects=self.objects,
            producer=producer,
            reembedder=ReEmbedder(
                self.db,
                self.templates,
                self.objects,
                analyser,
                batch=models.reembed_batch,
            ),
            settings=models,
            trust=trust,
            follow_registry=options.follow_registry,
            instance_id=models.instance_id or f"{socket.gethostname()}-{os.getpid()}",
            defaults=ActiveModels.offline(policy.base_operating_points),
        )
        self.enroller = Enroller(
            self.db,
            self.objects,
            analyser,
            self.templates,
            min_samples=options.min_enrol_samples,
            models=self.swapper.current,
            extra_targets=self.swapper.template_targets,
        )
        self.verifier = Verifier(
            analyser=analyser,
            objects=self.objects,
            templates=self.templates,
            challenges=self.challenges,
            replay=self.replay,
            lockouts=self.lockouts,
            policy=policy,
            models=self.swapper.current,
        )

    async def prepare(self) -> None:
        """Indexes and buckets exist, and the registry's active models are loaded (or the
        offline defaults), before the first attempt (idempotent)."""
        await docstore.ensure_indexes(self.db, [*docstore.INDEXES, *PRIVATE_INDEXES])
        await self.objects.ensure_buckets()
        await self.swapper.start()

    async def close(self) -> None:
        await self.client.close()

    async def probe(self) -> dict[str, str]:
        """Whether the document store and the object store answer: ``ok`` or ``error: …``."""
        checks: dict[str, str] = {}
        for name, call in (
            ("mongo", lambda: self.db.command("ping")),
            ("objects", self.objects.list_buckets),
        ):
            try:
                await call()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {type(exc).__name__}"
        return checks

    async def erase_user(self, user_id: str) -> dict[str, int]:
        """The right to erasure, over every store that keeps something of ``user_id``."""
        stores: list[erasure.Erasable] = [
            self.templates,
            self.enroller,
            self.sessions,
            self.challenges,
            self.replay,
            self.lockouts,
            self.capture,
        ]
        return await erasure.erase_user(
            user_id, db=self.db, objects=self.objects, log=self.log, stores=stores
        )

    async def handle_attempt(self, attempt: AuthAttempt) -> Handled:
        stored = await self.log.find(attempt.attempt_id)
        if stored is not None:
            # The first delivery may have died before publishing: publish the same event again
            # (same event_id, so consumers that saw it already drop it).
            REDELIVERED.inc()
            await self.producer.publish(stored)
            session = (
                await self.sessions.open(stored.user_id, stored.attempt_id)
                if stored.outcome is Outcome.ACCEPT
                else None
            )
            return Handled(stored, session)

        try:
            verdict = await self.verifier.verify(attempt)
        except Exception:
            self.swapper.watch.observe_error()
            raise
        face_q, voice_q = verdict.quality()
        qualities = {
            name: q.score for name, q in (("face", face_q), ("voice", voice_q)) if q is not None
        }
        decision, is_new = await self.log.record(attempt, verdict.decision, qualities)
        session = None
        if decision.outcome is Outcome.ACCEPT:
            session = await self.sessions.open(decision.user_id, decision.attempt_id)
        await self.producer.publish(decision)
        if not is_new:
            return Handled(decision, session)
        DECISIONS.labels(decision.outcome.value).inc()
        self.swapper.watch.observe(decision)
        DECISION_LATENCY.observe(decision.latency_ms / 1000.0)
        if face_q or voice_q:
            await self.producer.publish(
                QualityReport(
                    producer=AUTH_GATEWAY,
                    attempt_id=attempt.attempt_id,
                    user_id=attempt.user_id,
                    terminal_id=attempt.terminal_id,
                    face=face_q,
                    voice=voice_q,
                )
            )
        qualifies = self.capture.qualifies(qualities.get("face"), qualities.get("voice"))
        if decision.outcome is Outcome.ACCEPT and qualifies:
            captured = await self.capture.capture(
                attempt, verdict.media, qualities, SampleOrigin.ACCEPTED
            )
            if captured:
                CAPTURED.labels("accepted").inc()
        log.info(
            "decision",
            attempt_id=decision.attempt_id,
            outcome=decision.outcome.value,
            reasons=decision.reasons,
            fused=decision.fused_score,
            latency_ms=round(decision.latency_ms, 1),
        )
        return Handled(decision, session)

    async def handle_feedback(self, feedback: AuthFeedback) -> None:
        """A rejected attempt later confirmed genuine becomes a training sample."""
        if feedback.label is not FeedbackLabel.GENUINE:
            return
        decision = await self.log.find(feedback.attempt_id)
        attempt = await self.log.attempt_of(feedback.attempt_id)
        if decision is None or attempt is None or decision.outcome is Outcome.ACCEPT:
            return
        media: dict[str, bytes] = {}
        for modality, ref in (("face", attempt.face), ("voice", attempt.voice)):
            if ref is not None and await self.objects.exists(ref.bucket, ref.key):
                media[modality] = await self.objects.get_bytes(ref)
        qualities = await self.log.qualities_of(feedback.attempt_id)
        usable = {m: d for m, d in media.items() if m in qualities}
        if usable and await self.capture.capture(attempt, usable, qualities, SampleOrigin.FEEDBACK):
            CAPTURED.labels("feedback").inc()

    async def handle_event(self, event: Event, _record: ConsumerRecord[bytes, bytes]) -> None:
        if isinstance(event, AuthAttempt):
            await self.handle_attempt(event)
        elif isinstance(event, AuthFeedback):
            await self.handle_feedback(event)
        elif isinstance(event, LockoutEvent):
            await self.lockouts.apply(event)
        elif isinstance(event, ModelPublished):
            await self.swapper.handle_published(event)
        elif isinstance(event, ModelActivation):
            await self.swapper.on_activation(event)
