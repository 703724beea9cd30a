"""The decision policy: how samples are compared, fused and accepted.

Calibrations are *not* here: each model version brings its own operating point (calibration and
mismatch threshold) in its signed manifest, and the verifier scores a version only with that.
The one exception is the packaged base models (``1.0.0``), which have no manifest: their
operating points ship in ``default_policy.json``, written by ``kibalock gateway policy`` from
a ``kibalock eval`` report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.biometrics.echo import DEFAULT_ECHO_COSINES
from core.biometrics.fusion import FusionConfig, MissingPolicy
from core.biometrics.scoring import ScoringConfig
from schemas.manifest import OperatingPoint, ScoreCalibration
from schemas.model_catalog import BASE_VERSION, Modality, ModelRef, embedder_for

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
    # A probe this close (cosine of base embeddings) to a known capture of the user is a
    # replay of it (core/biometrics/echo.py says how the value was measured).
    replay_cosine: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_ECHO_COSINES))
    base_operating_points: dict[str, OperatingPoint] = Field(
        description="the packaged models' operating points, by name@version"
    )
    source: str = Field(description="how the figures were obtained, for audits")


class PolicyError(ValueError):
    """A policy file that cannot decide logins safely; the message names every problem."""


def policy_problems(policy: DecisionPolicy) -> list[str]:
    """What makes ``policy`` unfit to decide logins (empty: nothing).

    The checks the model's fields cannot make alone: every per-modality table names exactly
    the modalities (a gap would fail every attempt, an extra name hides a typo), the packaged
    models each have their operating point, and the figures leave the login two factors, a
    challenge and a replay check.
    """
    problems = []
    modalities = sorted(m.value for m in Modality)
    tables = {
        "fusion.weights": policy.fusion.weights,
        "min_quality": policy.min_quality,
        "replay_cosine": policy.replay_cosine,
    }
    for name, table in tables.items():
        if sorted(table) != modalities:
            problems.append(f"{name} names {sorted(table)}, not the modalities {modalities}")
    expected = sorted(
        str(ModelRef(name=embedder_for(m).name, version=BASE_VERSION)) for m in Modality
    )
    if sorted(policy.base_operating_points) != expected:
        problems.append(
            f"base_operating_points names {sorted(policy.base_operating_points)}, "
            f"not the packaged models {expected}"
        )
    for key, point in policy.base_operating_points.items():
        if key != str(point.model):
            problems.append(f"the operating point under {key} was fitted for {point.model}")
    if policy.fusion.missing is not MissingPolicy.REJECT:
        # The challenge is spoken: a login without the voice would also be one without it.
        problems.append("fusion.missing must be reject: a login needs both factors")
    if not math.isfinite(policy.fusion.bias):
        problems.append("fusion.bias must be finite")
    if policy.accept_threshold < DEFAULT_MATCH_THRESHOLD:
        problems.append(
            f"accept_threshold {policy.accept_threshold} accepts fused scores below even odds"
            f" ({DEFAULT_MATCH_THRESHOLD})"
        )
    for modality, quality in policy.min_quality.items():
        if not 0.0 <= quality < 1.0:
            problems.append(f"min_quality {modality} {quality} is not in [0, 1)")
    for modality, cosine in policy.replay_cosine.items():
        if not 0.0 < cosine <= 1.0:
            problems.append(
                f"replay_cosine {modality} {cosine} is not in (0, 1]: no probe would be a replay"
            )
    return problems


def load_policy(path: Path = DEFAULT_POLICY) -> DecisionPolicy:
    """The policy in ``path``; raises :class:`PolicyError` if it cannot decide logins."""
    try:
        policy = DecisionPolicy.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    problems = policy_problems(policy)
    if problems:
        raise PolicyError(f"{path} cannot decide logins: {'; '.join(problems)}")
    return policy


def policy_from_eval(report: dict[str, Any], *, source: str) -> DecisionPolicy:
    """The policy an ``eval.json`` supports.

    From ``kibalock eval --split half``: the policy fitted on the first half (calibrations,
    logistic fusion, per-modality floors as the mismatch thresholds, accept threshold), with
    what it was fitted on and how it held on the other half in ``source``. From an eval without
    folds: its calibrations, the configured fusion, even-odds floors and the fused threshold at
    FMR 1e-3 over every kind of impostor attempt.
    """
    fitted = report.get("policy")
    if fitted is not None:
        return _fitted_policy(report, fitted, source)
    fused = report["fused"]
    calibrations = {m: report[m]["calibration"] for m in ("face", "voice")}
    floors = dict.fromkeys(calibrations, DEFAULT_MATCH_THRESHOLD)
    return DecisionPolicy(
        fusion=FusionConfig(
            rule=fused["rule"], weights=fused["weights"], missing=fused["missing_policy"]
        ),
        accept_threshold=fused["login"]["threshold"],
        target_fmr=1e-3,
        base_operating_points=_points(calibrations, floors, source),
        source=source,
    )


def _points(
    calibrations: dict[str, dict[str, Any]], floors: dict[str, float], fitted_on: str
) -> dict[str, OperatingPoint]:
    points = {}
    for modality, fitted in calibrations.items():
        ref = ModelRef(name=embedder_for(modality).name, version=BASE_VERSION)
        points[str(ref)] = OperatingPoint(
            model=ref,
            calibration=ScoreCalibration(
                slope=fitted["slope"],
                intercept=fitted["intercept"],
                genuine_trials=fitted["genuine_trials"],
                impostor_trials=fitted["impostor_trials"],
            ),
            threshold=floors[modality],
            fitted_on=fitted_on,
        )
    return points


def _rate(rate: dict[str, Any]) -> str:
    low, high = rate["ci95"]
    return (
        f"{100 * rate['rate']:.2f} % ({rate['errors']}/{rate['trials']}, "
        f"95 % CI {100 * low:.2f}-{100 * high:.2f} %)"
    )


def _fitted_policy(report: dict[str, Any], fitted: dict[str, Any], source: str) -> DecisionPolicy:
    fold = report["folds"][0]
    fit, test = fold["fit"], fold["test"]
    fitted_on = (
        f"{source}; fitted on half {fold['fitted_on']['fold']} "
        f"({fold['fitted_on']['identities']} identities, "
        f"{len(fold['fitted_on']['speakers'])} speakers): FNMR {_rate(fit['fnmr'])}, "
        f"FMR all kinds {_rate(fit['fmr']['all'])}; measured unchanged on half "
        f"{fold['measured_on']['fold']} ({fold['measured_on']['identities']} identities): "
        f"FNMR {_rate(test['fnmr'])}, FMR zero-effort {_rate(test['fmr']['impostor_both'])}, "
        f"FMR all kinds {_rate(test['fmr']['all'])}"
    )
    return DecisionPolicy(
        fusion=FusionConfig.model_validate(fitted["fusion"]),
        accept_threshold=fitted["accept_threshold"],
        target_fmr=fitted["target_fmrs"].get("all", 1e-3),
        base_operating_points=_points(fitted["calibrations"], fitted["floors"], fitted_on),
        source=fitted_on,
    )
