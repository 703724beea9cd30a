"""Score-level fusion of calibrated per-modality scores (face, voice) into one score in [0, 1].

Inputs are :class:`~core.biometrics.scoring.Calibration` outputs: posteriors of "genuine" at
equal priors, one per modality. Three rules:

- ``weighted_sum``: ``Σ w·p / Σ w`` over the modalities present — simple, bounded, robust to
  one over-confident modality.
- ``product``: the weighted geometric mean ``Π p^(w/Σw)`` — one very low score vetoes.
- ``llr_sum``: ``sigmoid(Σ w·logit(p))`` — with weights 1 this is the Bayes-optimal combination
  of independent modalities (naive Bayes on the likelihood ratios). Weights are *not*
  normalised here: a missing modality simply contributes no evidence (LR = 1).
- ``logistic``: ``sigmoid(bias + Σ w·logit(p))`` with weights and bias *fitted* by logistic
  regression on genuine and impostor LLRs (:func:`fit_logistic_fusion`): calibrated
  log-likelihood-ratio fusion. Its output is itself a calibrated posterior at equal priors.

The default is ``product``. On the small data set all three rules separate genuine users from
zero-effort impostors (another person's face *and* voice), but they differ on an attacker who
holds one of the victim's factors (a voice recording, a photo): with the threshold set at FMR
1e-3 over every kind of impostor attempt, ``product`` and ``weighted_sum`` still accept no
genuine user less, while ``llr_sum`` — optimal for independent zero-effort evidence — lets one
near-certain modality outvote the other and loses 20 % of genuine users (``kibalock eval``
reports this per rule under ``fused.rules``). The geometric mean is the "both factors
required" rule: a very low score in either modality vetoes.

A missing or unusable modality is explicit: :class:`MissingPolicy` either rejects the attempt
(the login default: both factors are required) or fuses what is present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy.optimize import minimize
from scipy.special import expit, log_expit

# Log-odds are clipped to ±30 (odds of 1e13), so one saturated modality cannot produce an
# infinite LLR, which would silence the other modality entirely.
_MAX_LLR = 30.0


class FusionRule(StrEnum):
    WEIGHTED_SUM = "weighted_sum"
    PRODUCT = "product"
    LLR_SUM = "llr_sum"
    LOGISTIC = "logistic"


class MissingPolicy(StrEnum):
    REJECT = "reject"  # no fused score: the attempt is rejected with a reason
    FUSE_PRESENT = "fuse_present"  # fuse the modalities that are present (at least one)


class FusionConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: FusionRule = FusionRule.PRODUCT
    weights: dict[str, float] = Field(default_factory=lambda: {"face": 1.0, "voice": 1.0})
    missing: MissingPolicy = MissingPolicy.REJECT
    bias: float = Field(default=0.0, description="added to the fused LLR (logistic rule only)")

    @field_validator("weights")
    @classmethod
    def _positive(cls, weights: dict[str, float]) -> dict[str, float]:
        if not weights:
            raise ValueError("at least one modality weight is needed")
        if any(not (w > 0 and math.isfinite(w)) for w in weights.values()):
            raise ValueError("modality weights must be positive and finite")
        return weights


class FusedScore(BaseModel):
    """The fused score, or ``None`` with the reason when the policy refuses to fuse."""

    model_config = ConfigDict(frozen=True)

    score: float | None
    rule: FusionRule
    used: tuple[str, ...]
    missing: tuple[str, ...]
    reason: str | None = None

    def accepts(self, threshold: float) -> bool:
        return self.score is not None and self.score >= threshold


def _logit(p: float) -> float:
    if p <= 0.0:
        return -_MAX_LLR
    if p >= 1.0:
        return _MAX_LLR
    return min(max(math.log(p) - math.log1p(-p), -_MAX_LLR), _MAX_LLR)


def _combine(
    rule: FusionRule, scores: Mapping[str, float], weights: Mapping[str, float], bias: float
) -> float:
    total = sum(weights[m] for m in scores)
    if rule is FusionRule.WEIGHTED_SUM:
        return sum(weights[m] * p for m, p in scores.items()) / total
    if rule is FusionRule.PRODUCT:
        if any(p == 0.0 for p in scores.values()):
            return 0.0  # a zero vetoes, as in any product
        return math.exp(sum(weights[m] / total * math.log(p) for m, p in scores.items()))
    llr = sum(weights[m] * _logit(p) for m, p in scores.items())
    if rule is FusionRule.LOGISTIC:
        llr += bias
    # Sigmoid, written to avoid overflow for large |llr|.
    if llr >= 0:
        return 1.0 / (1.0 + math.exp(-llr))
    e = math.exp(llr)
    return e / (1.0 + e)


def fuse(scores: Mapping[str, float | None], config: FusionConfig | None = None) -> FusedScore:
    """Fuse calibrated scores keyed by modality (``None`` = missing or unusable sample).

    Every modality named in ``config.weights`` is expected; one absent from ``scores`` counts
    as missing. A modality not in the weights is an error (a config mismatch, not a sample
    problem).
    """
    config = config or FusionConfig()
    unknown = sorted(set(scores) - set(config.weights))
    if unknown:
        raise ValueError(f"no fusion weight for modality {', '.join(unknown)}")
    present: dict[str, float] = {}
    for modality in config.weights:
        value = scores.get(modality)
        if value is None:
            continue
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{modality} score {value} is not a calibrated score in [0, 1]")
        present[modality] = value
    missing = tuple(m for m in config.weights if m not in present)
    used = tuple(present)
    if missing and (config.missing is MissingPolicy.REJECT or not present):
        return FusedScore(
            score=None,
            rule=config.rule,
            used=used,
            missing=missing,
            reason=f"missing modality: {', '.join(missing)}",
        )
    return FusedScore(
        score=_combine(config.rule, present, config.weights, config.bias),
        rule=config.rule,
        used=used,
        missing=missing,
    )


def fit_logistic_fusion(
    genuine: npt.NDArray[np.float64],
    impostor: npt.NDArray[np.float64],
    modalities: Sequence[str],
    *,
    missing: MissingPolicy = MissingPolicy.REJECT,
) -> FusionConfig:
    """Logistic-regression fusion of per-modality LLRs: rows are attempts, columns modalities.

    Each class carries half the weight (a posterior at equal priors, whatever the trial mix),
    the weights are kept positive (more evidence from a factor never lowers the fused score),
    and LLRs are clipped like :func:`fuse` clips them.
    """
    gen = np.clip(np.asarray(genuine, dtype=np.float64), -_MAX_LLR, _MAX_LLR)
    imp = np.clip(np.asarray(impostor, dtype=np.float64), -_MAX_LLR, _MAX_LLR)
    width = len(modalities)
    if gen.ndim != 2 or imp.ndim != 2 or gen.shape[1] != width or imp.shape[1] != width:
        raise ValueError("genuine and impostor must be (attempts, modalities) arrays")
    if gen.shape[0] == 0 or imp.shape[0] == 0:
        raise ValueError("logistic fusion needs genuine and impostor attempts")
    x = np.vstack([gen, imp])
    target = np.concatenate([np.ones(gen.shape[0]), np.zeros(imp.shape[0])])
    sample_weight = np.concatenate(
        [np.full(gen.shape[0], 0.5 / gen.shape[0]), np.full(imp.shape[0], 0.5 / imp.shape[0])]
    )

    def loss_and_grad(params: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        logits = x @ params[:-1] + params[-1]
        loss = -np.sum(
            sample_weight * (target * log_expit(logits) + (1 - target) * log_expit(-logits))
        )
        residual = sample_weight * (expit(logits) - target)
        return float(loss), np.append(x.T @ residual, residual.sum())

    result = minimize(
        loss_and_grad,
        x0=np.append(np.ones(len(modalities)), 0.0),
        jac=True,
        method="L-BFGS-B",
        bounds=[(1e-3, None)] * len(modalities) + [(None, None)],
    )
    *weights, bias = (float(v) for v in result.x)
    return FusionConfig(
        rule=FusionRule.LOGISTIC,
        weights=dict(zip(modalities, weights, strict=True)),
        missing=missing,
        bias=bias,
    )
