"""Windows closed by the event-time watermark, without Kafka."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from core.settings import ProcessorsSection
from schemas import FeedbackLabel, Outcome, WindowKind
from stream_processors.aggregation import Aggregator, Applied, ClockState
from stream_processors.idleness import IdleTracker
from stream_processors.observations import AttemptLabelled, DecisionObserved, SourceIdle
from stream_processors.tables import ModelTable, WriteBack
from stream_processors.windows import PaneAccumulator

# A minute boundary, so window arithmetic reads easily.
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WALL = 1_000_000.0  # wall clock of the tests (independent of event time)
CFG = ProcessorsSection(allowed_lateness_s=5)


class DictPanes:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> PaneAccumulator | None:
        raw = self.data.get(key)
        return None if raw is None else PaneAccumulator.model_validate_json(raw)

    def put(self, key: str, acc: PaneAccumulator) -> None:
        self.data[key] = acc.model_dump_json()

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def keys(self) -> Iterable[str]:
        return list(self.data)


def decided(at_s: float, offset: int, *, source: str = "auth.decisions:0") -> DecisionObserved:
    return DecisionObserved(
        source=source,
        offset=offset,
        event_time=T0 + timedelta(seconds=at_s),
        record_time=T0 + timedelta(seconds=at_s),
        terminal_id="term-1",
        model_versions={"face-embedder": "1.2.0"},
        outcome=Outcome.ACCEPT,
        latency_ms=120.0,
    )


def labelled(at_s: float, offset: int, correct: bool) -> AttemptLabelled:
    return AttemptLabelled(
        source="auth.feedback:0",
        offset=offset,
        event_time=T0 + timedelta(seconds=at_s),
        record_time=T0 + timedelta(seconds=at_s),
        terminal_id="term-1",
        model_versions={"face-embedder": "1.2.0"},
        outcome=Outcome.ACCEPT if correct else Outcome.REJECT,
        label=FeedbackLabel.GENUINE,
    )


def engine(cfg: ProcessorsSection = CFG) -> tuple[Aggregator, DictPanes]:
    panes = DictPanes()
    return Aggregator(cfg, panes, ClockState()), panes


def test_windows_close_when_the_watermark_passes_their_end() -> None:
    agg, panes = engine()
    for i, at in enumerate([1, 30, 59, 61]):
        assert agg.apply(decided(at, i)) is Applied.APPLIED
    # High mark 61 s, lateness 5 s: the watermark is at 56 s, nothing has ended yet.
    assert agg.due(WALL) is None
    agg.apply(decided(66, 4))
    batch = agg.due(WALL)
    assert batch is not None
    tumbling = [w for w in batch.windows if w.kind is WindowKind.TUMBLING]
    assert {w.series for w in tumbling} == {
        "global",
        "terminal:term-1",
        "model_version:face-embedder@1.2.0",
    }
    assert all(w.acc.attempts == 3 and w.end - w.size_s == T0.timestamp() for w in tumbling)
    # The first hopping window holding minute 0 ends at 12:01 too (it covers 11:56-12:01).
    hopping = [w for w in batch.windows if w.kind is WindowKind.HOPPING]
    assert {w.end for w in hopping} == {T0.timestamp() + 60}
    assert batch.drop == [], "minute 0 is still in four open hopping windows"
    clock = agg.commit(batch)
    assert clock.emitted_until[WindowKind.TUMBLING] == T0.timestamp() + 60
    assert agg.due(WALL) is None, "a window is emitted once"
    assert len(panes.data) == 6  # 3 series x minutes 0 and 1


def test_hopping_windows_sum_their_panes_and_panes_go_when_no_window_needs_them() -> None:
    agg, panes = engine()
    offset = 0
    for minute in range(6):
        for _ in range(minute + 1):  # 1, 2, ... 6 decisions in minutes 0..5
            agg.apply(decided(minute * 60 + 10, offset))
            offset += 1
    agg.apply(decided(6 * 60 + 10, offset))  # watermark to 12:06:05
    batch = agg.due(WALL)
    assert batch is not None
    hop = {
        w.end: w.acc.attempts
        for w in batch.windows
        if w.kind is WindowKind.HOPPING and w.series == "global"
    }
    start = int(T0.timestamp())
    # Windows [end-300, end): ending 12:01 .. 12:06.
    assert hop == {
        start + 60: 1,
        start + 120: 3,
        start + 180: 6,
        start + 240: 10,
        start + 300: 15,
        start + 360: 20,  # minutes 1..5
    }
    # Minutes 0 and 1 are in no open window any more (their last hopping windows end at
    # 12:05 and 12:06); minute 2 still is (12:07).
    assert sorted({key.split("|")[0] for key in batch.drop}) == [str(start), str(start + 60)]
    agg.commit(batch)
    assert sorted({key.split("|")[0] for key in panes.data})[0] == str(start + 120)


def test_a_partition_ahead_of_the_others_does_not_close_their_windows() -> None:
    agg, _ = engine()
    agg.apply(decided(10, 0, source="auth.decisions:0"))
    agg.apply(decided(200, 0, source="auth.decisions:1"))
    # Partition 0 is still at 10 s: the watermark stays at 5 s, however long it is silent.
    assert agg.due(WALL + 3600) is None
    assert agg.apply(decided(20, 1, source="auth.decisions:0")) is Applied.APPLIED
    # Once stage 1 declares partition 0 read out and quiet, it stops holding back.
    agg.idle(SourceIdle(source="auth.decisions:0", high=T0 + timedelta(seconds=20)))
    batch = agg.due(WALL)
    assert batch is not None
    assert agg.watermark == T0.timestamp() + 200 - CFG.allowed_lateness_s
    assert {w.acc.attempts for w in batch.windows if w.kind is WindowKind.TUMBLING} == {2}
    # New records make it live again.
    agg.apply(decided(300, 2, source="auth.decisions:0"))
    agg.apply(decided(400, 1, source="auth.decisions:1"))
    agg.due(WALL)
    assert agg.watermark == T0.timestamp() + 300 - CFG.allowed_lateness_s


def test_when_every_source_is_idle_event_time_follows_the_wall_clock() -> None:
    agg, _ = engine()
    agg.apply(decided(10, 0))
    assert agg.due(T0.timestamp() + 3600) is None, "silence alone proves nothing"
    agg.idle(SourceIdle(source="auth.decisions:0", high=T0 + timedelta(seconds=10)))
    later = T0.timestamp() + 3600
    batch = agg.due(later)
    assert batch is not None and batch.windows
    assert agg.watermark == later - CFG.allowed_lateness_s


def test_late_records_are_dropped_and_replays_ignored() -> None:
    agg, _ = engine()
    agg.apply(decided(10, 0))
    agg.apply(decided(70, 1))
    batch = agg.due(WALL)
    assert batch is not None
    agg.commit(batch)
    assert agg.apply(decided(30, 2)) is Applied.LATE, "behind the watermark (65 s)"
    assert agg.apply(decided(70, 1)) is Applied.DUPLICATE, "a replay"
    assert agg.apply(labelled(70, 0, correct=True)) is Applied.APPLIED, "other kind"


def test_a_restart_resumes_from_the_saved_clock() -> None:
    agg, panes = engine()
    agg.apply(decided(10, 0))
    agg.apply(decided(70, 1))
    agg.apply(decided(75, 2))
    batch = agg.due(WALL)
    assert batch is not None
    saved = agg.commit(batch)
    assert saved.sources == {"auth.decisions:0": T0.timestamp() + 75}

    restarted = Aggregator(CFG, panes, ClockState.model_validate_json(saved.model_dump_json()))
    assert restarted.watermark == saved.watermark
    assert restarted.apply(decided(30, 3)) is Applied.LATE, "closed before the restart"
    assert restarted.apply(decided(75, 2)) is Applied.DUPLICATE, "replayed after it"
    restarted.apply(decided(80, 4))
    restarted.apply(decided(130, 5))
    batch = restarted.due(5.0)
    assert batch is not None
    minute1 = [w for w in batch.windows if w.kind is WindowKind.TUMBLING and w.series == "global"]
    assert [w.acc.attempts for w in minute1] == [3], "70, 75 before the restart, 80 after"


def test_an_expected_source_not_heard_yet_holds_the_watermark_until_it_is_idle() -> None:
    panes = DictPanes()
    agg = Aggregator(
        CFG, panes, ClockState(), expected_sources=["auth.decisions:0", "auth.quality:0"]
    )
    agg.apply(decided(10, 0))
    agg.apply(decided(500, 1))
    assert agg.due(WALL) is None, "auth.quality:0 may still bring minute 0"
    agg.idle(SourceIdle(source="auth.quality:0", high=None))  # an empty partition
    batch = agg.due(WALL)
    assert batch is not None
    assert agg.watermark == T0.timestamp() + 500 - CFG.allowed_lateness_s


class FakeTable:
    """The slice of a faust table that ModelTable uses."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.writes = 0

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def __setitem__(self, key: str, value: bytes) -> None:
        self.writes += 1
        self.data[key] = value

    def pop(self, key: str, default: object = None) -> object:
        self.writes += 1
        return self.data.pop(key, default)

    def keys(self) -> Iterable[str]:
        return self.data.keys()

    def items(self) -> Iterable[tuple[str, bytes]]:
        return self.data.items()


