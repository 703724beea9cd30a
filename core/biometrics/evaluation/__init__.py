"""``kibalock eval``: enrol chimeric users, score genuine and impostor trials, report error rates.

The run (see :mod:`core.biometrics.dataset` for how users and trials are formed):

1. Analyse every photo and every joined utterance once with the face and voice engines, and
   check every spoken challenge with the speech recogniser (results cached in memory).
2. Per modality, build each user's template from the enrolment samples and score every trial
   by cosine (all template rules, to compare them; the configured one is reported).
3. Calibrate held out: each trial's raw score is mapped by a logistic calibration fitted on the
   trials that share **no subject** with it — neither the claimed user's nor the probe's face
   identity (face) or speaker (voice). Fusion then combines those held-out calibrated scores
   with fixed weights, so no figure is reported on the scores its parameters were fitted on.
4. Report EER, FNMR at FMR 1e-2 / 1e-3, challenge accuracy, timings; write ``eval.json`` and a
   DET plot.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from pydantic import BaseModel, ConfigDict, Field
from rich.progress import Progress
from scipy.special import expit
from scipy.stats import norm

from core.biometrics.audio import join_clips
from core.biometrics.dataset import (
    Attempt,
    AttemptKind,
    ChimericDataset,
    DatasetConfig,
    Trial,
    TrialKind,
    load_dataset,
)
from core.biometrics.fusion import FusionConfig, FusionRule, fuse
from core.biometrics.scoring import (
    Calibration,
    ScoringConfig,
    TemplateRule,
    cllr,
    fit_calibration,
    template_score,
)
from core.biometrics.thresholds import (
    DetCurve,
    FloatArray,
    OperatingPoint,
    d_prime,
    det_curve,
    eer_point,
    fnmr_at_fmr,
    operating_point,
)
from core.biometrics.types import SampleStatus

EVAL_FILE = "eval.json"
DET_FILE = "det.png"
# Operating points reported: NIST SP 800-63B rev. 3 asks for FMR <= 1e-3.
REPORTED_FMRS = {"1e-2": 1e-2, "1e-3": 1e-3}

# --- what the engines must provide (the face / voice / challenge modules satisfy these) ---


class AnalysedSample(Protocol):
    @property
    def status(self) -> SampleStatus: ...
    @property
    def embedding(self) -> npt.NDArray[Any] | None: ...
    @property
    def model(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def timing_ms(self) -> Mapping[str, float]: ...


class AnalysedVoice(AnalysedSample, Protocol):
    @property
    def audio_16k(self) -> npt.NDArray[Any] | None: ...


class ChallengeOutcome(Protocol):
    @property
    def passed(self) -> bool: ...
    @property
    def heard(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def timing_ms(self) -> Mapping[str, float]: ...


class FaceAnalyser(Protocol):
    def analyse(self, data: bytes) -> AnalysedSample: ...


class VoiceAnalyser(Protocol):
    def analyse(self, data: bytes) -> AnalysedVoice: ...


class ChallengeVerifier(Protocol):
    def check(self, audio_16k: npt.NDArray[Any], expected: str) -> ChallengeOutcome: ...


class ModelInfo(BaseModel):
    model: str
    version: str


@dataclass(frozen=True)
class Engines:
    face: FaceAnalyser
    voice: VoiceAnalyser
    challenge: ChallengeVerifier
    asr_model: ModelInfo


def load_engines(models_dir: Path | None = None) -> Engines:
    """The production engines, reading weights from ``models_dir`` (default: configured dir)."""
    # Imported here, not at the top: they pull in dlib, torch and ctranslate2, which tests with
    # stand-in engines (and ``kibalock --help``) should not pay for.
    from core.biometrics.challenge import ChallengeChecker
    from core.biometrics.face import FaceEngine
    from core.biometrics.voice import VoiceEngine

    checker = ChallengeChecker(models_dir)
    return Engines(
        face=FaceEngine(models_dir),
        voice=VoiceEngine(models_dir),
        challenge=checker,
        asr_model=ModelInfo(model=checker.model, version=checker.version),
    )


# --- configuration and report -------------------------------------------------------------


class EvalConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    face_scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    voice_scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    # Silence between joined digit clips; below ~300 ms the recogniser runs digits together.
    silence_ms: int = Field(default=400, ge=300)


class TrialCounts(BaseModel):
    genuine: int
    impostor: int


class _RatesReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    eer: float
    eer_threshold: float
    fnmr_at_fmr_1e_3: float = Field(alias="fnmr_at_fmr_1e-3")
    threshold_at_fmr_1e_3: float = Field(alias="threshold_at_fmr_1e-3")
    operating_points: dict[str, OperatingPoint]
    trials: TrialCounts


class RuleFigures(BaseModel):
    eer: float
    d_prime: float


class ModalityReport(_RatesReport):
    """Rates on raw cosine scores (one global threshold, in cosine units)."""

    failed_to_acquire: int  # probes the engine could not use: excluded from the rates
    failed_to_enrol: int  # users without any usable enrolment sample: excluded
    template_rule: TemplateRule
    # Every rule on the same trials, to choose the configured one: EER ties at 0 on clean data,
    # so d' (the separation of the two score distributions) breaks the tie.
    template_rules: dict[str, RuleFigures]
    held_out_cllr: float
    in_sample_calibrations: int
    calibration: Calibration  # refitted on all trials: for deployment, not used for any figure


class LoginPoint(BaseModel):
    """The threshold at FMR 1e-3 over *every* impostor attempt, zero-effort and one-modality.

    A threshold set on zero-effort impostors alone is very low (their two scores are both low),
    so someone holding one of the victim's factors (a voice recording, a photo) passes it
    easily; ``fmr`` shows by how much each kind of attempt is accepted here.
    """

    threshold: float
    fnmr: float
    fmr: dict[str, float]  # by impostor attempt kind
    impostor_trials: int
    fmr_upper_95: float  # over the pooled impostor attempts


class FusionRuleFigures(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    eer: float  # genuine vs impostor_both
    fnmr_at_fmr_1e_3: float = Field(alias="fnmr_at_fmr_1e-3")
    # FMR of each kind of impostor attempt at the FMR-1e-3 threshold set on impostor_both.
    fmr_at_threshold_1e_3: dict[str, float] = Field(alias="fmr_at_threshold_1e-3")
    login: LoginPoint


class FusedReport(_RatesReport):
    """Rates on fused scores in [0, 1]: genuine attempts against zero-effort impostors."""

    rule: FusionRule
    weights: dict[str, float]
    missing_policy: str
    fmr_at_threshold_1e_3: dict[str, float] = Field(alias="fmr_at_threshold_1e-3")
    login: LoginPoint
    rules: dict[str, FusionRuleFigures]  # every rule with the same weights, to choose one
    attempts: dict[str, int]
    rejected_for_missing_modality: dict[str, int]


class ChallengeFailure(BaseModel):
    key: str
    expected: str
    heard: str
    reason: str | None


class ChallengeReport(BaseModel):
    accuracy: float
    passed: int
    trials: int
    failures: list[ChallengeFailure]


class Timing(BaseModel):
    p50: float
    p95: float
    n: int


class AcceptanceCheck(BaseModel):
    value: float
    target: float
    comparison: Literal["<=", ">="]
    met: bool


class EvalReport(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    face: ModalityReport
    voice: ModalityReport
    fused: FusedReport
    challenge: ChallengeReport
    timing_ms: dict[str, Timing]
    models: dict[str, ModelInfo]
    dataset: dict[str, Any]
    protocol: dict[str, str]
    acceptance: dict[str, AcceptanceCheck]
    det_curve_png: str
    wall_time_s: float


# Acceptance targets on the shared data set: (figure, comparison, target).
ACCEPTANCE: tuple[tuple[str, Literal["<=", ">="], float], ...] = (
    ("face.eer", "<=", 0.05),
    ("voice.eer", "<=", 0.02),
    ("fused.eer", "<=", 0.005),
    ("challenge.accuracy", ">=", 0.90),
)

PROTOCOL = {
    "users": "chimeric (face identity + speaker), see dataset.pairing",
    "per_modality": (
        "every probe against every user's template (same-speaker users excluded from voice); "
        "EER and operating points on raw cosine scores with one global threshold; failures to "
        "acquire/enrol are excluded from the rates and counted"
    ),
    "calibration": (
        "logistic (Platt) per modality, leave-two-subjects-out: each score is calibrated by a "
        "fit on the trials sharing neither its claimed nor its probe subject (face identity / "
        "speaker); a pair whose held-out set lacks a class falls back to an in-sample fit "
        "(counted in in_sample_calibrations); held_out_cllr rates it. 'calibration' is refitted "
        "on all trials for deployment and is not used for any reported figure"
    ),
    "fusion": (
        "held-out calibrated face and voice scores fused with fixed weights (nothing fitted on "
        "fused scores); attempt k of a user = challenge k + face probe k mod n_probes, so face "
        "scores repeat across attempts; EER and operating points: genuine vs impostor_both; an "
        "attempt the missing-modality policy rejects is rejected at every threshold"
    ),
    "thresholds": (
        "operating-point thresholds are set on the impostor scores they are reported on (oracle "
        "threshold, as FNMR@FMR is usually reported); FMR below 1/impostor_trials cannot be "
        "resolved: see fmr_upper_95 (95 % Clopper-Pearson bound)"
    ),
    "challenge": "genuine challenges only: the recogniser must hear exactly the digits asked",
}


# --- analysis (each media file once) --------------------------------------------------------


@dataclass
class _Analyses:
    faces: dict[str, AnalysedSample]
    voices: dict[str, AnalysedVoice]
    checks: dict[str, ChallengeOutcome | None]  # None: no usable audio to check


def _analyse(
    ds: ChimericDataset, engines: Engines, silence_ms: int, progress: Progress
) -> _Analyses:
    photos = sorted({str(p) for u in ds.users for p in (*u.face_enrol, *u.face_probes)})
    utterances = ds.utterances()
    challenges = [c for u in ds.users for c in u.challenges]

    faces: dict[str, AnalysedSample] = {}
    task = progress.add_task("faces", total=len(photos))
    for photo in photos:
        faces[photo] = engines.face.analyse(Path(photo).read_bytes())
        progress.advance(task)

    voices: dict[str, AnalysedVoice] = {}
    task = progress.add_task("voices", total=len(utterances))
    for key, utt in utterances.items():
        wav = join_clips([clip.read_bytes() for clip in utt.clips], silence_ms=silence_ms)
        voices[key] = engines.voice.analyse(wav)
        progress.advance(task)

    checks: dict[str, ChallengeOutcome | None] = {}
    task = progress.add_task("challenges", total=len(challenges))
    for utt in challenges:
        audio = voices[utt.key].audio_16k
        checks[utt.key] = None if audio is None else engines.challenge.check(audio, utt.text)
        progress.advance(task)
    return _Analyses(faces, voices, checks)


# --- scoring --------------------------------------------------------------------------------


def _template(samples: Iterable[AnalysedSample]) -> FloatArray | None:
    vectors = [s.embedding for s in samples if s.status == "ok" and s.embedding is not None]
    return np.stack(vectors).astype(np.float64) if vectors else None


def _raw_scores(
    trials: Sequence[Trial],
    probes: Mapping[str, AnalysedSample],
    templates: Sequence[FloatArray | None],
    config: ScoringConfig,
) -> FloatArray:
    """One raw score per trial; NaN where the probe or the template is unusable."""
    out = np.full(len(trials), np.nan)
    for i, trial in enumerate(trials):
        probe, template = probes[trial.probe], templates[trial.claimed]
        if probe.status == "ok" and probe.embedding is not None and template is not None:
            out[i] = template_score(probe.embedding, template, config)
    return out


def _held_out_llrs(
    raw: FloatArray, genuine: npt.NDArray[np.bool_], claimed: list[str], source: list[str]
) -> tuple[FloatArray, int]:
    """Leave-two-subjects-out calibrated LLRs (NaN stays NaN), and how many were in-sample."""
    valid = ~np.isnan(raw)
    claimed_arr, source_arr = np.array(claimed), np.array(source)
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for i, (c, s) in enumerate(zip(claimed, source, strict=True)):
        groups[frozenset((c, s))].append(i)
    in_sample_fit = fit_calibration(raw[valid & genuine], raw[valid & ~genuine])
    llrs = np.full(raw.shape, np.nan)
    in_sample = 0
    for pair, members in groups.items():
        held_out = sorted(pair)
        train = valid & ~np.isin(claimed_arr, held_out) & ~np.isin(source_arr, held_out)
        target = np.array([i for i in members if valid[i]], dtype=np.intp)
        if train[genuine].any() and train[~genuine].any():
            cal = fit_calibration(raw[train & genuine], raw[train & ~genuine])
        else:
            cal, in_sample = in_sample_fit, in_sample + target.size
        llrs[target] = cal.llrs(raw[target])
    return llrs, in_sample


def _operating_points(gen: FloatArray, imp: FloatArray) -> dict[str, OperatingPoint]:
    return {name: fnmr_at_fmr(gen, imp, fmr) for name, fmr in REPORTED_FMRS.items()}


@dataclass
class _ModalityResult:
    report: ModalityReport
    curve: DetCurve
    calibrated: dict[tuple[str, int], float | None]  # (probe, claimed) -> P(genuine) held out


def _evaluate_modality(
    name: str,
    *,
    trials: Sequence[Trial],
    probes: Mapping[str, AnalysedSample],
    enrolment: Sequence[Sequence[AnalysedSample]],
    subjects: Sequence[str],
    config: ScoringConfig,
    model: ModelInfo,
) -> _ModalityResult:
    templates = [_template(samples) for samples in enrolment]
    genuine = np.array([t.kind is TrialKind.GENUINE for t in trials])
    raw_by_rule = {
        rule: _raw_scores(trials, probes, templates, config.model_copy(update={"rule": rule}))
        for rule in TemplateRule
    }
    raw = raw_by_rule[config.rule]
    valid = ~np.isnan(raw)
    gen, imp = raw[valid & genuine], raw[valid & ~genuine]
    if gen.size == 0 or imp.size == 0:
        raise RuntimeError(f"{name}: no usable genuine or impostor trials (every sample failed?)")

    llrs, in_sample = _held_out_llrs(
        raw,
        genuine,
        [subjects[t.claimed] for t in trials],
        [subjects[t.source] for t in trials],
    )
    calibrated: dict[tuple[str, int], float | None] = {
        (t.probe, t.claimed): None if math.isnan(llr) else float(expit(llr))
        for t, llr in zip(trials, llrs, strict=True)
    }
    eer_at = eer_point(gen, imp)
    points = _operating_points(gen, imp)
    failed_probes = {t.probe for t in trials if probes[t.probe].status != "ok"}
    report = ModalityReport(
        eer=eer_at.eer,
        eer_threshold=eer_at.threshold,
        fnmr_at_fmr_1e_3=points["1e-3"].fnmr,
        threshold_at_fmr_1e_3=points["1e-3"].threshold,
        operating_points=points,
        trials=TrialCounts(genuine=gen.size, impostor=imp.size),
        failed_to_acquire=len(failed_probes),
        failed_to_enrol=sum(t is None for t in templates),
        template_rule=config.rule,
        template_rules={
            rule.value: RuleFigures(
                eer=eer_point(r[valid & genuine], r[valid & ~genuine]).eer,
                d_prime=d_prime(r[valid & genuine], r[valid & ~genuine]),
            )
            for rule, r in raw_by_rule.items()
        },
        held_out_cllr=cllr(llrs[valid & genuine], llrs[valid & ~genuine]),
        in_sample_calibrations=in_sample,
        calibration=fit_calibration(
            gen, imp, modality=name, model=model.model, version=model.version
        ),
    )
    return _ModalityResult(report, det_curve(gen, imp), calibrated)


def _fused_scores(
    attempts: Sequence[Attempt],
    face: Mapping[tuple[str, int], float | None],
    voice: Mapping[tuple[str, int], float | None],
    config: FusionConfig,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Fused score per attempt (-inf when the policy rejects it) and which were rejected."""
    scores = np.empty(len(attempts))
    rejected = np.zeros(len(attempts), dtype=bool)
    for i, a in enumerate(attempts):
        fused = fuse(
            {
                "face": face[(a.face_probe, a.claimed)],
                "voice": voice[(a.voice_probe, a.claimed)],
            },
            config,
        )
        rejected[i] = fused.score is None
        scores[i] = -math.inf if fused.score is None else fused.score
    return scores, rejected


