"""Comparison scores against a user's templates, and their calibration to [0, 1].

A user's template is a *set* of enrolment embeddings (several photos, several utterances). A
probe is compared with every one of them by cosine similarity and the set of similarities is
reduced to one raw score by a configurable rule (:class:`TemplateRule`).

Raw cosines are not comparable across modalities or model versions, so each (modality, model
version) gets a :class:`Calibration`: a monotone logistic map fitted on genuine and impostor
scores. Its output is the posterior probability of "genuine" at **equal priors**, so its
log-odds (:meth:`Calibration.llr`) is a log-likelihood ratio — what the fusion rules combine.
The calibration is a small pydantic model the gateway stores next to the model version.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from core.biometrics.thresholds import FloatArray, Scores
from core.biometrics.vectors import l2_normalise

# Embeddings arrive as float32 from the engines and float64 from storage.
Vector = npt.NDArray[np.floating[Any]]


class TemplateRule(StrEnum):
    MAX = "max"  # best single enrolment sample: tolerant of one odd enrolment sample
    MEAN_TOP_K = "mean_top_k"  # mean of the k best: smooths a lucky single match
    CENTROID = "centroid"  # cosine to the re-normalised mean embedding: one vector per user


class ScoringConfig(BaseModel):
    """How a probe is compared with a template set (``kibalock eval`` reports all three rules).

    ``centroid`` is the default: on the small data set all three rules give EER 0 for face and
    voice, and centroid and top-2 separate best (d' 5.55 / 5.57 face, 5.57 / 5.58 voice, against
    5.45 / 5.36 for max); centroid had the widest gap between the lowest genuine and the highest
    impostor face score, and stores one vector per user.
    """

    model_config = ConfigDict(frozen=True)

    rule: TemplateRule = TemplateRule.CENTROID
    top_k: int = Field(default=2, ge=1)


def _unit(vectors: Vector) -> FloatArray:
    unit = l2_normalise(vectors, np.float64)
    if not np.all(np.any(unit, axis=-1)):  # a zero vector stays zero: it has no direction
        raise ValueError("cannot score a zero vector")
    return unit


def cosine_similarities(probe: Vector, templates: Vector) -> FloatArray:
    """Cosine of ``probe`` (d,) with each row of ``templates`` (n, d).

    Vectors are re-normalised here rather than trusted to be unit length: a stored float32
    template loses a little precision, and an adapter output may not be normalised.
    """
    probe_2d = np.atleast_2d(probe)
    templates_2d = np.atleast_2d(templates)
    if probe_2d.shape[0] != 1 or probe_2d.shape[1] != templates_2d.shape[1]:
        raise ValueError(
            f"probe shape {np.shape(probe)} does not match templates shape {templates_2d.shape}"
        )
    return np.asarray(_unit(templates_2d) @ _unit(probe_2d)[0])


def template_score(probe: Vector, templates: Vector, config: ScoringConfig | None = None) -> float:
    """The raw score of ``probe`` against one user's template set (a cosine, in [-1, 1])."""
    config = config or ScoringConfig()
    templates_2d = np.atleast_2d(templates)
    if templates_2d.shape[0] == 0:
        raise ValueError("empty template set")
    if config.rule is TemplateRule.CENTROID:
        centroid = _unit(templates_2d).mean(axis=0)
        return float(cosine_similarities(probe, centroid[np.newaxis, :])[0])
    sims = cosine_similarities(probe, templates_2d)
    if config.rule is TemplateRule.MAX:
        return float(sims.max())
    k = min(config.top_k, sims.size)
    return float(np.sort(sims)[-k:].mean())


