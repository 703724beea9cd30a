"""Automatic rollback: watches the decisions made after a swap and undoes a bad one.

Each gateway instance watches its own decisions (:mod:`auth_gateway.swap_watch` holds the bounds).
The genuine-score distribution of a modality is read from claims that the *other* modality
vouches for (its calibrated score at least 0.5): the swapped model cannot vouch for itself.
A claim with one modality only counts as it is. The baseline is the same distribution under
the previous version, kept from the decisions it made before the swap.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from auth_gateway.swap_watch import ScoreHistory, SwapWatch
from core.logging import get_logger
from core.registry import SLOTS
from core.settings import ModelsSection
from schemas import AuthDecision

log = get_logger(__name__)

Rollback = Callable[[str, str, str, str], Coroutine[Any, Any, None]]
"""(model, version to roll back, reason, detail)."""

VOUCHES = 0.5


def genuine_score(decision: AuthDecision, modality: str) -> float | None:
    scores = {"face": decision.face_score, "voice": decision.voice_score}
    own = scores.pop(modality)
    if own is None or own.calibrated is None:
        return None
    (other,) = scores.values()
    if other is not None and other.calibrated is not None and other.calibrated < VOUCHES:
        return None
    return own.calibrated


class RollbackWatch:
    def __init__(self, settings: ModelsSection, rollback: Rollback) -> None:
        self._settings = settings
        self._rollback = rollback
        self._watches: dict[str, SwapWatch] = {}
        self._history: defaultdict[tuple[str, str], ScoreHistory] = defaultdict(ScoreHistory)
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, model: str, version: str, previous: str) -> None:
        baseline = self._history[(model, previous)].median(self._settings.watch_min_decisions)
        self._watches[model] = SwapWatch(
            model, version, previous, baseline, time.monotonic(), self._settings
        )
        log.info("watching swap", model=model, version=version, baseline=baseline)

    def stop(self, model: str) -> None:
        self._watches.pop(model, None)

    def watching(self, model: str) -> str | None:
        watch = self._watches.get(model)
        return watch.version if watch else None

    def observe(self, decision: AuthDecision) -> None:
        for model, version in decision.model_versions.items():
            slot = SLOTS.get(model)
            if slot is None:
                continue
            genuine = genuine_score(decision, slot.modality)
            if genuine is not None:
                self._history[(model, version)].add(genuine)
            watch = self._watches.get(model)
            if watch is not None and watch.version == version:
                self._check(watch, error=False, genuine=genuine, user=decision.user_id)

    def observe_error(self) -> None:
        """An attempt failed while verifying: it counts against every version being watched."""
        for watch in list(self._watches.values()):
            self._check(watch, error=True, genuine=None)

    def _check(
        self, watch: SwapWatch, *, error: bool, genuine: float | None, user: str | None = None
    ) -> None:
        if watch.expired(time.monotonic()):
            log.info("swap confirmed", model=watch.model, version=watch.version)
            self.stop(watch.model)
            return
        breach = watch.observe(error=error, genuine=genuine, user=user)
        if breach is None:
            return
        self.stop(watch.model)
        log.warning("swap breached its bounds", model=watch.model, reason=breach.reason)
        task = asyncio.create_task(
            self._rollback(watch.model, watch.version, breach.reason, breach.detail)
        )
        # Keep a reference until it is done: the loop holds tasks only weakly.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
