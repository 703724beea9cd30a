"""The DET plot of ``kibalock eval``: error trade-off curves on normal-deviate axes, as a PNG."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm

from core.biometrics.thresholds import DetCurve

# DET axes span these rates; a rate of 0 (no probit) is drawn on its own "0" line below them.
_DET_LOW, _DET_HIGH, _DET_ZERO = 5e-4, 0.6, 2e-4


def plot_det(curves: Mapping[str, DetCurve], path: Path) -> None:
    """DET curves on normal-deviate axes (the usual DET scale), as a PNG."""
    ticks = [_DET_ZERO, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    labels = ["0"] + [f"{100 * t:g}" for t in ticks[1:]]
    # The object API renders with Agg and leaves pyplot's global state (and backend) alone.
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    for i, (label, curve) in enumerate(curves.items()):
        fmr = np.clip(np.asarray(curve.fmr), _DET_ZERO, _DET_HIGH)
        fnmr = np.clip(np.asarray(curve.fnmr), _DET_ZERO, _DET_HIGH)
        fmr[np.asarray(curve.fmr) < _DET_LOW / 2] = _DET_ZERO
        fnmr[np.asarray(curve.fnmr) < _DET_LOW / 2] = _DET_ZERO
        # Later curves drawn thinner, so curves that coincide (all perfect) stay visible.
        width = 2.5 - 0.5 * i
        ax.plot(norm.ppf(fmr), norm.ppf(fnmr), label=label, linewidth=width)
    diagonal = norm.ppf([_DET_LOW, _DET_HIGH])
    ax.plot(diagonal, diagonal, "k:", linewidth=0.8, label="FMR = FNMR")
    positions = norm.ppf(ticks)
    ax.set_xticks(positions, labels)
    ax.set_yticks(positions, labels)
    limits = (norm.ppf(_DET_ZERO) - 0.15, norm.ppf(_DET_HIGH))
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)
    ax.set_xlabel("false match rate (%)")
    ax.set_ylabel("false non-match rate (%)")
    ax.set_title("KibaLock DET")
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
