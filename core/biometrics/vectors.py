"""Embedding vectors: one L2 normalisation for the engines, the registry's adapters and scoring."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

F = TypeVar("F", bound=np.floating[Any])


def l2_normalise(vectors: NDArray[np.floating[Any]], dtype: type[F]) -> NDArray[F]:
    """``vectors`` scaled to unit length along the last axis, as ``dtype``.

    A zero vector has no direction and stays zero; callers that cannot use one check for it.
    """
    values = np.asarray(vectors, dtype=dtype)
    norms = np.linalg.norm(values, axis=-1, keepdims=True)
    unit: NDArray[F] = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)
    return unit