def test_a_batch_writes_each_pane_once() -> None:
    table = FakeTable()
    cache = WriteBack(ModelTable(table, PaneAccumulator))
    agg = Aggregator(CFG, cache, ClockState())
    for offset in range(100):
        agg.apply(decided(10, offset))
    assert table.writes == 0, "nothing reaches the changelog before the flush"
    cache.flush()
    assert table.writes == 3  # one per series
    agg.apply(decided(70, 100))
    batch = agg.due(WALL)
    assert batch is not None
    agg.commit(batch)
    cache.flush()
    again = ModelTable(table, PaneAccumulator)
    assert sorted(again.keys()) == sorted(cache.keys())
    restored = again.get(f"{int(T0.timestamp())}|global")
    assert restored is not None and restored.attempts == 100


def test_stage_1_declares_a_partition_idle_only_when_read_out_and_quiet() -> None:
    tracker = IdleTracker(idle_s=30, started_wall=0.0)
    tracker.record("auth.decisions:0", 41, T0.timestamp() + 7, wall=100.0)
    ends = {"auth.decisions:0": 42, "auth.decisions:1": 10, "auth.quality:0": 0}
    committed: dict[str, int | None] = {"auth.decisions:1": 10}
    assert tracker.idle({"auth.decisions:0": 50}, committed, wall=500.0) == [], "a backlog"
    assert tracker.idle(ends, committed, wall=120.0) == [
        # never read by this worker, but committed to the end; empty
        SourceIdle(source="auth.decisions:1", high=None),
        SourceIdle(source="auth.quality:0", high=None),
    ]
    (marker,) = tracker.idle(ends, committed, wall=131.0)
    assert marker == SourceIdle(source="auth.decisions:0", high=T0 + timedelta(seconds=7))
    assert tracker.idle(ends, committed, wall=140.0) == [], "declared once per quiet period"
    assert len(tracker.idle(ends, committed, wall=161.0)) == 3, "then again, for late joiners"
    tracker.record("auth.decisions:0", 42, None, wall=170.0)
    assert "auth.decisions:0" not in {
        m.source for m in tracker.idle({"auth.decisions:0": 43}, committed, wall=190.0)
    }
    assert tracker.idle({"auth.decisions:2": 5}, {"auth.decisions:2": None}, wall=999.0) == []
