"""The watch after a swap: does the new version behave in production as its canary promised?

For ``watch_window_s`` after a swap, every decision made with the new version is observed: did
it fail (an error while verifying), and what score did the swapped modality give a claim that
looks genuine? Leaving the bounds rolls back: an error rate above ``max_error_rate``
(``error_rate``), or a median genuine score more than ``max_genuine_drop`` below the previous
version's median, or below ``genuine_floor`` when there is no baseline (``score_drift``).
Nothing is judged before ``watch_min_decisions`` observations, and the scores before
``watch_min_users`` distinct users gave some: the median is taken over each user's own median,
so a few hostile attempts of one person (their face with someone else's voice) cannot roll a
good model back.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from core.settings import ModelsSection

BASELINE_SIZE = 200


@dataclass
class ScoreHistory:
    """The recent genuine scores of one version: the baseline its successor is compared with."""

    scores: deque[float] = field(default_factory=lambda: deque(maxlen=BASELINE_SIZE))

    def add(self, score: float) -> None:
        self.scores.append(score)

    def median(self, minimum: int) -> float | None:
        return statistics.median(self.scores) if len(self.scores) >= minimum else None


@dataclass(frozen=True)
class Breach:
    reason: str
    detail: str


@dataclass
class SwapWatch:
    model: str
    version: str
    previous: str
    baseline: float | None
    started_at: float
    settings: ModelsSection
    decisions: int = 0
    errors: int = 0
    genuine: dict[str, list[float]] = field(default_factory=dict)  # user -> their scores

    def expired(self, now: float) -> bool:
        return now - self.started_at > self.settings.watch_window_s

    def observe(
        self, *, error: bool, genuine: float | None, user: str | None = None
    ) -> Breach | None:
        self.decisions += 1
        self.errors += int(error)
        if genuine is not None and user is not None:
            self.genuine.setdefault(user, []).append(genuine)
        return self.breach()

    def breach(self) -> Breach | None:
        s = self.settings
        if self.decisions < s.watch_min_decisions:
            return None
        rate = self.errors / self.decisions
        if rate > s.max_error_rate:
            return Breach(
                "error_rate",
                f"{self.errors}/{self.decisions} decisions failed with {self.model} "
                f"{self.version} (bound {s.max_error_rate:.0%})",
            )
        claims = sum(len(scores) for scores in self.genuine.values())
        if claims < s.watch_min_decisions or len(self.genuine) < s.watch_min_users:
            return None
        median = statistics.median(statistics.median(v) for v in self.genuine.values())
        if self.baseline is not None:
            bound, against = (
                self.baseline - s.max_genuine_drop,
                f"{self.previous}'s {self.baseline:.2f}",
            )
        else:
            bound, against = s.genuine_floor, "the floor"
        if median < bound:
            return Breach(
                "score_drift",
                f"median genuine score {median:.2f} over {claims} claims of "
                f"{len(self.genuine)} users with "
                f"{self.version}, bound {bound:.2f} from {against}",
            )
        return None