_IMPOSTOR_KINDS = tuple(k for k in AttemptKind if k is not AttemptKind.GENUINE)


def _fusion_figures(scores: FloatArray, kinds: npt.NDArray[np.str_]) -> FusionRuleFigures:
    gen = scores[kinds == AttemptKind.GENUINE]
    zero_effort = scores[kinds == AttemptKind.IMPOSTOR_BOTH]
    every_impostor = scores[kinds != AttemptKind.GENUINE]
    point = fnmr_at_fmr(gen, zero_effort, 1e-3)
    login = fnmr_at_fmr(gen, every_impostor, 1e-3)
    return FusionRuleFigures(
        eer=eer_point(gen, zero_effort).eer,
        fnmr_at_fmr_1e_3=point.fnmr,
        fmr_at_threshold_1e_3={
            k.value: operating_point(gen, scores[kinds == k], point.threshold).fmr
            for k in _IMPOSTOR_KINDS
        },
        login=LoginPoint(
            threshold=login.threshold,
            fnmr=login.fnmr,
            fmr={
                k.value: operating_point(gen, scores[kinds == k], login.threshold).fmr
                for k in _IMPOSTOR_KINDS
            },
            impostor_trials=login.impostor_trials,
            fmr_upper_95=login.fmr_upper_95,
        ),
    )


