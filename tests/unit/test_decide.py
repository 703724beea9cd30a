"""The gateway's decision rule on its own: every reason code, every threshold edge, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

from auth_gateway.decide import Analyses, Analysis, Decision, Embeddings, decide
from core.biometrics.fusion import FusionConfig, MissingPolicy
from core.biometrics.policy import DecisionPolicy
from core.biometrics.scoring import template_score
from core.biometrics.types import AnalysedSample, Quality, SampleStatus
from schemas import AuthAttempt, MediaRef
from schemas.auth import ChallengeCheck
from schemas.enums import DecisionReason, Outcome
from schemas.manifest import OperatingPoint, ScoreCalibration
from schemas.model_catalog import (
    FACE_EMBEDDER,
    SPEECH_RECOGNISER,
    VOICE_EMBEDDER,
    Modality,
    ModelRef,
)

R = DecisionReason
RNG = np.random.default_rng(7)
FACE_TEMPLATE = RNG.standard_normal((3, 128)).astype(np.float32)
VOICE_TEMPLATE = RNG.standard_normal((3, 256)).astype(np.float32)
HEARD = ChallengeCheck(expected="471", heard="471", passed=True)
RECOGNISER = ModelRef(name=SPEECH_RECOGNISER, version="1.0.0")


def _ref(kind: str) -> MediaRef:
    return MediaRef.of(
        "samples", f"u1/a1/{kind}", sha256="0" * 64, content_type="x/y", size_bytes=1
    )


def _attempt(*, face: bool = True, voice: bool = True, challenge: bool = True) -> AuthAttempt:
    return AuthAttempt(
        producer="tests",
        attempt_id="a1",
        terminal_id="t1",
        user_id="u1",
        challenge_id="c1" if challenge else None,
        face=_ref("face") if face else None,
        voice=_ref("voice") if voice else None,
    )


def _policy(accept: float = 0.5, missing: MissingPolicy = MissingPolicy.REJECT) -> DecisionPolicy:
    return DecisionPolicy(
        fusion=FusionConfig(missing=missing),
        accept_threshold=accept,
        target_fmr=1e-3,
        base_operating_points={},
        source="unit tests",
    )


def _sample(
    model: str,
    probe: Embeddings,
    *,
    status: SampleStatus = SampleStatus.OK,
    quality: float = 0.9,
    version: str = "1.0.0",
) -> AnalysedSample:
    return AnalysedSample(
        status=status,
        embedding=probe if status is SampleStatus.OK else None,
        base_embedding=probe if status is SampleStatus.OK else None,
        quality=Quality(score=quality),
        model=model,
        version=version,
        preprocessing="unit-tests",
    )


def _point(
    model: str,
    probe: Embeddings,
    template: Embeddings,
    *,
    at: float,
    threshold: float,
    version: str = "1.0.0",
) -> OperatingPoint:
    """An operating point whose calibration maps this probe's raw score to exactly ``at``."""
    raw = template_score(probe, template)
    slope = 10.0
    intercept = math.log(at / (1.0 - at)) - slope * raw
    return OperatingPoint(
        model=ModelRef(name=model, version=version),
        calibration=ScoreCalibration(
            slope=slope, intercept=intercept, genuine_trials=10, impostor_trials=10
        ),
        threshold=threshold,
        fitted_on="unit tests",
    )


def _genuine(modality: Modality) -> Embeddings:
    template = FACE_TEMPLATE if modality is Modality.FACE else VOICE_TEMPLATE
    noise = 0.05 * RNG.standard_normal(template.shape[1])
    return np.asarray(template.mean(axis=0) + noise, dtype=np.float32)


def _analysis(
    modality: Modality,
    *,
    at: float = 0.9,
    threshold: float = 0.5,
    point: bool = True,
    point_version: str = "1.0.0",
    **sample: object,
) -> Analysis:
    model = FACE_EMBEDDER if modality is Modality.FACE else VOICE_EMBEDDER
    template = FACE_TEMPLATE if modality is Modality.FACE else VOICE_TEMPLATE
    probe = _genuine(modality)
    made = _sample(model, probe, **sample)  # type: ignore[arg-type]
    op = _point(model, probe, template, at=at, threshold=threshold, version=point_version)
    return Analysis(made, op if point else None)


