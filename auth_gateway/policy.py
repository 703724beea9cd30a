"""The decision policy: how samples are compared, fused and accepted.

Calibrations are *not* here: each model version brings its own operating point (calibration and
mismatch threshold) in its signed manifest, and the verifier scores a version only with that.
The one exception is the packaged base models (``1.0.0``), which have no manifest: their
operating points ship in ``default_policy.json``, written by ``kibalock gateway policy`` from
a ``kibalock eval`` report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.biometrics.fusion import FusionConfig
from core.biometrics.scoring import ScoringConfig
from schemas.manifest import OperatingPoint, ScoreCalibration
from schemas.model_catalog import BASE_VERSION, ModelRef, embedder_for

DEFAULT_POLICY = Path(__file__).with_name("default_policy.json")
# A calibrated score is P(genuine) at equal priors: below even odds a factor is a mismatch.
DEFAULT_MATCH_THRESHOLD = 0.5


class DecisionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    accept_threshold: float = Field(gt=0.0, lt=1.0, description="on the fused score")
    target_fmr: float = Field(gt=0.0, lt=1.0)
    # Below these qualities a sample is not judged: the user is asked to try again.
    min_quality: dict[str, float] = Field(default_factory=lambda: {"face": 0.2, "voice": 0.2})
    base_operating_points: dict[str, OperatingPoint] = Field(
        description="the packaged models' operating points, by name@version"
    )
    source: str = Field(description="how the figures were obtained, for audits")


def load_policy(path: Path = DEFAULT_POLICY) -> DecisionPolicy:
    return DecisionPolicy.model_validate_json(path.read_text())


def policy_from_eval(report: dict[str, Any], *, source: str) -> DecisionPolicy:
    """The policy an ``eval.json`` supports: its calibrations and its login threshold.

    The threshold is the fused score at FMR 1e-3 over *every* kind of impostor attempt
    (zero-effort and one-modality), the figure a login gate must hold.
    """
    fused = report["fused"]
    points = {}
    for modality in ("face", "voice"):
        ref = ModelRef(name=embedder_for(modality).name, version=BASE_VERSION)
        fitted = report[modality]["calibration"]
        points[str(ref)] = OperatingPoint(
            model=ref,
            calibration=ScoreCalibration(
                slope=fitted["slope"],
                intercept=fitted["intercept"],
                genuine_trials=fitted["genuine_trials"],
                impostor_trials=fitted["impostor_trials"],
            ),
            threshold=DEFAULT_MATCH_THRESHOLD,
            fitted_on=source,
        )
    return DecisionPolicy(
        fusion=FusionConfig(
            rule=fused["rule"], weights=fused["weights"], missing=fused["missing_policy"]
        ),
        accept_threshold=fused["login"]["threshold"],
        target_fmr=1e-3,
        base_operating_points=points,
        source=source,
    )