def _evaluate_fusion(
    attempts: Sequence[Attempt],
    face: Mapping[tuple[str, int], float | None],
    voice: Mapping[tuple[str, int], float | None],
    config: FusionConfig,
) -> tuple[FusedReport, dict[str, DetCurve]]:
    """The configured rule's figures, a summary of every rule, and the configured rule's DETs."""
    kinds = np.array([a.kind.value for a in attempts])
    rules = {
        rule.value: _fusion_figures(
            _fused_scores(attempts, face, voice, config.model_copy(update={"rule": rule}))[0],
            kinds,
        )
        for rule in FusionRule
    }
    scores, rejected = _fused_scores(attempts, face, voice, config)
    gen = scores[kinds == AttemptKind.GENUINE]
    zero_effort = scores[kinds == AttemptKind.IMPOSTOR_BOTH]
    eer_at = eer_point(gen, zero_effort)
    points = _operating_points(gen, zero_effort)
    chosen = rules[config.rule.value]
    report = FusedReport(
        eer=eer_at.eer,
        eer_threshold=eer_at.threshold,
        fnmr_at_fmr_1e_3=points["1e-3"].fnmr,
        threshold_at_fmr_1e_3=points["1e-3"].threshold,
        operating_points=points,
        trials=TrialCounts(genuine=gen.size, impostor=zero_effort.size),
        rule=config.rule,
        weights=config.weights,
        missing_policy=config.missing.value,
        fmr_at_threshold_1e_3=chosen.fmr_at_threshold_1e_3,
        login=chosen.login,
        rules=rules,
        attempts={kind.value: int(np.sum(kinds == kind)) for kind in AttemptKind},
        rejected_for_missing_modality={
            kind.value: int(np.sum(rejected & (kinds == kind))) for kind in AttemptKind
        },
    )
    curves = {
        "fused": det_curve(gen, zero_effort),
        "fused, all impostor kinds": det_curve(gen, scores[kinds != AttemptKind.GENUINE]),
    }
    return report, curves


