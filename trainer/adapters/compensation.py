"""The closed-form first stage of an embedder adapter: centering, then a nuisance projection.

Fitted in milliseconds on the enrolled population's rows (enrolment + curated samples), it gave
the largest gain of every method tried on degraded voices (trainer-research §3): the in-domain
mean is removed, then either

- **NAP** (nuisance attribute projection): the top ``k`` eigenvectors of a *nuisance* scatter
  are projected out, ``x - V Vᵀ x``. The nuisance is what varies within one user: every row
  minus its user's mean (``within``), or only what separates one user's conditions (``condition``:
  each user's per-condition means minus that user's mean — the directions a degraded terminal
  moves a person in, the "paired" degraded−clean directions without needing pairs of the same
  utterance);
- **WCCN** (within-class covariance normalisation): the within-user covariance, shrunk towards
  the identity, is whitened away, ``Bᵀ x`` with ``B Bᵀ = W⁻¹``.

Either way the stage is ``y = (x - mean) @ matrix``, then L2-normalised: a Sub and a MatMul in
ONNX. The output has the input's width.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from trainer.features import FeatureSet


class Method(StrEnum):
    NONE = "none"  # centering only (or nothing: the identity)
    NAP = "nap"
    NAP_CONDITION = "nap-condition"  # NAP on the per-user condition shifts ("paired")
    WCCN = "wccn"


@dataclass(frozen=True)
class Compensation:
    """``y = l2((x - mean) @ matrix)``; ``matrix`` is ``[width, width]``."""

    mean: NDArray[np.float32]
    matrix: NDArray[np.float32]
    method: Method
    k: int  # nuisance directions removed (NAP), 0 otherwise
    centred: bool

    def apply(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        out = (np.asarray(vectors, np.float64) - self.mean) @ self.matrix
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def _user_index(features: FeatureSet) -> NDArray[np.intp]:
    _, index = np.unique(np.asarray(features.user_ids), return_inverse=True)
    return np.asarray(index, dtype=np.intp)


def _minus_group_means(x: NDArray[np.float64], groups: NDArray[np.intp]) -> NDArray[np.float64]:
    means = np.zeros((int(groups.max()) + 1, x.shape[1]))
    np.add.at(means, groups, x)
    means /= np.bincount(groups)[:, None]
    return np.asarray(x - means[groups])


def _condition_shifts(features: FeatureSet, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per user with two conditions or more: each condition's mean minus the user's mean."""
    users = np.asarray(features.user_ids)
    conditions = np.asarray(features.conditions)
    shifts: list[NDArray[np.float64]] = []
    for user in np.unique(users):
        mine = users == user
        present = np.unique(conditions[mine])
        if present.size < 2:
            continue
        cond_means = np.stack([x[mine & (conditions == c)].mean(axis=0) for c in present])
        shifts.extend(cond_means - cond_means.mean(axis=0))
    return np.stack(shifts) if shifts else np.zeros((0, x.shape[1]))


def _top_directions(scatter_rows: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """The ``k`` leading eigenvectors of ``rowsᵀ rows`` (columns of the result)."""
    if k == 0 or scatter_rows.shape[0] == 0:
        return np.zeros((scatter_rows.shape[1], 0))
    # eigh of the width x width scatter: milliseconds, where an SVD of the rows is not.
    values, vectors = np.linalg.eigh(scatter_rows.T @ scatter_rows)
    keep = min(k, int(np.count_nonzero(values > 1e-10 * max(float(values.max()), 1e-300))))
    return np.asarray(vectors[:, ::-1][:, :keep])


def fit_compensation(
    features: FeatureSet,
    method: Method,
    *,
    k: int = 10,
    shrinkage: float = 0.1,
    centre: bool = True,
) -> Compensation:
    """Fit on ``features`` (rows of several users). ``k``: NAP directions; ``shrinkage``: the
    weight of the identity in WCCN's covariance, which keeps it invertible with few rows;
    ``centre``: subtract the in-domain mean (a base model whose cosines are already well
    spread, like dlib's face vectors, can lose by it when the mean rests on few users)."""
    if len(features.users) < 2:
        raise ValueError("compensation needs rows of two users or more")
    x = np.asarray(features.vectors, dtype=np.float64)
    mean = x.mean(axis=0) if centre else np.zeros(x.shape[1])
    centred = x - mean
    width = x.shape[1]
    if method is Method.NONE:
        matrix = np.eye(width)
        k = 0
    elif method in (Method.NAP, Method.NAP_CONDITION):
        nuisance = (
            _minus_group_means(centred, _user_index(features))
            if method is Method.NAP
            else _condition_shifts(features, centred)
        )
        directions = _top_directions(nuisance, k)
        k = directions.shape[1]
        matrix = np.eye(width) - directions @ directions.T
    else:
        within = _minus_group_means(centred, _user_index(features))
        cov = within.T @ within / max(within.shape[0] - 1, 1)
        # Scale the identity to the covariance's own size so shrinkage means the same at any width.
        scale = float(np.trace(cov)) / width or 1.0
        shrunk = (1.0 - shrinkage) * cov + shrinkage * scale * np.eye(width)
        matrix = np.linalg.cholesky(np.linalg.inv(shrunk))
        k = 0
    return Compensation(
        mean=mean.astype(np.float32),
        matrix=matrix.astype(np.float32),
        method=method,
        k=k,
        centred=centre,
    )
