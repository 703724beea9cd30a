"""The decision policy: calibrations, fusion and the acceptance threshold, per model versions.

The default policy ships as ``default_policy.json``, written by
``kibalock eval --policy-out auth_gateway/default_policy.json`` on the shared data set: the
calibration of each modality and the fused threshold for the target FMR. A model version
published by LifeModo carries its own calibration in its manifest (model registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.biometrics.fusion import FusionConfig
from core.biometrics.scoring import Calibration, ScoringConfig

DEFAULT_POLICY = Path(__file__).with_name("default_policy.json")


class DecisionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    calibrations: dict[str, Calibration]
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    accept_threshold: float = Field(gt=0.0, lt=1.0, description="on the fused score")
    target_fmr: float = Field(gt=0.0, lt=1.0)
    # Below these qualities a sample is not judged: the user is asked to try again.
    min_quality: dict[str, float] = Field(default_factory=lambda: {"face": 0.2, "voice": 0.2})
    source: str = Field(description="how the figures were obtained, for audits")


def load_policy(path: Path = DEFAULT_POLICY) -> DecisionPolicy:
    return DecisionPolicy.model_validate_json(path.read_text())


def policy_from_eval(report: dict[str, Any], *, source: str) -> DecisionPolicy:
    """The policy an ``eval.json`` supports: its calibrations and its login threshold.

    The threshold is the fused score at FMR 1e-3 over *every* kind of impostor attempt
    (zero-effort and one-modality), the figure a login gate must hold.
    """
    fused = report["fused"]
    return DecisionPolicy(
        calibrations={
            m: Calibration.model_validate(report[m]["calibration"]) for m in ("face", "voice")
        },
        fusion=FusionConfig(
            rule=fused["rule"], weights=fused["weights"], missing=fused["missing_policy"]
        ),
        accept_threshold=fused["login"]["threshold"],
        target_fmr=1e-3,
        source=source,
    )