def _challenge_report(ds: ChimericDataset, analyses: _Analyses) -> ChallengeReport:
    failures: list[ChallengeFailure] = []
    challenges = [c for u in ds.users for c in u.challenges]
    for utt in challenges:
        outcome = analyses.checks[utt.key]
        if outcome is None:
            status = analyses.voices[utt.key].status
            failures.append(
                ChallengeFailure(key=utt.key, expected=utt.text, heard="", reason=status)
            )
        elif not outcome.passed:
            failures.append(
                ChallengeFailure(
                    key=utt.key, expected=utt.text, heard=outcome.heard, reason=outcome.reason
                )
            )
    passed = len(challenges) - len(failures)
    return ChallengeReport(
        accuracy=passed / len(challenges), passed=passed, trials=len(challenges), failures=failures
    )


def _timing(samples: Iterable[Mapping[str, float]]) -> Timing:
    totals = np.array([t["total"] for t in samples if "total" in t])
    if totals.size == 0:
        return Timing(p50=math.nan, p95=math.nan, n=0)
    p50, p95 = np.percentile(totals, [50, 95])
    return Timing(p50=float(p50), p95=float(p95), n=int(totals.size))


def _model_info(samples: Iterable[AnalysedSample]) -> ModelInfo:
    for s in samples:
        return ModelInfo(model=s.model, version=s.version)
    return ModelInfo(model="unknown", version="unknown")


