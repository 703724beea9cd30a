"""``kibalock eval``, the run: enrol chimeric users, score genuine and impostor trials, write files.

1. Analyse every photo and every joined utterance once with the face and voice engines, and
   check every spoken challenge with the speech recogniser (kept on disk with ``--cache``).
2. Score the trials of each modality, calibrate them and fuse them
   (:mod:`core.biometrics.evaluation.trials`; users and trials: :mod:`core.biometrics.dataset`).
   With ``split`` the login policy is fitted on each half of the people and measured on the
   other (:mod:`core.biometrics.evaluation.login_policy`); with a given policy, that policy
   is measured unchanged.
3. Report EER, FTA/FTE, FNMR at target FMRs with 95 % intervals, challenge accuracy, timings;
   write ``eval.json`` and a DET plot.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from rich.progress import Progress

from core.biometrics.audio import join_clips
from core.biometrics.dataset import ChimericDataset, ChimericUser, DatasetConfig, load_dataset
from core.biometrics.evaluation import (
    AcceptanceCheck,
    ChallengeOutcome,
    Engines,
    EvalReport,
    FoldReport,
    LoginPolicy,
    ModalityResult,
    ModelInfo,
    PolicyFigures,
    SampleOutcome,
    ScoredAttempts,
    VoiceOutcome,
    challenge_report,
    evaluate_fusion,
    evaluate_modality,
    fit_login_policy,
    load_engines,
    measure_login_policy,
    model_info,
    timing,
)
from core.biometrics.fusion import FusionConfig
from core.biometrics.scoring import Calibration, ScoringConfig
from core.biometrics.voice import apply_centre, fit_centre
from kibalock_cli.det_plot import plot_det
from kibalock_cli.eval_cache import AnalysisCache

T = TypeVar("T")

EVAL_FILE = "eval.json"
DET_FILE = "det.png"


class EvalConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    face_scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    voice_scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    # Silence between joined digit clips; below ~300 ms the recogniser runs digits together.
    silence_ms: int = Field(default=400, ge=300)
    # Fit the policy on one half of the people and measure it on the other (and back).
    split: bool = False
    check_challenges: bool = True
    # With --split and the production voice engine, the voice embeddings arrive uncentred and
    # each fold subtracts a centre fitted on its own fitting half only: the packaged centre
    # was fitted on data-large's speakers, and must not score speakers it has seen.
    voice_centre_per_fold: bool = False


# Acceptance targets on the data set: (figure, comparison, target).
# Targets of issue 10 (on ../shared/data-large, identity-disjoint); the fused figures are the
# worse of the two halves with --split, or the given policy's with --policy.
ACCEPTANCE: tuple[tuple[str, Literal["<=", ">="], float], ...] = (
    ("face.eer", "<=", 0.01),
    ("face.fta", "<=", 0.01),
    ("voice.eer", "<=", 0.04),
    ("fused.fnmr_at_fmr_1e-4.zero_effort", "<=", 0.03),
    ("fused.fnmr_at_fmr_1e-3.all_kinds", "<=", 0.10),
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
    "split": (
        "with --split half: users are split by speaker (alternating in sorted order), so the "
        "halves share no face identity and no speaker; on each half the calibrations, the "
        "logistic fusion, the floors and the accept threshold are fitted (targets: FMR 1e-4 "
        "zero-effort, 1e-3 per one-modality attack kind and pooled) and measured unchanged on "
        "the other half (folds[].test); the top-level face/voice/fused figures are then those "
        "of half B calibrated on half A"
    ),
    "intervals": (
        "95 % two-sided Clopper-Pearson on each count; trials sharing a subject are correlated, "
        "so the intervals understate the real uncertainty"
    ),
}


@dataclass
class _Analyses:
    faces: dict[str, SampleOutcome]
    voices: dict[str, VoiceOutcome]
    checks: dict[str, ChallengeOutcome | None]  # None: no usable audio to check


def _analyse(
    ds: ChimericDataset,
    engines: Engines,
    config: EvalConfig,
    progress: Progress,
    cache: AnalysisCache | None,
) -> _Analyses:
    photos = sorted({str(p) for u in ds.users for p in (*u.face_enrol, *u.face_probes)})
    utterances = ds.utterances()
    challenges = list({c.key: c for u in ds.users for c in u.challenges}.values())
    if not config.check_challenges:
        challenges = []
    silence_ms = config.silence_ms

    def cached(kind: str, key: bytes, compute: Callable[[], T]) -> T:
        return compute() if cache is None else cache.get_or_compute(kind, key, compute)

    faces: dict[str, SampleOutcome] = {}
    task = progress.add_task("faces", total=len(photos))
    for photo in photos:
        data = Path(photo).read_bytes()
        faces[photo] = cached("face", data, partial(engines.face.analyse, data))
        progress.advance(task)

    voices: dict[str, VoiceOutcome] = {}
    wavs: dict[str, bytes] = {}
    task = progress.add_task("voices", total=len(utterances))
    for key, utt in utterances.items():
        wav = join_clips([clip.read_bytes() for clip in utt.clips], silence_ms=silence_ms)
        wavs[key] = wav
        voices[key] = cached("voice", wav, partial(engines.voice.analyse, wav))
        progress.advance(task)

    checks: dict[str, ChallengeOutcome | None] = {}
    # Each challenge is heard in its speaker's language, as a terminal declares it.
    language_of = {c.key: u.language for u in ds.users for c in u.challenges}
    task = progress.add_task("challenges", total=len(challenges))
    for utt in challenges:
        audio = voices[utt.key].audio_16k
        language = language_of[utt.key]
        if audio is None:
            checks[utt.key] = None
        else:
            checks[utt.key] = cached(
                "challenge",
                wavs[utt.key] + utt.text.encode() + language.value.encode(),
                partial(engines.challenge.check, audio, utt.text, language),
            )
        progress.advance(task)
    return _Analyses(faces, voices, checks)


def _voice_by_user(
    ds: ChimericDataset, by_owner: Mapping[tuple[str, int], float | None]
) -> dict[tuple[str, int], float | None]:
    """Voice scores keyed by every user, from the ones keyed by its speaker's voice owner."""
    users_of: dict[int, list[int]] = {}
    for user in range(len(ds.users)):
        users_of.setdefault(ds.voice_owner(user), []).append(user)
    return {(probe, user): v for (probe, o), v in by_owner.items() for user in users_of[o]}


