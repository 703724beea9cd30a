"""``kibalock eval``, the run: enrol chimeric users, score genuine and impostor trials, write files.

1. Analyse every photo and every joined utterance once with the face and voice engines, and
   check every spoken challenge with the speech recogniser (results kept in memory).
2. Score the trials of each modality, calibrate them held out and fuse them
   (:mod:`core.biometrics.evaluation.trials`; users and trials: :mod:`core.biometrics.dataset`).
3. Report EER, FNMR at FMR 1e-2 / 1e-3, challenge accuracy, timings; write ``eval.json`` and a
   DET plot.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.progress import Progress

from core.biometrics.audio import join_clips
from core.biometrics.dataset import ChimericDataset, DatasetConfig, load_dataset
from core.biometrics.evaluation import (
    AcceptanceCheck,
    ChallengeOutcome,
    Engines,
    EvalReport,
    SampleOutcome,
    VoiceOutcome,
    challenge_report,
    evaluate_fusion,
    evaluate_modality,
    load_engines,
    model_info,
    timing,
)
from core.biometrics.fusion import FusionConfig
from core.biometrics.scoring import ScoringConfig
from kibalock_cli.det_plot import plot_det

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


# Acceptance targets on the data set: (figure, comparison, target).
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


@dataclass
class _Analyses:
    faces: dict[str, SampleOutcome]
    voices: dict[str, VoiceOutcome]
    checks: dict[str, ChallengeOutcome | None]  # None: no usable audio to check


def _analyse(
    ds: ChimericDataset, engines: Engines, silence_ms: int, progress: Progress
) -> _Analyses:
    photos = sorted({str(p) for u in ds.users for p in (*u.face_enrol, *u.face_probes)})
    utterances = ds.utterances()
    challenges = [c for u in ds.users for c in u.challenges]

    faces: dict[str, SampleOutcome] = {}
    task = progress.add_task("faces", total=len(photos))
    for photo in photos:
        faces[photo] = engines.face.analyse(Path(photo).read_bytes())
        progress.advance(task)

    voices: dict[str, VoiceOutcome] = {}
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


def _acceptance(values: Mapping[str, float]) -> dict[str, AcceptanceCheck]:
    checks = {}
    for figure, comparison, target in ACCEPTANCE:
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

    face_model = model_info(s for s in analyses.faces.values() if s.status == "ok")
    voice_model = model_info(s for s in analyses.voices.values() if s.status == "ok")
    face = evaluate_modality(
        "face",
        trials=ds.face_trials(),
        probes=analyses.faces,
        enrolment=[[analyses.faces[str(p)] for p in u.face_enrol] for u in ds.users],
        subjects=[u.face_identity for u in ds.users],
        config=config.face_scoring,
        model=face_model,
    )
    voice = evaluate_modality(
        "voice",
        trials=ds.voice_trials(),
        probes=analyses.voices,
        enrolment=[[analyses.voices[utt.key] for utt in u.voice_enrol] for u in ds.users],
        subjects=[u.speaker for u in ds.users],
        config=config.voice_scoring,
        model=voice_model,
    )
    fused, fused_curves = evaluate_fusion(
        ds.attempts(), face.calibrated, voice.calibrated, config.fusion
    )
    challenge = challenge_report(
        [c for u in ds.users for c in u.challenges], analyses.checks, analyses.voices
    )

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
            "face": timing(s.timing_ms for s in analyses.faces.values()),
            "voice": timing(s.timing_ms for s in analyses.voices.values()),
            "asr": timing(c.timing_ms for c in analyses.checks.values() if c is not None),
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