def _both(**face: object) -> Analyses:
    return Analyses(
        face=_analysis(Modality.FACE, **face),  # type: ignore[arg-type]
        voice=_analysis(Modality.VOICE),
        heard=HEARD,
        recogniser=RECOGNISER,
    )


TEMPLATES: Mapping[Modality, Embeddings | None] = {
    Modality.FACE: FACE_TEMPLATE,
    Modality.VOICE: VOICE_TEMPLATE,
}


def _decide(
    analyses: Analyses,
    *,
    attempt: AuthAttempt | None = None,
    templates: Mapping[Modality, Embeddings | None] = TEMPLATES,
    policy: DecisionPolicy | None = None,
) -> Decision:
    return decide(attempt or _attempt(), analyses, templates, policy or _policy())


def test_a_genuine_attempt_is_accepted_with_its_figures() -> None:
    decision = _decide(_both())
    assert decision.outcome is Outcome.ACCEPT and decision.reasons == []
    assert decision.face_score is not None and decision.voice_score is not None
    assert decision.face_score.calibrated == pytest.approx(0.9)
    assert decision.fused_score == pytest.approx(0.9)
    assert decision.model_versions == {
        FACE_EMBEDDER: "1.0.0",
        VOICE_EMBEDDER: "1.0.0",
        SPEECH_RECOGNISER: "1.0.0",
    }
    assert decision.thresholds["fused_accept"] == 0.5
    assert decision.thresholds["face_match"] == 0.5
    assert decision.challenge == HEARD


# One case per reason code: (what happened, expected outcome, expected reasons).
CASES: dict[str, tuple[Decision, Outcome, list[DecisionReason]]] = {}


def _case(name: str, decision: Decision, outcome: Outcome, reasons: list[DecisionReason]) -> None:
    CASES[name] = (decision, outcome, reasons)


_case("locked", _decide(Analyses(locked=True)), Outcome.REJECT, [R.LOCKED])
_case(
    "challenge_missing",
    _decide(Analyses(), attempt=_attempt(challenge=False)),
    Outcome.REJECT,
    [R.CHALLENGE_MISSING],
)
for _reason in (
    R.CHALLENGE_UNKNOWN,
    R.CHALLENGE_EXPIRED,
    R.CHALLENGE_REUSED,
):
    _case(_reason.value, _decide(Analyses(challenge=_reason)), Outcome.REJECT, [_reason])
for _reason in (
    R.MISSING_OBJECT,
    R.CHECKSUM_MISMATCH,
    R.OBJECT_STORE_ERROR,
    R.REPLAY,
):
    _case(_reason.value, _decide(Analyses(media=frozenset({_reason}))), Outcome.REJECT, [_reason])