def _acceptance(values: Mapping[str, float]) -> dict[str, AcceptanceCheck]:
    checks = {}
    for figure, comparison, target in ACCEPTANCE:
        value = values[figure]
        met = value <= target if comparison == "<=" else value >= target
        checks[figure] = AcceptanceCheck(value=value, target=target, comparison=comparison, met=met)
    return checks


# DET axes span these rates; a rate of 0 (no probit) is drawn on its own "0" line below them.
_DET_LOW, _DET_HIGH, _DET_ZERO = 5e-4, 0.6, 2e-4


def plot_det(curves: Mapping[str, DetCurve], path: Path) -> None:
    """DET curves on normal-deviate axes (the usual DET scale), as a PNG."""
    ticks = [_DET_ZERO, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    labels = ["0"] + [f"{100 * t:g}" for t in ticks[1:]]
    # The object API renders with Agg and leaves pyplot's global state (and backend) alone.
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    for i, (label, curve) in enumerate(curves.items()):
        fmr = np.clip(np.asarray(curve.fmr), _DET_ZERO, _DET_HIGH)
        fnmr = np.clip(np.asarray(curve.fnmr), _DET_ZERO, _DET_HIGH)
        fmr[np.asarray(curve.fmr) < _DET_LOW / 2] = _DET_ZERO
        fnmr[np.asarray(curve.fnmr) < _DET_LOW / 2] = _DET_ZERO
        # Later curves drawn thinner, so curves that coincide (all perfect) stay visible.
        width = 2.5 - 0.5 * i
        ax.plot(norm.ppf(fmr), norm.ppf(fnmr), label=label, linewidth=width)
    diagonal = norm.ppf([_DET_LOW, _DET_HIGH])
    ax.plot(diagonal, diagonal, "k:", linewidth=0.8, label="FMR = FNMR")
    positions = norm.ppf(ticks)
    ax.set_xticks(positions, labels)
    ax.set_yticks(positions, labels)
    limits = (norm.ppf(_DET_ZERO) - 0.15, norm.ppf(_DET_HIGH))
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)
    ax.set_xlabel("false match rate (%)")
    ax.set_ylabel("false non-match rate (%)")
    ax.set_title("KibaLock DET")
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def run_evaluation(
    data_dir: Path,
    out_dir: Path,
    config: EvalConfig | None = None,
    *,
    engines: Engines | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """Run the evaluation on ``data_dir``, write ``eval.json`` and ``det.png`` to ``out_dir``.

    Raises :class:`~core.biometrics.dataset.DatasetError` for a bad data folder and
    :class:`~core.biometrics.model_files.MissingModelError` when weights are not fetched.
    """
    started = time.perf_counter()
    config = config or EvalConfig()
    ds = load_dataset(data_dir, config.dataset)
    engines = engines or load_engines()
    with progress or Progress(disable=True) as bar:
        analyses = _analyse(ds, engines, config.silence_ms, bar)

    face_model = _model_info(s for s in analyses.faces.values() if s.status == "ok")
    voice_model = _model_info(s for s in analyses.voices.values() if s.status == "ok")
    face = _evaluate_modality(
        "face",
        trials=ds.face_trials(),
        probes=analyses.faces,
        enrolment=[[analyses.faces[str(p)] for p in u.face_enrol] for u in ds.users],
        subjects=[u.face_identity for u in ds.users],
        config=config.face_scoring,
        model=face_model,
    )
    voice = _evaluate_modality(
        "voice",
        trials=ds.voice_trials(),
        probes=analyses.voices,
        enrolment=[[analyses.voices[utt.key] for utt in u.voice_enrol] for u in ds.users],
        subjects=[u.speaker for u in ds.users],
        config=config.voice_scoring,
        model=voice_model,
    )
    fused, fused_curves = _evaluate_fusion(
        ds.attempts(), face.calibrated, voice.calibrated, config.fusion
    )
    challenge = _challenge_report(ds, analyses)

    out_dir.mkdir(parents=True, exist_ok=True)
    det_path = out_dir / DET_FILE
    curves = {"face": face.curve, "voice": voice.curve, **fused_curves}
    labelled = {f"{name} (EER {100 * c.eer_point().eer:.2f} %)": c for name, c in curves.items()}
    plot_det(labelled, det_path)
    figures = {
        "face.eer": face.report.eer,
        "voice.eer": voice.report.eer,
        "fused.eer": fused.eer,
        "challenge.accuracy": challenge.accuracy,
    }
    report = EvalReport(
        face=face.report,
        voice=voice.report,
        fused=fused,
        challenge=challenge,
        timing_ms={
            "face": _timing(s.timing_ms for s in analyses.faces.values()),
            "voice": _timing(s.timing_ms for s in analyses.voices.values()),
            "asr": _timing(c.timing_ms for c in analyses.checks.values() if c is not None),
        },
        models={"face": face_model, "voice": voice_model, "asr": engines.asr_model},
        dataset=ds.describe(),
        protocol=PROTOCOL,
        acceptance=_acceptance(figures),
        det_curve_png=str(det_path),
        wall_time_s=time.perf_counter() - started,
    )
    (out_dir / EVAL_FILE).write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report
