"""Stage timings of one analysis, in milliseconds, as the engines report them in ``timing_ms``."""

from __future__ import annotations

import time


class Stopwatch:
    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._ms: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        """The time since the previous lap (or the start) was spent in ``stage``."""
        now = time.perf_counter()
        self._ms[stage] = _ms(now - self._last)
        self._last = now

    def timings(self) -> dict[str, float]:
        """The stages timed so far, and ``total``: the time since the start."""
        return {**self._ms, "total": _ms(time.perf_counter() - self._start)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)