_case(
    "invalid_media",
    _decide(_both(status=SampleStatus.INVALID_MEDIA)),
    Outcome.REJECT,
    [R.INVALID_MEDIA],
)
_case("no_face", _decide(_both(status=SampleStatus.NO_FACE)), Outcome.RETRY, [R.NO_FACE])
_case(
    "no_speech",
    _decide(
        Analyses(
            face=_analysis(Modality.FACE),
            voice=_analysis(Modality.VOICE, status=SampleStatus.NO_SPEECH),
        )
    ),
    Outcome.RETRY,
    [R.NO_SPEECH],
)
_case("low_quality", _decide(_both(quality=0.1)), Outcome.RETRY, [R.LOW_QUALITY])
_case(
    "challenge_mismatch",
    _decide(
        Analyses(
            face=_analysis(Modality.FACE),
            voice=_analysis(Modality.VOICE),
            heard=ChallengeCheck(expected="471", heard="47", passed=False),
            recogniser=RECOGNISER,
        )
    ),
    Outcome.REJECT,
    [R.CHALLENGE_MISMATCH],
)
_case(
    "not_enrolled",
    _decide(_both(), templates={Modality.FACE: None, Modality.VOICE: VOICE_TEMPLATE}),
    Outcome.REJECT,
    [R.NOT_ENROLLED],
)
_case("uncalibrated_model", _decide(_both(point=False)), Outcome.REJECT, [R.UNCALIBRATED_MODEL])
_case("face_mismatch", _decide(_both(at=0.2)), Outcome.REJECT, [R.FACE_MISMATCH])
_case(
    "voice_mismatch",
    _decide(
        Analyses(
            face=_analysis(Modality.FACE),
            voice=_analysis(Modality.VOICE, at=0.3),
            heard=HEARD,
        )
    ),
    Outcome.REJECT,
    [R.VOICE_MISMATCH],
)
_case(
    "missing_modality",
    _decide(Analyses(face=_analysis(Modality.FACE)), attempt=_attempt(voice=False)),
    Outcome.REJECT,
    [R.MISSING_MODALITY],
)
_case(
    "score_below_threshold",
    _decide(_both(at=0.6), policy=_policy(accept=0.8)),
    Outcome.REJECT,
    [R.SCORE_BELOW_THRESHOLD],
)
# An issued challenge answered from another user's terminal: redeemed with this reason.
_case(
    "challenge_issued_elsewhere",
    _decide(Analyses(challenge=R.CHALLENGE_MISMATCH)),
    Outcome.REJECT,
    [R.CHALLENGE_MISMATCH],
)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_reason_code(name: str) -> None:
    decision, outcome, reasons = CASES[name]
    assert (decision.outcome, decision.reasons) == (outcome, reasons)


def test_the_cases_cover_every_reason_code() -> None:
    produced = {reason for decision, _, _ in CASES.values() for reason in decision.reasons}
    assert produced == set(DecisionReason), set(DecisionReason) - produced


def test_earlier_checks_win_and_later_facts_are_not_judged() -> None:
    decision = _decide(
        Analyses(locked=True, challenge=R.CHALLENGE_REUSED, media=frozenset({R.REPLAY}))
    )
    assert decision.reasons == [R.LOCKED]
    assert decision.fused_score is None and decision.model_versions == {}


def test_hard_failures_outrank_retries() -> None:
    decision = _decide(
        Analyses(
            face=_analysis(Modality.FACE, status=SampleStatus.NO_FACE),
            voice=_analysis(Modality.VOICE, status=SampleStatus.INVALID_MEDIA),
        )
    )
    assert decision.outcome is Outcome.REJECT
    assert decision.reasons == [R.INVALID_MEDIA, R.NO_FACE]


def test_quality_exactly_at_the_minimum_is_judged() -> None:
    minimum = _policy().min_quality["face"]
    assert _decide(_both(quality=minimum)).outcome is Outcome.ACCEPT
    below = math.nextafter(minimum, 0.0)
    assert _decide(_both(quality=below)).reasons == [R.LOW_QUALITY]


def test_match_threshold_edge() -> None:
    # Calibrated exactly 0.5 against a threshold of 0.5 matches; a hair above does not.
    at_threshold = _decide(_both(at=0.5, threshold=0.5), policy=_policy(accept=0.1))
    assert at_threshold.outcome is Outcome.ACCEPT, at_threshold.reasons
    above = _decide(_both(at=0.5, threshold=math.nextafter(0.5, 1.0)), policy=_policy(accept=0.1))
    assert above.reasons == [R.FACE_MISMATCH]


def test_fused_threshold_edge() -> None:
    decision = _decide(_both(at=0.9))
    assert decision.fused_score is not None
    exactly = _decide(_both(at=0.9), policy=_policy(accept=decision.fused_score))
    assert exactly.outcome is Outcome.ACCEPT
    higher = _decide(_both(at=0.9), policy=_policy(accept=math.nextafter(decision.fused_score, 1)))
    assert higher.reasons == [R.SCORE_BELOW_THRESHOLD]