@dataclass
class _Scorer:
    """Scores a set of users' trials and attempts from the analyses."""

    analyses: _Analyses
    config: EvalConfig
    face_model: ModelInfo
    voice_model: ModelInfo

    def modalities(
        self, ds: ChimericDataset, calibrations: Mapping[str, Calibration] | None
    ) -> tuple[ModalityResult, ModalityResult]:
        faces, voices = self.analyses.faces, self.analyses.voices
        face = evaluate_modality(
            "face",
            trials=ds.face_trials(),
            probes=faces,
            enrolment=[[faces[str(p)] for p in u.face_enrol] for u in ds.users],
            subjects=[u.face_identity for u in ds.users],
            config=self.config.face_scoring,
            model=self.face_model,
            calibration=calibrations["face"] if calibrations else None,
        )
        voice = evaluate_modality(
            "voice",
            trials=ds.voice_trials(),
            probes=voices,
            enrolment=[[voices[utt.key] for utt in u.voice_enrol] for u in ds.users],
            subjects=[u.speaker for u in ds.users],
            config=self.config.voice_scoring,
            model=self.voice_model,
            calibration=calibrations["voice"] if calibrations else None,
        )
        return face, voice

    def attempts(
        self, ds: ChimericDataset, results: tuple[ModalityResult, ModalityResult]
    ) -> ScoredAttempts:
        face, voice = results
        attempts = ds.attempts()
        return ScoredAttempts(
            kinds=np.array([a.kind.value for a in attempts]),
            llrs={
                "face": np.array(
                    [face.llrs.get((a.face_probe, a.claimed), math.nan) for a in attempts]
                ),
                "voice": np.array(
                    [
                        voice.llrs.get((a.voice_probe, ds.voice_owner(a.claimed)), math.nan)
                        for a in attempts
                    ]
                ),
            },
        )

    def centred_on(self, fit: ChimericDataset) -> _Scorer:
        """This scorer with every voice embedding centred on ``fit``'s speakers only."""
        utterances = fit.utterances()
        speaker_of = {key: u.speaker for u in fit.users for key in _keys(u)}
        usable = [k for k in utterances if self.analyses.voices[k].embedding is not None]
        raw = np.stack([np.asarray(self.analyses.voices[k].embedding) for k in usable])
        centre = fit_centre(raw, [speaker_of[k] for k in usable])
        voices = {
            key: _with_embedding(outcome, apply_centre(np.atleast_2d(outcome.embedding), centre)[0])
            if outcome.embedding is not None
            else outcome
            for key, outcome in self.analyses.voices.items()
        }
        return replace(self, analyses=replace(self.analyses, voices=voices))

    def fold(self, fit: ChimericDataset, test: ChimericDataset) -> FoldReport:
        """Calibrations, fusion, floors and threshold fitted on ``fit``; measured on ``test``."""
        if self.config.voice_centre_per_fold:
            return self.centred_on(fit)._fold(fit, test)
        return self._fold(fit, test)

    def _fold(self, fit: ChimericDataset, test: ChimericDataset) -> FoldReport:
        # Raw scores do not depend on a calibration: any positive one gives them, then refit.
        unit = Calibration(slope=1.0, intercept=0.0, genuine_trials=1, impostor_trials=1)
        raw = self.modalities(fit, {"face": unit, "voice": unit})
        calibrations = {
            name: result.report.calibration
            for name, result in zip(("face", "voice"), raw, strict=True)
        }
        fit_scores = self.modalities(fit, calibrations)
        policy = fit_login_policy(self.attempts(fit, fit_scores), calibrations)
        test_scores = self.modalities(test, calibrations)
        face, voice = test_scores
        in_sample = measure_login_policy(self.attempts(fit, fit_scores), policy)
        held_out = measure_login_policy(self.attempts(test, test_scores), policy)
        return FoldReport(
            fitted_on=_half(fit),
            measured_on=_half(test),
            policy=policy,
            fit=in_sample,
            test=held_out,
            face=face.report,
            voice=voice.report,
            fmr_within_fit_interval=held_out.fmr["all"].rate <= in_sample.fmr["all"].ci95[1],
            fnmr_shift=held_out.fnmr.rate - in_sample.fnmr.rate,
        )


