"""Stage 1's side of the watermark: which of its input partitions it may declare idle.

A partition is idle when everything in it has been read (its next offset to handle is its end
offset, from the broker) and no record came for ``source_idle_wall_s``. Only stage 1 can know
the first part; stage 2, which owns the watermark, only sees what stage 1 sends it, so the
declaration travels as a ``SourceIdle`` observation, behind that partition's last facts. It is
repeated every ``source_idle_wall_s`` while the partition stays quiet, so a metrics stage that
restarts or moves to another worker hears it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stream_processors.observations import SourceIdle
from stream_processors.windows import utc


@dataclass(slots=True)
class _Progress:
    next_offset: int
    last_wall: float
    high: float | None = None
    declared_wall: float | None = None


class IdleTracker:
    def __init__(self, idle_s: float, started_wall: float) -> None:
        self.idle_s = idle_s
        self.started_wall = started_wall
        self._progress: dict[str, _Progress] = {}

    def record(self, source: str, offset: int, record_time: float | None, wall: float) -> None:
        """A record of ``source`` was handled (decoded or not)."""
        state = self._progress.get(source)
        if state is None:
            state = self._progress[source] = _Progress(offset + 1, wall)
        state.next_offset = max(state.next_offset, offset + 1)
        state.last_wall = wall
        state.declared_wall = None
        if record_time is not None:
            state.high = record_time if state.high is None else max(state.high, record_time)

    def forget(self, sources: Iterable[str]) -> None:
        """Partitions revoked: whoever gets them next declares them."""
        for source in sources:
            self._progress.pop(source, None)

    def idle(
        self, ends: Mapping[str, int], committed: Mapping[str, int | None], wall: float
    ) -> list[SourceIdle]:
        """The declarations due now, for the assigned partitions with these end offsets.

        ``committed`` is where the group's committed offsets stand: before this worker has
        handled anything from a partition, that is how far it has been read.
        """
        markers = []
        for source, end in ends.items():
            state = self._progress.get(source)
            position = state.next_offset if state is not None else committed.get(source)
            caught_up = end == 0 or (position is not None and position >= end)
            quiet_since = state.last_wall if state is not None else self.started_wall
            if not caught_up or wall - quiet_since < self.idle_s:
                continue
            if state is None:
                state = self._progress[source] = _Progress(position or 0, quiet_since)
            if state.declared_wall is not None and wall - state.declared_wall < self.idle_s:
                continue
            state.declared_wall = wall
            markers.append(
                SourceIdle(source=source, high=None if state.high is None else utc(state.high))
            )
        return markers
