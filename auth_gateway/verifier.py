"""Gathers the facts about one attempt, in the order of :mod:`auth_gateway.decide`, and has
``decide`` judge them.

Gathering stops at the first group of checks that fails, so nothing more is spent on an
attempt already decided (a locked user's media are not even fetched). The embedder versions are
taken once, when the attempt starts (``models``): a hot-swap during the attempt changes neither
the embeddings nor the calibration it is judged with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from auth_gateway.analysis import Analyser
from auth_gateway.challenges import Challenge, ChallengeRejected, ChallengeStore
from auth_gateway.decide import (
    Analyses,
    Analysis,
    Decision,
    Embeddings,
    PersonalScore,
    decide,
)
from auth_gateway.lockouts import LockoutBook
from auth_gateway.personal_models import PersonalModels
from auth_gateway.recent_probes import RecentProbes
from auth_gateway.reembed import features_version
from auth_gateway.replay import ReplayGuard
from auth_gateway.templates import TemplateStore
from auth_gateway.throttle import Throttle
from core.biometrics.echo import nearest_cosine
from core.biometrics.face import FaceSample
from core.biometrics.policy import DecisionPolicy
from core.biometrics.types import AnalysedSample, SampleStatus
from core.biometrics.voice import VoiceSample
from core.logging import get_logger
from core.objectstore import ObjectStore, ObjectStoreError
from core.registry import ActiveModels, LoadedModel
from schemas import AuthAttempt, AuthDecision, MediaRef
from schemas.auth import ChallengeCheck, FaceQuality, VoiceQuality
from schemas.catalog import AUTH_GATEWAY
from schemas.enums import DecisionReason, Outcome
from schemas.keys import attempt_prefix, user_prefix
from schemas.model_catalog import Modality
from schemas.personal import PERSONALISED

log = get_logger(__name__)


@dataclass
class Verdict:
    decision: AuthDecision
    face: FaceSample | None = None
    voice: VoiceSample | None = None
    media: dict[str, bytes] = field(default_factory=dict)

    def quality(self) -> tuple[FaceQuality | None, VoiceQuality | None]:
        return (
            face_quality_of(self.face) if self.face else None,
            voice_quality_of(self.voice) if self.voice else None,
        )


def face_quality_of(sample: FaceSample) -> FaceQuality:
    c = sample.quality.components
    return FaceQuality(
        score=sample.quality.score,
        found=sample.status is SampleStatus.OK,
        size=c.get("size", 0.0),
        sharpness=c.get("sharpness", 0.0),
        exposure=c.get("exposure", 0.0),
    )


def voice_quality_of(sample: VoiceSample) -> VoiceQuality:
    c = sample.quality.components
    return VoiceQuality(
        score=sample.quality.score,
        duration_s=c.get("duration_s", 0.0),
        speech_ratio=c.get("speech_ratio", 0.0),
        snr_db=c.get("snr_db", 0.0),
        clipping=c.get("clipping_ratio", c.get("clipping", 0.0)),
    )


class Verifier:
    def __init__(
        self,
        *,
        analyser: Analyser,
        objects: ObjectStore,
        templates: TemplateStore,
        challenges: ChallengeStore,
        replay: ReplayGuard,
        recent: RecentProbes,
        lockouts: LockoutBook,
        throttle: Throttle,
        policy: DecisionPolicy,
        models: Callable[[], ActiveModels],
        max_media_bytes: int,
        personal: PersonalModels,
    ) -> None:
        self.personal = personal
        self.max_media_bytes = max_media_bytes
        self.analyser = analyser
        self.objects = objects
        self.templates = templates
        self.challenges = challenges
        self.replay = replay
        self.recent = recent
        self.lockouts = lockouts
        self.throttle = throttle
        self.policy = policy
        self.models = models

    async def verify(self, attempt: AuthAttempt) -> Verdict:
        started = time.perf_counter()
        models = self.models()

        def judged(
            facts: Analyses,
            templates: dict[Modality, Embeddings | None] | None = None,
            personal: dict[Modality, PersonalScore] | None = None,
            **found: object,
        ) -> Verdict:
            decision = decide(attempt, facts, templates or {}, self.policy, personal)
            return Verdict(_event(attempt, decision, started), **found)  # type: ignore[arg-type]

        if await self._held(attempt):
            return judged(Analyses(locked=True))

        challenge: Challenge | None = None
        if attempt.voice is not None and attempt.challenge_id is not None:
            try:
                challenge = await self.challenges.redeem(
                    attempt.challenge_id,
                    user_id=attempt.user_id,
                    terminal_id=attempt.terminal_id,
                    attempt_id=attempt.attempt_id,
                )
            except ChallengeRejected as exc:
                return judged(Analyses(challenge=exc.reason))
        elif attempt.voice is not None:
            return judged(Analyses())  # decide() names the missing challenge

        media: dict[str, bytes] = {}
        problems: set[DecisionReason] = set()
        for modality, ref in (("face", attempt.face), ("voice", attempt.voice)):
            if ref is None:
                continue
            fetched = await self._fetch(ref, attempt)
            if isinstance(fetched, DecisionReason):
                problems.add(fetched)
            else:
                media[modality] = fetched
        if problems:
            return judged(Analyses(media=frozenset(problems)))

        face_model = models.for_modality(Modality.FACE)
        voice_model = models.for_modality(Modality.VOICE)
        face, voice = await asyncio.gather(
            self.analyser.face(media["face"], face_model) if "face" in media else _nothing(),
            self.analyser.voice(media["voice"], voice_model) if "voice" in media else _nothing(),
        )
        heard: ChallengeCheck | None = None
        if challenge is not None and voice is not None and voice.audio_16k is not None:
            result = await self.analyser.challenge(
                voice.audio_16k, challenge.digits, challenge.language
            )
            heard = ChallengeCheck(
                expected=challenge.digits,
                heard=result.heard or "-",
                passed=result.passed,
                language=challenge.language,
            )
        facts = Analyses(
            face=_analysis(face, face_model),
            voice=_analysis(voice, voice_model),
            heard=heard,
            recogniser=self.analyser.challenge_checker.ref if heard is not None else None,
            echo=await self._echoes(attempt.user_id, face, voice),
        )
        templates: dict[Modality, Embeddings | None] = {}
        personal: dict[Modality, PersonalScore] = {}
        for modality, sample in ((Modality.FACE, face), (Modality.VOICE, voice)):
            if sample is not None and sample.embedding is not None:
                # Templates are kept per model version: a sample meets only its own version's.
                templates[modality] = await self.templates.load(
                    attempt.user_id, modality.value, str(sample.ref)
                )
                if sample.model in PERSONALISED:
                    own = await self.personal.for_user(attempt.user_id, sample.ref)
                    if own is not None:
                        personal[modality] = own
        verdict = judged(facts, templates, personal, face=face, voice=voice, media=media)
        if verdict.decision.outcome is Outcome.ACCEPT:
            await self._remember(attempt.user_id, face, voice)
        return verdict

    async def _echoes(
        self, user_id: str, face: FaceSample | None, voice: VoiceSample | None
    ) -> dict[Modality, float]:
        """How close each probe comes to a capture of the user the gateway already holds: the
        enrolment samples' base features and the recent accepted probes."""
        echo: dict[Modality, float] = {}
        for modality, sample in ((Modality.FACE, face), (Modality.VOICE, voice)):
            if sample is None or sample.base_embedding is None:
                continue
            known = [
                k
                for k in (
                    await self.templates.load(
                        user_id, modality.value, features_version(sample.model)
                    ),
                    await self.recent.load(user_id, modality.value),
                )
                if k is not None and k.shape[-1] == sample.base_embedding.shape[-1]
            ]
            if known:
                echo[modality] = nearest_cosine(sample.base_embedding, np.concatenate(known))
        return echo

    async def _remember(
        self, user_id: str, face: FaceSample | None, voice: VoiceSample | None
    ) -> None:
        for modality, sample in ((Modality.FACE, face), (Modality.VOICE, voice)):
            if sample is not None and sample.base_embedding is not None:
                await self.recent.remember(user_id, modality.value, sample.base_embedding)

    async def refused_before_media(self, attempt: AuthAttempt) -> bool:
        """Whether :meth:`verify` would refuse ``attempt`` without reading its media: a lock or
        delay, or a voice without a challenge it may redeem. Nothing is claimed, so the REST
        path asks before it stores an upload, and keeps nothing of a person it refuses."""
        if await self._held(attempt):
            return True
        if attempt.voice is None:
            return False
        if attempt.challenge_id is None:
            return True
        try:
            await self.challenges.check(
                attempt.challenge_id,
                user_id=attempt.user_id,
                terminal_id=attempt.terminal_id,
                attempt_id=attempt.attempt_id,
            )
        except ChallengeRejected:
            return True
        return False

    async def _held(self, attempt: AuthAttempt) -> bool:
        """A lock from the processors or an admin, or the gateway's own brute-force delay."""
        return await self.lockouts.locked_until(attempt.user_id) is not None or (
            await self.throttle.refuses(attempt.user_id, attempt.terminal_id)
        )

    async def _fetch(self, ref: MediaRef, attempt: AuthAttempt) -> bytes | DecisionReason:
        # An attempt may name only its own upload: anything else the gateway's credentials can
        # read (models, canary sets, other users' enrolment) is never fetched for it.
        own = attempt_prefix(attempt.user_id, attempt.attempt_id)
        if ref.bucket != self.objects.bucket("samples") or not ref.key.startswith(own):
            log.warning(
                "media outside the attempt's own upload",
                attempt_id=attempt.attempt_id,
                uri=ref.uri,
            )
            # The user's own earlier upload named again is a replay; anything else is not theirs.
            if ref.bucket == self.objects.bucket("samples") and ref.key.startswith(
                user_prefix(attempt.user_id)
            ):
                return DecisionReason.REPLAY
            return DecisionReason.INVALID_MEDIA
        try:
            data = await self.objects.get_bytes(ref, max_bytes=self.max_media_bytes)
        except ObjectStoreError as exc:
            return DecisionReason(exc.reason)
        if not data:
            # Nothing to replay and nothing to judge: an empty upload is invalid, not a replay.
            return DecisionReason.INVALID_MEDIA
        if not await self.replay.first_use(
            ref.sha256, attempt_id=attempt.attempt_id, user_id=attempt.user_id
        ):
            return DecisionReason.REPLAY
        return data


async def _nothing() -> None:
    return None


def _analysis(sample: AnalysedSample | None, model: LoadedModel | None) -> Analysis | None:
    if sample is None:
        return None
    return Analysis(sample, model.operating_point if model is not None else None)


def _event(attempt: AuthAttempt, decision: Decision, started: float) -> AuthDecision:
    return AuthDecision(
        producer=AUTH_GATEWAY,
        attempt_id=attempt.attempt_id,
        user_id=attempt.user_id,
        terminal_id=attempt.terminal_id,
        outcome=decision.outcome,
        reasons=[r.value for r in decision.reasons],
        face_score=decision.face_score,
        voice_score=decision.voice_score,
        fused_score=decision.fused_score,
        challenge=decision.challenge,
        thresholds=decision.thresholds,
        model_versions=decision.model_versions,
        latency_ms=(time.perf_counter() - started) * 1000.0,
        decided_at=datetime.now(UTC),
    )
