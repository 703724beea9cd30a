"""One attempt in, one decision out: the checks in order, cheapest and most decisive first.

1. a locked user is rejected (``locked``) before anything else is spent;
2. the spoken challenge is redeemed (unknown, reused, expired or someone else's → rejected);
3. the media are fetched by reference, their sha256 checked (``missing_object``,
   ``checksum_mismatch``) and each sha256 may serve one attempt only (``replay``);
4. face and voice are analysed off the event loop; an unusable capture (no face, no speech,
   too low quality) asks for a ``retry``, media that are not an image / audio are rejected;
5. the spoken digits must match the challenge (``challenge_mismatch``);
6. each modality is scored against the user's templates of the *same* model version, calibrated,
   fused, and the fused score is compared with the threshold set for the target FMR.

The embedder versions are taken once, when the attempt starts (``models``): a hot-swap during
the attempt does not change them.

Every outcome carries its reasons, scores, thresholds and model versions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from auth_gateway.analysis import Analyser
from auth_gateway.challenges import Challenge, ChallengeRejected, ChallengeStore
from auth_gateway.lockouts import LockoutBook
from auth_gateway.policy import DecisionPolicy
from auth_gateway.replay import ReplayGuard
from auth_gateway.templates import TemplateStore
from core.biometrics.face import FaceSample
from core.biometrics.fusion import fuse
from core.biometrics.scoring import template_score
from core.biometrics.types import SampleStatus
from core.biometrics.voice import VoiceSample
from core.objectstore import ObjectStore, ObjectStoreError
from core.registry import ActiveModels, LoadedModel
from schemas import AuthAttempt, AuthDecision, MediaRef, ModalityScore
from schemas.auth import ChallengeCheck, FaceQuality, VoiceQuality
from schemas.enums import DecisionReason as R
from schemas.enums import Outcome

PRODUCER = "auth-gateway"
ASR_MODEL = "speech-recogniser"
# The packaged whisper-base (CTranslate2); the registry versions recognisers like any model.
DEFAULT_ASR_VERSION = "1.0.0"


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


def template_version(model: str, version: str) -> str:
    return f"{model}@{version}"


class Verifier:
    def __init__(
        self,
        *,
        analyser: Analyser,
        objects: ObjectStore,
        templates: TemplateStore,
        challenges: ChallengeStore,
        replay: ReplayGuard,
        lockouts: LockoutBook,
        policy: DecisionPolicy,
        asr_version: str,
        models: Callable[[], ActiveModels] | None = None,
    ) -> None:
        self.analyser = analyser
        self.objects = objects
        self.templates = templates
        self.challenges = challenges
        self.replay = replay
        self.lockouts = lockouts
        self.policy = policy
        self.asr_version = asr_version
        self.models = models

    def _decision(
        self,
        attempt: AuthAttempt,
        started: float,
        outcome: Outcome,
        reasons: list[str],
        **scores: object,
    ) -> AuthDecision:
        return AuthDecision(
            producer=PRODUCER,
            attempt_id=attempt.attempt_id,
            user_id=attempt.user_id,
            terminal_id=attempt.terminal_id,
            outcome=outcome,
            reasons=reasons,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            decided_at=datetime.now(UTC),
            **scores,  # type: ignore[arg-type]
        )

    async def verify(self, attempt: AuthAttempt) -> Verdict:
        started = time.perf_counter()
        # None: the engines' own embeddings (no hot-swap).
        models = self.models() if self.models else None

        def reject(*reasons: str) -> Verdict:
            return Verdict(self._decision(attempt, started, Outcome.REJECT, list(reasons)))

        if await self.lockouts.locked_until(attempt.user_id) is not None:
            return reject(R.LOCKED)

        challenge: Challenge | None = None
        if attempt.voice is not None:
            if attempt.challenge_id is None:
                return reject("challenge_missing")
            try:
                challenge = await self.challenges.redeem(
                    attempt.challenge_id,
                    user_id=attempt.user_id,
                    terminal_id=attempt.terminal_id,
                    attempt_id=attempt.attempt_id,
                )
            except ChallengeRejected as exc:
                return reject(exc.reason)

        media: dict[str, bytes] = {}
        refs = {"face": attempt.face, "voice": attempt.voice}
        problems: list[str] = []
        for modality, ref in refs.items():
            if ref is None:
                continue
            fetched = await self._fetch(ref, attempt)
            if isinstance(fetched, str):
                problems.append(fetched)
            else:
                media[modality] = fetched
        if problems:
            return reject(*sorted(set(problems)))

        face, voice = await asyncio.gather(
            self.analyser.face(media["face"], _model(models, "face"))
            if "face" in media
            else _none(),
            self.analyser.voice(media["voice"], _model(models, "voice"))
            if "voice" in media
            else _none(),
        )
        decision = await self._judge(attempt, started, challenge, face, voice)
        return Verdict(decision, face, voice, media)

    async def _fetch(self, ref: MediaRef, attempt: AuthAttempt) -> bytes | str:
        try:
            data = await self.objects.get_bytes(ref)
        except ObjectStoreError as exc:
            return exc.reason
        if not data:
            # Nothing to replay and nothing to judge: an empty upload is invalid, not a replay.
            return R.INVALID_MEDIA
        if not await self.replay.first_use(
            ref.sha256, attempt_id=attempt.attempt_id, user_id=attempt.user_id
        ):
            return R.REPLAY
        return data

    async def _judge(
        self,
        attempt: AuthAttempt,
        started: float,
        challenge: Challenge | None,
        face: FaceSample | None,
        voice: VoiceSample | None,
    ) -> AuthDecision:
        hard: list[str] = []
        retry: list[str] = []
        for name, sample in (("face", face), ("voice", voice)):
            if sample is None:
                continue
            if sample.status is SampleStatus.INVALID_MEDIA:
                hard.append(R.INVALID_MEDIA)
            elif sample.status is not SampleStatus.OK:
                retry.append(sample.status.value)
            elif sample.quality.score < self.policy.min_quality.get(name, 0.0):
                retry.append(R.LOW_QUALITY)

        check: ChallengeCheck | None = None
        versions: dict[str, str] = {}
        if challenge is not None and voice is not None and voice.audio_16k is not None:
            heard = await self.analyser.challenge(voice.audio_16k, challenge.digits)
            check = ChallengeCheck(
                expected=challenge.digits, heard=heard.heard or "-", passed=heard.passed
            )
            versions[ASR_MODEL] = self.asr_version
            if not heard.passed:
                hard.append(R.CHALLENGE_MISMATCH)

        thresholds = {"fused_accept": self.policy.accept_threshold}
        thresholds.update({f"{m}_min_quality": q for m, q in self.policy.min_quality.items()})
        if hard or retry:
            outcome = Outcome.REJECT if hard else Outcome.RETRY
            return self._decision(
                attempt,
                started,
                outcome,
                sorted(set(hard + retry)),
                challenge=check,
                thresholds=thresholds,
                model_versions=versions,
            )

        scores: dict[str, ModalityScore] = {}
        reasons: list[str] = []
        for name, sample in (("face", face), ("voice", voice)):
            if sample is None or sample.embedding is None:
                continue
            versions[sample.model] = sample.version
            enrolled = await self.templates.load(
                attempt.user_id, name, template_version(sample.model, sample.version)
            )
            if enrolled is None:
                reasons.append(R.NOT_ENROLLED)
                continue
            raw = template_score(sample.embedding, enrolled, self.policy.scoring)
            calibrated = self.policy.calibrations[name].score(raw)
            scores[name] = ModalityScore(raw=raw, calibrated=calibrated)
            if calibrated < 0.5:
                reasons.append(f"{name}_mismatch")

        fused = fuse({m: s.calibrated for m, s in scores.items()}, self.policy.fusion)
        if fused.score is None and not reasons:
            reasons.append("missing_modality")
        accept = not reasons and fused.accepts(self.policy.accept_threshold)
        if not accept and not reasons:
            reasons.append("score_below_threshold")
        return self._decision(
            attempt,
            started,
            Outcome.ACCEPT if accept else Outcome.REJECT,
            sorted(set(reasons)),
            face_score=scores.get("face"),
            voice_score=scores.get("voice"),
            fused_score=fused.score,
            challenge=check,
            thresholds=thresholds,
            model_versions=versions,
        )


async def _none() -> None:
    return None


def _model(models: ActiveModels | None, modality: str) -> LoadedModel | None:
    return models.for_modality(modality) if models else None