class Calibration(BaseModel):
    """A fitted monotone map from a raw score to P(genuine) at equal priors.

    ``llr(x) = slope * x + intercept`` (natural log-likelihood ratio); ``score(x) = sigmoid(llr)``.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["logistic"] = "logistic"
    slope: float = Field(gt=0.0)
    intercept: float
    modality: str | None = None
    model: str | None = None
    version: str | None = None
    genuine_trials: int = Field(ge=1)
    impostor_trials: int = Field(ge=1)

    def llr(self, raw: float) -> float:
        return self.slope * raw + self.intercept

    def score(self, raw: float) -> float:
        return float(expit(self.llr(raw)))

    def llrs(self, raw: Scores) -> FloatArray:
        return self.slope * np.asarray(raw, dtype=np.float64) + self.intercept

    def scores(self, raw: Scores) -> FloatArray:
        return np.asarray(expit(self.llrs(raw)))

    def raw_for_score(self, calibrated: float) -> float:
        """The raw score that maps to ``calibrated`` (to express a threshold in raw units)."""
        if not 0.0 < calibrated < 1.0:
            raise ValueError("calibrated score must be in (0, 1)")
        return (float(np.log(calibrated / (1.0 - calibrated))) - self.intercept) / self.slope


def fit_calibration(
    genuine: Scores,
    impostor: Scores,
    *,
    modality: str | None = None,
    model: str | None = None,
    version: str | None = None,
) -> Calibration:
    """Logistic calibration (Platt scaling) of raw scores, fitted with scipy.

    Two choices make it well behaved on small, often perfectly separable, biometric sets:

    - each class carries half the total weight, so the output is a posterior at equal priors
      whatever the genuine/impostor ratio of the fitting set (and its log-odds is an LLR);
    - Platt's smoothed targets ``(N+ + 1) / (N+ + 2)`` and ``1 / (N- + 2)`` instead of 1 and 0,
      so separable data gives a finite slope instead of a step function.

    The slope is constrained positive so the map is monotone increasing.
    """
    gen = np.asarray(genuine, dtype=np.float64).ravel()
    imp = np.asarray(impostor, dtype=np.float64).ravel()
    if gen.size == 0 or imp.size == 0:
        raise ValueError("calibration needs at least one genuine and one impostor score")
    x = np.concatenate([gen, imp])
    targets = np.concatenate(
        [np.full(gen.size, (gen.size + 1) / (gen.size + 2)), np.full(imp.size, 1 / (imp.size + 2))]
    )
    weights = np.concatenate([np.full(gen.size, 0.5 / gen.size), np.full(imp.size, 0.5 / imp.size)])
    # Fit on standardised scores for a well-conditioned problem, then map the parameters back.
    centre = float(x.mean())
    spread = float(x.std()) or 1.0
    z = (x - centre) / spread

    def loss_and_grad(params: FloatArray) -> tuple[float, FloatArray]:
        a, b = params
        logits = a * z + b
        loss = -np.sum(weights * (targets * log_expit(logits) + (1 - targets) * log_expit(-logits)))
        residual = weights * (expit(logits) - targets)
        return float(loss), np.array([np.sum(residual * z), np.sum(residual)])

    result = minimize(
        loss_and_grad,
        x0=np.array([1.0, 0.0]),
        jac=True,
        method="L-BFGS-B",
        bounds=[(1e-6, None), (None, None)],
    )
    a, b = (float(v) for v in result.x)
    return Calibration(
        slope=a / spread,
        intercept=b - a * centre / spread,
        modality=modality,
        model=model,
        version=version,
        genuine_trials=gen.size,
        impostor_trials=imp.size,
    )


def cllr(genuine_llr: Scores, impostor_llr: Scores) -> float:
    """Log-likelihood-ratio cost (Brümmer), in bits: 0 is perfect, 1 is an uninformative system.

    It measures discrimination *and* calibration of the LLRs together, so it is the figure to
    check a held-out calibration with.
    """
    gen = np.asarray(genuine_llr, dtype=np.float64)
    imp = np.asarray(impostor_llr, dtype=np.float64)
    if gen.size == 0 or imp.size == 0:
        raise ValueError("cllr needs genuine and impostor LLRs")
    # log2(1 + e^-llr) = -log_expit(llr) / ln 2, computed without overflow.
    cost_gen = float(np.mean(-log_expit(gen))) / np.log(2)
    cost_imp = float(np.mean(-log_expit(-imp))) / np.log(2)
    return float(0.5 * (cost_gen + cost_imp))