def test_a_version_is_read_only_with_its_own_operating_point() -> None:
    # The sample came from 1.1.0, the operating point was fitted for 1.0.0.
    foreign = Analysis(
        _sample(FACE_EMBEDDER, _genuine(Modality.FACE), version="1.1.0"),
        _point(FACE_EMBEDDER, _genuine(Modality.FACE), FACE_TEMPLATE, at=0.9, threshold=0.5),
    )
    decision = _decide(Analyses(face=foreign, voice=_analysis(Modality.VOICE), heard=HEARD))
    assert decision.reasons == [R.UNCALIBRATED_MODEL]
    assert decision.face_score is not None and decision.face_score.calibrated is None
    assert decision.model_versions[FACE_EMBEDDER] == "1.1.0"


def test_one_factor_may_carry_the_login_when_the_policy_allows_it() -> None:
    # decide() follows its policy; the gateway never loads one that allows this
    # (tests/security/test_policy_integrity.py).
    decision = _decide(
        Analyses(face=_analysis(Modality.FACE)),
        attempt=_attempt(voice=False),
        policy=_policy(missing=MissingPolicy.FUSE_PRESENT),
    )
    assert decision.outcome is Outcome.ACCEPT
    assert decision.voice_score is None


def _echoing(face: float, voice: float | None = None) -> Analyses:
    echo = {Modality.FACE: face} | ({} if voice is None else {Modality.VOICE: voice})
    return Analyses(
        face=_analysis(Modality.FACE),
        voice=_analysis(Modality.VOICE),
        heard=HEARD,
        recogniser=RECOGNISER,
        echo=echo,
    )


def test_a_probe_nearly_identical_to_a_known_capture_is_a_replay() -> None:
    policy = _policy()
    at = policy.replay_cosine["face"]
    assert policy.replay_cosine["voice"] == at
    assert _decide(_echoing(at)).reasons == [R.REPLAY]
    assert _decide(_echoing(0.5, voice=at)).reasons == [R.REPLAY]
    below = _decide(_echoing(at - 1e-6, voice=at - 1e-6))
    assert below.outcome is Outcome.ACCEPT and below.reasons == []


def test_the_replay_threshold_is_the_policys() -> None:
    strict = _policy().model_copy(update={"replay_cosine": {"face": 0.9, "voice": 0.99}})
    assert _decide(_echoing(0.95), policy=strict).reasons == [R.REPLAY]
    assert _decide(_echoing(0.5, voice=0.95), policy=strict).outcome is Outcome.ACCEPT
    assert _decide(_echoing(0.95)).outcome is Outcome.ACCEPT


def test_a_replay_outranks_a_failed_capture() -> None:
    echoed = Analyses(
        face=_analysis(Modality.FACE, status=SampleStatus.NO_FACE),
        voice=_analysis(Modality.VOICE),
        echo={Modality.VOICE: 1.0},
    )
    assert _decide(echoed).reasons == [R.REPLAY]


class FixedPersonal:
    """A personal model whose raw score is set by the test."""

    version = "1.1.0"

    def __init__(self, raw: float) -> None:
        self.raw = raw

    def score(self, embedding: Embeddings) -> float:
        return self.raw


def test_a_personal_model_may_raise_the_raw_score_never_lower_it() -> None:
    analyses = _both()
    plain = _decide(analyses)
    assert plain.voice_score is not None
    higher = decide(
        _attempt(), analyses, TEMPLATES, _policy(), {Modality.VOICE: FixedPersonal(0.999)}
    )
    assert higher.voice_score is not None and higher.voice_score.raw == pytest.approx(0.999)
    assert higher.voice_score.calibrated is not None and plain.voice_score.calibrated is not None
    assert higher.voice_score.calibrated > plain.voice_score.calibrated
    assert higher.model_versions[f"{VOICE_EMBEDDER}-personal"] == "1.1.0"
    lower = decide(_attempt(), analyses, TEMPLATES, _policy(), {Modality.VOICE: FixedPersonal(-1)})
    assert lower.voice_score == plain.voice_score
    assert lower.model_versions[f"{VOICE_EMBEDDER}-personal"] == "1.1.0"
