"""An on-disk cache of engine outputs, so ``kibalock eval`` analyses each sample once.

An entry is keyed by what was analysed (the sample's bytes, and the expected digits for a
challenge check) and by a fingerprint of the engines' source: editing a face, voice or
challenge module invalidates every entry, so a cache never serves an older engine's output.
Model weights are not hashed: pass another ``--cache`` folder after fetching other weights.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_BIOMETRICS = Path(__file__).resolve().parents[1] / "core" / "biometrics"
# Modules that only score, fuse, sample or report: changing them does not change an analysis.
_NOT_ENGINE = {
    "__init__.py",
    "dataset.py",
    "degrade.py",
    "fusion.py",
    "thresholds.py",
    "scoring.py",
}


def engine_fingerprint(folder: Path = _BIOMETRICS) -> str:
    """A hash of the engine modules' source (every ``core/biometrics/*.py`` that analyses)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        if path.name not in _NOT_ENGINE:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class AnalysisCache:
    """Pickled engine outputs under ``folder/<fingerprint>/<kind>/``; trusted local files only."""

    def __init__(self, folder: Path, fingerprint: str | None = None) -> None:
        self.folder = folder / (fingerprint or engine_fingerprint())
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, kind: str, key: bytes, compute: Callable[[], T]) -> T:
        path = self.folder / kind / f"{hashlib.sha256(key).hexdigest()}.pkl"
        if path.is_file():
            self.hits += 1
            value: T = pickle.loads(path.read_bytes())
            return value
        self.misses += 1
        value = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_bytes(pickle.dumps(value))
        partial.replace(path)
        return value
