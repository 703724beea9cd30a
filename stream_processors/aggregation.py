"""Stage 2: observations into pane accumulators, and windows closed by an event-time watermark.

Watermark
    Each input partition (``source`` of an observation) has its own event-time high mark (of
    the input records, ``record_time``). The watermark is the lowest high mark among the live
    sources, minus ``allowed_lateness_s``: one partition consumed ahead of the others (faust
    fetches partition by partition) cannot close a window the others are still filling. Every
    partition of the observed topics is expected: one not heard from yet holds the watermark
    back. A source stops being live only when stage 1 declares it idle (``SourceIdle``: read
    to its end and quiet for ``source_idle_wall_s``), never because stage 2 has not heard from
    it for a while: a worker catching up on a backlog may starve one stage, and guessing from
    silence would then drop a flood of records as late. When every source is idle, event time
    is assumed to follow the wall clock, so a quiet night still closes its windows. The
    watermark never goes back; it is saved with the window bookkeeping whenever windows close,
    so a restarted worker neither re-opens closed windows nor counts records behind them.

Late records
    An observation older than the watermark is dropped (and counted as late by the worker):
    every window that could hold it may already be out.

Emission
    A window is emitted once, when the watermark passes its end, and only if some observation
    fell in it; there are no updates while it is open. Its event_id is derived from the series
    and the window, so a window emitted again after a crash carries the same id.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from core.settings import ProcessorsSection
from schemas import WindowKind
from stream_processors.observations import Fact, SourceIdle, series_of
from stream_processors.windows import PaneAccumulator, epoch, pane_start, window_ends

_KINDS = (WindowKind.TUMBLING, WindowKind.HOPPING)


class ClockState(BaseModel):
    """What survives a restart of the windowing clock."""

    model_config = ConfigDict(extra="forbid")

    watermark: float | None = None
    emitted_until: dict[WindowKind, int] = Field(default_factory=dict)
    sources: dict[str, float] = Field(default_factory=dict, description="event-time high marks")


class PaneStore(Protocol):
    def get(self, key: str) -> PaneAccumulator | None: ...
    def put(self, key: str, acc: PaneAccumulator) -> None: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> Iterable[str]: ...


class Applied(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # every series had applied it already (a replay)
    LATE = "late"


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    series: str
    kind: WindowKind
    end: int
    size_s: int
    acc: PaneAccumulator


@dataclass(slots=True)
class CloseBatch:
    """Windows due and the state to save once they are safely published."""

    windows: list[ClosedWindow]
    clock: ClockState
    drop: list[str] = field(default_factory=list)


def pane_key(pane: int, series: str) -> str:
    return f"{pane}|{series}"


def _split_key(key: str) -> tuple[int, str]:
    pane, _, series = key.partition("|")
    return int(pane), series


@dataclass(slots=True)
class _Source:
    high: float | None  # event time of its latest record; None before the first one
    idle: bool = False


class Aggregator:
    def __init__(
        self,
        cfg: ProcessorsSection,
        panes: PaneStore,
        clock: ClockState,
        expected_sources: Iterable[str] = (),
    ) -> None:
        self.cfg = cfg
        self.panes = panes
        self._clock = clock.model_copy(deep=True)
        # Expected and previously known sources are live until declared idle.
        self._sources = {src: _Source(None) for src in expected_sources}
        self._sources.update({src: _Source(high) for src, high in clock.sources.items()})

    @property
    def watermark(self) -> float | None:
        return self._clock.watermark

    def apply(self, obs: Fact) -> Applied:
        t = epoch(obs.event_time)
        self._heard(obs.source, epoch(obs.record_time), idle=False)
        if self._clock.watermark is not None and t < self._clock.watermark:
            return Applied.LATE
        pane = pane_start(t, self.cfg.pane_s)
        applied = False
        for series in series_of(obs):
            key = pane_key(pane, series)
            acc = self.panes.get(key) or PaneAccumulator()
            if acc.apply(obs):
                self.panes.put(key, acc)
                applied = True
        return Applied.APPLIED if applied else Applied.DUPLICATE

    def idle(self, marker: SourceIdle) -> None:
        """A source read to its end and quiet: it no longer holds the watermark back."""
        self._heard(marker.source, None if marker.high is None else epoch(marker.high), idle=True)

    def _heard(self, source: str, at: float | None, *, idle: bool) -> None:
        state = self._sources.setdefault(source, _Source(None))
        if at is not None:
            state.high = at if state.high is None else max(state.high, at)
        state.idle = idle

    def advance(self, wall_now: float) -> float | None:
        """Moves the watermark forward as far as the sources allow; returns it."""
        live = [s.high for s in self._sources.values() if not s.idle]
        highs = [s.high for s in self._sources.values() if s.high is not None]
        if live:
            if None in live:
                return self._clock.watermark  # a live source has not spoken yet
            candidate = min(h for h in live if h is not None)
        elif self._sources:
            candidate = max(wall_now, *highs)  # all idle: event time follows the wall clock
        else:
            return self._clock.watermark  # nothing known yet
        candidate -= self.cfg.allowed_lateness_s
        if self._clock.watermark is None or candidate > self._clock.watermark:
            self._clock.watermark = candidate
        return self._clock.watermark

    def due(self, wall_now: float) -> CloseBatch | None:
        """The windows the watermark has passed, not yet emitted; None if there are none.

        Nothing is removed here: call ``commit`` once the windows are published, so that a
        crash in between publishes them again rather than never.
        """
        watermark = self.advance(wall_now)
        if watermark is None:
            return None
        until: dict[WindowKind, int] = {}
        for kind in _KINDS:
            step = self.cfg.window_step(kind)
            until[kind] = math.floor(watermark / step) * step
        previous = self._clock.emitted_until
        if all(previous.get(kind) == until[kind] for kind in _KINDS):
            return None
        groups: dict[tuple[int, WindowKind, str], list[str]] = defaultdict(list)
        drop: list[str] = []
        for key in list(self.panes.keys()):
            pane, series = _split_key(key)
            done = True
            for kind in _KINDS:
                ends = window_ends(
                    pane, self.cfg.pane_s, self.cfg.window_size(kind), self.cfg.window_step(kind)
                )
                before = previous.get(kind)
                for end in ends:
                    if end <= until[kind] and (before is None or end > before):
                        groups[(end, kind, series)].append(key)
                done = done and ends[-1] <= until[kind]
            if done:
                drop.append(key)
        clock = ClockState(
            watermark=watermark,
            emitted_until=until,
            sources={src: st.high for src, st in self._sources.items() if st.high is not None},
        )
        if not groups and not drop:
            # Nothing to publish or forget: move on without a state write.
            self._clock = clock
            return None
        windows = []
        for (end, kind, series), keys in sorted(groups.items()):
            acc = PaneAccumulator()
            for key in keys:
                pane_acc = self.panes.get(key)
                if pane_acc is not None:
                    acc.merge(pane_acc)
            windows.append(ClosedWindow(series, kind, end, self.cfg.window_size(kind), acc))
        return CloseBatch(windows=windows, clock=clock, drop=drop)

    def commit(self, batch: CloseBatch) -> ClockState:
        """Forgets the panes no open window needs; returns the clock state to save."""
        for key in batch.drop:
            self.panes.delete(key)
        self._clock = batch.clock.model_copy(deep=True)
        return batch.clock
