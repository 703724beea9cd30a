"""Offline evaluation of the engines on genuine and impostor trials.

- :mod:`core.biometrics.evaluation.engines`: what the evaluation needs from the engines;
- :mod:`core.biometrics.evaluation.trials`: per-modality scoring with held-out calibration,
  fusion, the spoken-challenge check;
- :mod:`core.biometrics.evaluation.report`: the figures, as the models ``eval.json`` is
  written from.

``kibalock eval`` (:mod:`kibalock_cli.eval_run`) runs them on chimeric users of a data folder.
"""

from core.biometrics.evaluation.engines import (
    ChallengeOutcome,
    ChallengeVerifier,
    Engines,
    FaceAnalyser,
    ModelInfo,
    SampleOutcome,
    VoiceAnalyser,
    VoiceOutcome,
    load_engines,
)
from core.biometrics.evaluation.login_policy import (
    LoginPolicy,
    PolicyFigures,
    ScoredAttempts,
    fit_login_policy,
    measure_login_policy,
)
from core.biometrics.evaluation.report import (
    AcceptanceCheck,
    ChallengeReport,
    EvalReport,
    FoldReport,
    FusedReport,
    ModalityReport,
    Timing,
)
from core.biometrics.evaluation.trials import (
    REPORTED_FMRS,
    ModalityResult,
    challenge_report,
    evaluate_fusion,
    evaluate_modality,
    model_info,
    timing,
)

__all__ = [
    "REPORTED_FMRS",
    "AcceptanceCheck",
    "ChallengeOutcome",
    "ChallengeReport",
    "ChallengeVerifier",
    "Engines",
    "EvalReport",
    "FaceAnalyser",
    "FoldReport",
    "FusedReport",
    "LoginPolicy",
    "ModalityReport",
    "ModalityResult",
    "ModelInfo",
    "PolicyFigures",
    "SampleOutcome",
    "ScoredAttempts",
    "Timing",
    "VoiceAnalyser",
    "VoiceOutcome",
    "challenge_report",
    "evaluate_fusion",
    "evaluate_modality",
    "fit_login_policy",
    "load_engines",
    "measure_login_policy",
    "model_info",
    "timing",
]
