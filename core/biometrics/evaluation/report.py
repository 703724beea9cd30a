"""The figures ``kibalock eval`` reports, as the models ``eval.json`` is written from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.biometrics.evaluation.engines import ModelInfo
from core.biometrics.evaluation.login_policy import LoginPolicy, PolicyFigures
from core.biometrics.fusion import FusionRule
from core.biometrics.scoring import Calibration, TemplateRule
from core.biometrics.thresholds import OperatingPoint, Rate


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
    fta: Rate  # failed_to_acquire over the distinct probes
    fte: Rate  # failed_to_enrol over the templates
    eer_ci95: tuple[float, float]  # at the EER, over the genuine and impostor trials
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


class FoldReport(BaseModel):
    """A policy fitted on one half of the people, measured unchanged on the other half."""

    fitted_on: dict[str, Any]
    measured_on: dict[str, Any]
    policy: LoginPolicy
    fit: PolicyFigures  # in-sample, on the half it was fitted on
    test: PolicyFigures  # held out: people the policy has never seen
    face: ModalityReport  # on the held-out half, calibrated by the fitted half's calibration
    voice: ModalityReport
    # Does the policy hold on unseen people: the held-out FMR (every kind pooled) inside the
    # fitted half's 95 % interval, and the FNMR shift (held out minus fitted; target: 2 points).
    fmr_within_fit_interval: bool
    fnmr_shift: float


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
    folds: list[FoldReport] = Field(default_factory=list)
    policy: LoginPolicy | None = None  # fitted on the first half (--split)
    policy_applied: PolicyFigures | None = None  # the given policy's decisions (--policy)