def _keys(user: ChimericUser) -> list[str]:
    return [u.key for u in (*user.voice_enrol, *user.challenges)]


def _with_embedding(outcome: VoiceOutcome, embedding: npt.NDArray[np.float32]) -> VoiceOutcome:
    if not isinstance(outcome, BaseModel):
        raise TypeError("per-fold voice centring needs the engine's pydantic samples")
    centred: VoiceOutcome = outcome.model_copy(update={"embedding": embedding})
    return centred


def _half(ds: ChimericDataset) -> dict[str, Any]:
    return {
        "fold": ds.fold,
        "identities": len(ds.users),
        "speakers": sorted({u.speaker for u in ds.users}),
    }


def _acceptance(values: Mapping[str, float]) -> dict[str, AcceptanceCheck]:
    checks = {}
    for figure, comparison, target in ACCEPTANCE:
        if figure not in values:
            continue  # figures of the fitted policy: only with --split or --policy
        value = values[figure]
        met = value <= target if comparison == "<=" else value >= target
        checks[figure] = AcceptanceCheck(value=value, target=target, comparison=comparison, met=met)
    return checks


def run_evaluation(
    data_dir: Path,
    out_dir: Path,
    config: EvalConfig | None = None,
    *,
    engines: Engines | None = None,
    progress: Progress | None = None,
    cache: AnalysisCache | None = None,
    policy: LoginPolicy | None = None,
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
        analyses = _analyse(ds, engines, config, bar, cache)

    face_model = model_info(s for s in analyses.faces.values() if s.status == "ok")
    voice_model = model_info(s for s in analyses.voices.values() if s.status == "ok")
    scorer = _Scorer(analyses, config, face_model, voice_model)
    described = ds.describe()
    folds: list[FoldReport] = []
    applied: PolicyFigures | None = None
    fitted: LoginPolicy | None = None
    if policy is not None:
        measured = scorer.modalities(ds, policy.calibrations)
        face, voice = measured
        applied = measure_login_policy(scorer.attempts(ds, measured), policy)
        fusion = policy.fusion
    elif config.split:
        halves = ds.halves()
        for fit_half, test_half in (halves, halves[::-1]):
            folds.append(scorer.fold(fit_half, test_half))
        first = folds[0]
        fitted, fusion = first.policy, first.policy.fusion
        # The top-level face, voice and fused figures are the first fold's held-out half.
        if config.voice_centre_per_fold:
            scorer = scorer.centred_on(halves[0])
        ds = halves[1]
        face, voice = scorer.modalities(ds, first.policy.calibrations)
    else:
        face, voice = scorer.modalities(ds, None)
        fusion = config.fusion
    fused, fused_curves = evaluate_fusion(
        ds.attempts(), face.calibrated, _voice_by_user(ds, voice.calibrated), fusion
    )
    # A speaker's challenges are shared by its users: each is checked and counted once.
    unique = {c.key: c for u in ds.users for c in u.challenges} if config.check_challenges else {}
    challenge = challenge_report(list(unique.values()), analyses.checks, analyses.voices)

    out_dir.mkdir(parents=True, exist_ok=True)
    det_path = out_dir / DET_FILE
    curves = {"face": face.curve, "voice": voice.curve, **fused_curves}
    labelled = {f"{name} (EER {100 * c.eer_point().eer:.2f} %)": c for name, c in curves.items()}
    plot_det(labelled, det_path)
    figures = {
        "face.eer": face.report.eer,
        "face.fta": face.report.fta.rate,
        "voice.eer": voice.report.eer,
        "challenge.accuracy": challenge.accuracy,
    }
    decisions = [f.test for f in folds] or ([applied] if applied else [])
    if decisions:
        figures["fused.fnmr_at_fmr_1e-4.zero_effort"] = max(
            d.fnmr_at_fmr_1e_4_zero_effort.fnmr for d in decisions
        )
        figures["fused.fnmr_at_fmr_1e-3.all_kinds"] = max(
            d.fnmr_at_fmr_1e_3_all_kinds.fnmr for d in decisions
        )
    report = EvalReport(
        face=face.report,
        voice=voice.report,
        fused=fused,
        challenge=challenge,
        timing_ms={
            "face": timing(s.timing_ms for s in analyses.faces.values()),
            "voice": timing(s.timing_ms for s in analyses.voices.values()),
            "asr": timing(c.timing_ms for c in analyses.checks.values() if c is not None),
        },
        models={"face": face_model, "voice": voice_model, "asr": engines.asr_model},
        dataset=described,
        protocol=PROTOCOL,
        acceptance=_acceptance(figures),
        folds=folds,
        policy=fitted,
        policy_applied=applied,
        det_curve_png=str(det_path),
        wall_time_s=time.perf_counter() - started,
    )
    (out_dir / EVAL_FILE).write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report
