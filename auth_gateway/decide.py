"""The gateway's decision rule, as one pure function: facts in, a decision out, no I/O.

The checks run in order, cheapest and most decisive first; the first group that fails decides:

1. a locked user is rejected (``locked``);
2. a voice sample must answer a challenge, and the challenge must be redeemable
   (``challenge_missing``, ``challenge_unknown``, ``challenge_reused``, ``challenge_expired``,
   ``challenge_mismatch`` for another user's or terminal's challenge);
3. the media must be fetchable, intact and fresh (``missing_object``, ``checksum_mismatch``,
   ``object_store_error``, ``invalid_media`` for an empty upload, ``replay``), and no sample
   may nearly duplicate one of the user's enrolment samples or recent accepted probes
   (``replay``: its base embedding's cosine to one reaches the modality's
   ``policy.replay_cosine``);
4. media that are not an image / audio are rejected (``invalid_media``), an unusable capture
   asks for a ``retry`` (``no_face``, ``no_speech``, ``low_quality``), and the digits heard
   must be the challenge's (``challenge_mismatch``; the factors are still scored, for the log);
5. each modality is scored against the user's templates of the *same* model version
   (``not_enrolled`` without them), calibrated with that version's own operating point
   (``uncalibrated_model`` without one) and compared with its threshold (``face_mismatch``,
   ``voice_mismatch``); the calibrated scores are fused (``missing_modality`` if the policy
   needs both) and the fused score must reach the accept threshold (``score_below_threshold``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from core.biometrics.echo import DEFAULT_ECHO_COSINE
from core.biometrics.fusion import fuse
from core.biometrics.policy import DecisionPolicy
from core.biometrics.scoring import Calibration, template_score
from core.biometrics.types import AnalysedSample, SampleStatus
from schemas import AuthAttempt, ModalityScore
from schemas.auth import ChallengeCheck
from schemas.enums import DecisionReason, Outcome
from schemas.manifest import OperatingPoint
from schemas.model_catalog import Modality, ModelRef

Embeddings = npt.NDArray[np.floating]
_MISMATCH = {
    Modality.FACE: DecisionReason.FACE_MISMATCH,
    Modality.VOICE: DecisionReason.VOICE_MISMATCH,
}
_RETRY = {
    SampleStatus.NO_FACE: DecisionReason.NO_FACE,
    SampleStatus.NO_SPEECH: DecisionReason.NO_SPEECH,
}


@dataclass(frozen=True)
class Analysis:
    """What an engine made of one sample, and how the version that made it is read."""

    sample: AnalysedSample
    operating_point: OperatingPoint | None


@dataclass(frozen=True)
class Analyses:
    """Every fact gathered about an attempt; the gatherer stops at the first failing group,
    so the later fields stay empty."""

    locked: bool = False
    challenge: DecisionReason | None = None  # why the challenge could not be redeemed
    media: frozenset[DecisionReason] = frozenset()  # why media could not be used
    face: Analysis | None = None
    voice: Analysis | None = None
    heard: ChallengeCheck | None = None
    recogniser: ModelRef | None = None
    # Per modality, the highest cosine of the probe to the user's known captures (enrolment
    # samples, recent accepted probes); absent when the user has none.
    echo: Mapping[Modality, float] = field(default_factory=dict)

    def by_modality(self) -> dict[Modality, Analysis]:
        found = {Modality.FACE: self.face, Modality.VOICE: self.voice}
        return {m: a for m, a in found.items() if a is not None}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: list[DecisionReason]
    face_score: ModalityScore | None = None
    voice_score: ModalityScore | None = None
    fused_score: float | None = None
    challenge: ChallengeCheck | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    model_versions: dict[str, str] = field(default_factory=dict)


def _reject(*reasons: DecisionReason) -> Decision:
    return Decision(Outcome.REJECT, sorted(set(reasons)))


class PersonalScore(Protocol):
    """A user's personal model (LifeModo's per-user job) on the shared raw-score scale."""

    @property
    def version(self) -> str: ...

    def score(self, embedding: Embeddings) -> float: ...


def decide(
    attempt: AuthAttempt,
    analyses: Analyses,
    templates: Mapping[Modality, Embeddings | None],
    policy: DecisionPolicy,
    personal: Mapping[Modality, PersonalScore] | None = None,
) -> Decision:
    """The decision on ``attempt``; ``templates`` are the claimed user's, per modality, for the
    model version that analysed that modality's sample (None: the user has none). A modality's
    ``personal`` model, fitted in that same version, may raise its raw score: the best of the
    two is read at the version's operating point."""
    if analyses.locked:
        return _reject(DecisionReason.LOCKED)
    if attempt.voice is not None and attempt.challenge_id is None:
        return _reject(DecisionReason.CHALLENGE_MISSING)
    if analyses.challenge is not None:
        return _reject(analyses.challenge)
    if analyses.media:
        return _reject(*analyses.media)
    replay_at = policy.replay_cosine
    if any(c >= replay_at.get(m, DEFAULT_ECHO_COSINE) for m, c in analyses.echo.items()):
        return _reject(DecisionReason.REPLAY)

    samples = analyses.by_modality()
    hard: list[DecisionReason] = []
    retry: list[DecisionReason] = []
    for modality, analysis in samples.items():
        status = analysis.sample.status
        if status is SampleStatus.INVALID_MEDIA:
            hard.append(DecisionReason.INVALID_MEDIA)
        elif status is not SampleStatus.OK:
            retry.append(_RETRY[status])
        elif analysis.sample.quality.score < policy.min_quality.get(modality, 0.0):
            retry.append(DecisionReason.LOW_QUALITY)

    versions: dict[str, str] = {}
    # Wrong digits refuse the attempt, but the factors are still scored: the decision log then
    # says whether it was the person (a misheard challenge) or not, which is what decides if a
    # later confirmation may turn the samples into training data.
    misheard = analyses.heard is not None and not analyses.heard.passed
    if analyses.heard is not None and analyses.recogniser is not None:
        versions[analyses.recogniser.name] = analyses.recogniser.version

    thresholds = {"fused_accept": policy.accept_threshold}
    thresholds.update({f"{m}_min_quality": q for m, q in policy.min_quality.items()})
    if hard or retry:
        if misheard:
            hard.append(DecisionReason.CHALLENGE_MISMATCH)
        return Decision(
            Outcome.REJECT if hard else Outcome.RETRY,
            sorted(set(hard + retry)),
            challenge=analyses.heard,
            thresholds=thresholds,
            model_versions=versions,
        )

    scores: dict[Modality, ModalityScore] = {}
    reasons: list[DecisionReason] = []
    for modality, analysis in samples.items():
        sample, point = analysis.sample, analysis.operating_point
        if sample.embedding is None:
            continue
        versions[sample.model] = sample.version
        enrolled = templates.get(modality)
        if enrolled is None:
            reasons.append(DecisionReason.NOT_ENROLLED)
            continue
        raw = template_score(sample.embedding, enrolled, policy.scoring)
        own = (personal or {}).get(modality)
        if own is not None:
            raw = max(raw, own.score(sample.embedding))
            versions[f"{sample.model}-personal"] = own.version
        if point is None or point.model != ModelRef(name=sample.model, version=sample.version):
            # A score read with another version's calibration would move the operating FMR.
            scores[modality] = ModalityScore(raw=raw)
            reasons.append(DecisionReason.UNCALIBRATED_MODEL)
            continue
        calibrated = Calibration.model_validate(point.calibration.model_dump()).score(raw)
        scores[modality] = ModalityScore(raw=raw, calibrated=calibrated)
        thresholds[f"{modality}_match"] = point.threshold
        if calibrated < point.threshold:
            reasons.append(_MISMATCH[modality])

    calibrated_scores = {
        m.value: s.calibrated for m, s in scores.items() if s.calibrated is not None
    }
    fused = fuse(calibrated_scores, policy.fusion)
    if fused.score is None and not reasons:
        reasons.append(DecisionReason.MISSING_MODALITY)
    if misheard:
        reasons.append(DecisionReason.CHALLENGE_MISMATCH)
    accept = not reasons and fused.accepts(policy.accept_threshold)
    if not accept and not reasons:
        reasons.append(DecisionReason.SCORE_BELOW_THRESHOLD)
    return Decision(
        Outcome.ACCEPT if accept else Outcome.REJECT,
        sorted(set(reasons)),
        face_score=scores.get(Modality.FACE),
        voice_score=scores.get(Modality.VOICE),
        fused_score=fused.score,
        challenge=analyses.heard,
        thresholds=thresholds,
        model_versions=versions,
    )
